"""Property tests: any sessions → a feed that every validator accepts and that expands back
to exactly those occurrences (recurring-ical-events and ical.js agree, via validate_feed), in
series mode and in expand mode; and the fast writer's bytes equal icalendar's."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.ical import FeedOptions, plan_feed, render_feed
from feeds.ical_events import BUSY, CANCELLED_PREFIX, UNTITLED, clean_text
from feeds.model import Scope, Session
from tests.ical_reference import render_feed_icalendar
from tests.ical_validators import Occurrence, validate_feed
from tests.strategies import feeds

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def join_url(uid: str) -> str:
    return "https://bridge.example/j/" + uid.replace("@", "%40")


def expected_summary(session: Session, scope: Scope, cancelled: bool) -> str:
    if scope is Scope.BUSY:
        title = BUSY
    else:
        title = clean_text(session.title)
        title = title if title.strip() else UNTITLED
    return CANCELLED_PREFIX + title if cancelled else title


def expected_occurrences(sessions: list[Session], options: FeedOptions) -> list[Occurrence]:
    """What expanding the feed must give, from the plan; checks the plan covers every session."""
    planned = plan_feed(sessions, options)
    shown: list[Occurrence] = []
    covered: dict[str, str] = {}
    for event in planned:
        for session in event.sessions:
            assert session.key not in covered, f"{session.key} is in two events"
            covered[session.key] = event.uid
            cancelled = session.cancelled and not event.is_series
            assert not (session.cancelled and event.is_series), "a series shows a cancellation"
            shown.append(
                Occurrence(
                    start=session.start,
                    end=session.end,
                    summary=expected_summary(session, options.scope, cancelled),
                    status="CANCELLED" if cancelled else "CONFIRMED",
                    uid=event.uid,
                )
            )
    series_groups = {
        (s.source_kind, s.series_key) for e in planned if e.is_series for s in e.sessions
    }
    for session in sessions:
        if session.key in covered:
            continue
        # Only a cancelled occurrence of a series may be missing: it vanishes (EXDATE).
        assert session.cancelled, f"{session.key} is missing from the feed"
        assert (session.source_kind, session.series_key) in series_groups, session.key
    return sorted(shown)


def check_feed(sessions: list[Session], options: FeedOptions) -> bytes:
    data = render_feed(sessions, options)
    assert data == render_feed_icalendar(sessions, options), "fast path ≠ icalendar path"
    start = min(s.start for s in sessions) - timedelta(days=1)
    end = max(s.end for s in sessions) + timedelta(days=1)
    occurrences = validate_feed(data, start=start, end=end)
    assert occurrences == expected_occurrences(sessions, options)
    return data


options_for = st.builds(
    lambda zone, scope, alarm, expand: FeedOptions(
        name="Property feed",
        timezone=zone,
        scope=scope,
        alarm_minutes=alarm,
        expand=expand,
        join_url=join_url,
    ),
    st.just("UTC"),
    st.sampled_from(Scope),
    st.none() | st.integers(0, 120),
    st.booleans(),
)


@PROPERTY_SETTINGS
@given(feed=feeds(), scope=st.sampled_from(Scope), alarm=st.none() | st.integers(0, 90))
def test_series_mode_feed_expands_to_exactly_the_sessions(
    feed: tuple[str, list[Session]], scope: Scope, alarm: int | None
) -> None:
    zone, sessions = feed
    options = FeedOptions(
        name="Series mode", timezone=zone, scope=scope, alarm_minutes=alarm, join_url=join_url
    )
    check_feed(sessions, options)


@PROPERTY_SETTINGS
@given(feed=feeds(), scope=st.sampled_from(Scope))
def test_expand_mode_feed_expands_to_exactly_the_sessions(
    feed: tuple[str, list[Session]], scope: Scope
) -> None:
    zone, sessions = feed
    options = FeedOptions(
        name="Expand mode", timezone=zone, scope=scope, expand=True, join_url=join_url
    )
    check_feed(sessions, options)
    assert not any(event.is_series for event in plan_feed(sessions, options))


@settings(max_examples=30, deadline=None)
@given(feed=feeds(), seed=st.integers(0, 2**32 - 1))
def test_input_order_does_not_change_the_bytes(feed: tuple[str, list[Session]], seed: int) -> None:
    zone, sessions = feed
    options = FeedOptions(name="Order", timezone=zone, join_url=join_url)
    shuffled = list(sessions)
    random.Random(seed).shuffle(shuffled)
    data = render_feed(sessions, options)
    assert render_feed(shuffled, options) == data
    validate_feed(
        data,
        start=min(s.start for s in sessions) - timedelta(days=1),
        end=max(s.end for s in sessions) + timedelta(days=1),
    )
