"""feeds.fitting: a feed over the size budget is trimmed (descriptions, then horizon, then
history), every step noted; a feed within it is rendered once and left alone."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import feeds.fitting
from feeds.fitting import fit_feed
from feeds.ical import FeedOptions, iter_feed, render_feed
from feeds.limits import FEED_BYTE_BUDGET, shorten
from feeds.model import Session, SourceKind
from tests.ical_validators import validate_feed

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
HISTORY, HORIZON = 30, 180


def options(**changes: object) -> FeedOptions:
    values: dict[str, object] = {
        "name": "Academy",
        "timezone": "Europe/Berlin",
        "window_start": NOW - timedelta(days=HISTORY),
        "window_end": NOW + timedelta(days=HORIZON),
    }
    values.update(changes)
    return FeedOptions(**values)  # type: ignore[arg-type]


def day_sessions(days: range, description: str = "", per_day: int = 1) -> list[Session]:
    """`per_day` one-hour sessions on each day offset in `days` (negative: in the past)."""
    return [
        Session(
            source_kind=SourceKind.TRAINERCENTRAL,
            source_name="academy",
            upstream_id=f"talk-{day}-{n}",
            title=f"Workshop {day}/{n}",
            start=NOW + timedelta(days=day, hours=n),
            end=NOW + timedelta(days=day, hours=n + 1),
            description=description,
            meeting_url=f"https://meet.example.org/{day}-{n}",
        )
        for day in days
        for n in range(per_day)
    ]


def occurrences(body: bytes) -> list[str]:
    window = (NOW - timedelta(days=HISTORY + 1), NOW + timedelta(days=HORIZON + 1))
    return sorted(o.uid for o in validate_feed(body, start=window[0], end=window[1]))


def test_a_feed_within_the_budget_is_rendered_once_and_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sessions = day_sessions(range(-3, 20), description="Bring water. " * 20)
    renders: list[int] = []

    def counting_render(*args: Any) -> bytes:
        renders.append(1)
        return render_feed(*args)

    def no_trimming(*args: object, **kwargs: object) -> object:
        raise AssertionError("a feed within the budget was rendered again")

    monkeypatch.setattr(feeds.fitting, "render_feed", no_trimming)
    monkeypatch.setattr(feeds.fitting, "iter_feed", no_trimming)
    fitted = fit_feed(sessions, options(), now=NOW, render=counting_render)
    assert fitted.body == render_feed(sessions, options())
    assert fitted.notes == ()
    assert renders == [1]
    assert len(fitted.body) < FEED_BYTE_BUDGET


def test_descriptions_are_shortened_first_and_every_session_stays() -> None:
    sessions = day_sessions(range(-5, 35), description="Long agenda item. " * 300)
    full = render_feed(sessions, options())
    budget = len(full) // 4
    fitted = fit_feed(sessions, options(), now=NOW, budget=budget)
    assert len(fitted.body) <= budget
    assert fitted.notes == (
        f"the feed came to {len(full):,} bytes, over the {budget:,} calbridge allows "
        "(Google Calendar ignores feeds near 1 MB)",
        "session descriptions were shortened to 500 characters",
    )
    assert occurrences(fitted.body) == occurrences(full)  # nothing dropped
    assert "Long agenda item." in fitted.body.decode()


def test_descriptions_no_session_has_that_long_are_not_rendered_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sessions = day_sessions(range(-5, 35), description="Short agenda. " * 20)  # 280 chars
    shortened = [dataclasses.replace(s, description=shorten(s.description, 100)) for s in sessions]
    budget = len(render_feed(shortened, options()))
    trial_renders: list[int] = []

    def counting_iter_feed(*args: Any) -> Iterator[bytes]:
        trial_renders.append(1)
        return iter_feed(*args)

    monkeypatch.setattr(feeds.fitting, "iter_feed", counting_iter_feed)
    fitted = fit_feed(sessions, options(), now=NOW, budget=budget)
    assert fitted.notes[1:] == ("session descriptions were shortened to 100 characters",)
    assert trial_renders == [1]  # the 2,000 and 500 steps changed nothing and were skipped


def test_then_the_history_is_cut_before_the_horizon() -> None:
    sessions = day_sessions(range(-HISTORY + 1, HORIZON), per_day=3)
    ten_days_back = options(window_start=NOW - timedelta(days=10))
    budget = len(render_feed(sessions, ten_days_back))
    fitted = fit_feed(sessions, options(), now=NOW, budget=budget)
    assert len(fitted.body) <= budget
    assert len(fitted.notes) == 2  # no description to shorten, so no note about them
    days = int(fitted.notes[1].split(" to ")[1].split(" day")[0])
    assert fitted.notes[1] == f"the history was cut from {HISTORY} to {days} days"
    assert 10 <= days < HISTORY
    window = (NOW - timedelta(days=HISTORY + 1), NOW + timedelta(days=HORIZON + 1))
    kept = validate_feed(fitted.body, start=window[0], end=window[1])
    coming = [s for s in sessions if s.start >= NOW]
    assert len([o for o in kept if o.start >= NOW]) == len(coming)  # every coming session stays
    assert occurrences(fitted.body) == occurrences(render_feed(sessions, _history_cut(days)))
    assert len(render_feed(sessions, _history_cut(days + 1))) > budget  # as long as it can be


def _history_cut(days: int) -> FeedOptions:
    return options(window_start=NOW - timedelta(days=days))


def test_then_the_horizon_once_the_history_is_gone() -> None:
    sessions = day_sessions(range(-HISTORY + 1, HORIZON), per_day=3)
    full = render_feed(sessions, options())
    budget = len(full) // 3
    fitted = fit_feed(sessions, options(), now=NOW, budget=budget)
    assert len(fitted.body) <= budget
    assert fitted.notes[1] == f"the history was cut from {HISTORY} to 0 days"
    days = int(fitted.notes[2].split(" to ")[1].split(" day")[0])
    cut = (NOW + timedelta(days=days)).date().isoformat()
    assert fitted.notes[2] == (
        f"the horizon was cut from {HORIZON} to {days} days: sessions after {cut} are left "
        "out until they come closer"
    )
    assert 0 < days < HORIZON
    window = options(window_start=NOW, window_end=NOW + timedelta(days=days))
    assert occurrences(fitted.body) == occurrences(render_feed(sessions, window))
    one_more_day = options(window_start=NOW, window_end=NOW + timedelta(days=days + 1))
    assert len(render_feed(sessions, one_more_day)) > budget  # the cut is as late as it can be


def test_a_feed_that_cannot_fit_is_served_whole_with_a_note_saying_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sessions = day_sessions(range(3), per_day=5)
    rendered_with: list[FeedOptions] = []

    def recording_render(sessions: Sequence[Session], options: FeedOptions) -> bytes:
        rendered_with.append(options)
        return render_feed(sessions, options)

    def not_injected(*args: object, **kwargs: object) -> object:
        raise AssertionError("fit_feed rendered without the injected render")

    monkeypatch.setattr(feeds.fitting, "render_feed", not_injected)
    fitted = fit_feed(sessions, options(), now=NOW, budget=500, render=recording_render)
    assert fitted.notes[-1].startswith("it is still ")
    assert fitted.notes[-1].endswith("bytes: Google Calendar may ignore it")
    assert fitted.notes[-3] == f"the history was cut from {HISTORY} to 0 days"
    assert fitted.notes[-2].startswith(f"the horizon was cut from {HORIZON} to 1 day:")
    smallest = options(window_start=NOW, window_end=NOW + timedelta(days=1))
    assert rendered_with == [options(), smallest]  # the first and the last render are injected
    validate_feed(fitted.body, start=NOW - timedelta(days=1), end=NOW + timedelta(days=3))


def test_trimming_is_deterministic_whatever_the_order_of_the_sessions() -> None:
    sessions = day_sessions(range(-5, 60), description="Agenda. " * 200, per_day=2)
    budget = len(render_feed(sessions, options())) // 5
    first = fit_feed(sessions, options(), now=NOW, budget=budget)
    shuffled = list(sessions)
    random.Random(7).shuffle(shuffled)
    second = fit_feed(shuffled, options(), now=NOW, budget=budget)
    assert first == second
    assert len(first.notes) >= 2
