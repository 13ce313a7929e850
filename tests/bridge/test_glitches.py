"""Upstream glitches never publish cancellations: the whole pipeline, against the simulators.

The simulators run on loopback HTTP, the real clients read them (build_client), the real
refresh jobs (run as they are queued) merge into a real SQLite archive and the renderer
renders the feeds; only the clock is injected, so a test advancing it past the cache TTL sees
a real refresh, and one that stops short sees none.
Through each glitch (a self-contradicting empty answer, one unreadable record, most sessions
vanishing at once) every feed keeps exactly its events and statuses; a real disappearance is
published once the confirming read, which the fetcher schedules CONFIRM_DELAY later, confirms
it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.crypto import CredentialBox
from bridge.feed_views import FeedView, RenderedFeed
from bridge.partitions import Partition
from bridge.rendering import FeedRenderer
from bridge.services import build_services
from bridge.settings import Settings
from bridge.simulator.combined import DEMO_PARTICIPANT, Simulators, build_simulators
from bridge.simulator.server import serving
from bridge.simulator.tagmango import Fault, SimCall
from bridge.store import MergeResult, Store
from bridge.store.archive import CONFIRM_DELAY
from bridge.upstream.zoho import forget_cached_tokens
from feeds.model import Status
from tests.ical_validators import Occurrence, validate_feed

NOW = datetime(2026, 3, 3, 9, 30, tzinfo=UTC)
CANCELLED = {"cancelled", "canceled", "deleted"}


class RecordingStore(Store):
    """A Store that keeps what each merge did, by partition, for the tests to inspect."""

    merges: dict[Partition, list[MergeResult]]

    def merge_sessions(self, partition: Any, *args: Any, **kwargs: Any) -> MergeResult:
        merged = super().merge_sessions(partition, *args, **kwargs)
        self.merges.setdefault(partition, []).append(merged)
        return merged


@dataclass
class Pipeline:
    simulators: Simulators
    store: RecordingStore
    refresher: FeedRenderer
    participant: FeedView  # TagMango, narrowed to one participant
    academy: FeedView  # TrainerCentral

    def now(self) -> datetime:
        return self.refresher.clock()

    def advance(self, delta: timedelta) -> None:
        self._clock[0] += delta
        self.simulators.trainercentral.clock.set(self._clock[0])

    def read(self, view: FeedView) -> RenderedFeed:
        """The feed as a subscriber reads it now: refreshed only when the refresher says so."""
        return self.refresher.render(view)

    def occurrences(self, view: FeedView) -> tuple[list[Occurrence], RenderedFeed]:
        rendered = self.read(view)
        now = self.now()
        occurrences = validate_feed(
            rendered.body, start=now - timedelta(days=40), end=now + timedelta(days=200)
        )
        return occurrences, rendered

    def merges(self, view: FeedView) -> list[MergeResult]:
        """What each fetch of the view's (single) partition merged, oldest first."""
        (partition,) = self.refresher.partitions(view.feed)
        return self.store.merges.get(partition, [])

    def holds(self, source: str) -> float:
        value = self.refresher.metrics.registry.get_sample_value(
            "calbridge_cancellation_holds_total", {"source": source}
        )
        return value or 0.0

    _clock: list[datetime] = field(repr=False)


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    forget_cached_tokens()
    simulators = build_simulators(NOW)
    with serving(simulators) as upstream:
        settings = Settings.for_demo(tmp_path, "https://cal.example.com")
        store = RecordingStore(settings.database_url, CredentialBox(settings.secret_key))
        store.merges = {}
        store.migrate()
        options = simulators.source_options(upstream.url)
        tm = dict(options["tagmango"])
        tagmango = store.add_source("tagmango-sim", "tagmango", tm, {"token": tm.pop("token")})
        tc = dict(options["trainercentral"])
        secrets = {key: tc.pop(key) for key in ("client_id", "client_secret", "refresh_token")}
        academy = store.add_source("trainercentral-sim", "trainercentral", tc, secrets)
        participant_feed, _ = store.create_feed(
            "Alice", [tagmango.id], "Europe/London", filters={"user": DEMO_PARTICIPANT}
        )
        academy_feed, _ = store.create_feed("Academy", [academy.id], "Asia/Kolkata")
        clock = [NOW]
        refresher = build_services(
            settings, store=store, clock=lambda: clock[0], immediate_jobs=True
        ).feeds
        yield Pipeline(
            simulators,
            store,
            refresher,
            FeedView.of_feed(participant_feed),
            FeedView.of_feed(academy_feed),
            clock,
        )
        store.close()
    forget_cached_tokens()


def upcoming_calls(pipeline: Pipeline) -> list[SimCall]:
    """The participant's upcoming, live calls inside the feed's horizon."""
    now = pipeline.now()
    return [
        call
        for call in pipeline.simulators.tagmango.calls()
        if DEMO_PARTICIPANT in call.participants
        and now < call.start < now + timedelta(days=170)
        and call.status not in CANCELLED
    ]


def upcoming_talk_ids(pipeline: Pipeline) -> list[str]:
    now = pipeline.now()
    return [
        talk.id
        for talk in pipeline.simulators.trainercentral.upcoming_talks("5")
        if now < talk.start < now + timedelta(days=170)
    ]


def statuses(occurrences: list[Occurrence]) -> dict[tuple[str, datetime], str]:
    return {(o.uid, o.start): o.status for o in occurrences}


def by_time(occurrences: list[Occurrence]) -> dict[tuple[datetime, datetime], str]:
    return {(o.start, o.end): o.status for o in occurrences}


# -- an empty answer that contradicts itself -------------------------------------------------


def test_a_self_contradicting_empty_answer_leaves_the_feeds_unchanged(pipeline: Pipeline) -> None:
    tagmango, academy = pipeline.simulators.tagmango, pipeline.simulators.trainercentral
    before = {
        view: pipeline.occurrences(view)[0] for view in (pipeline.participant, pipeline.academy)
    }
    assert all(sum(o.status == "CONFIRMED" for o in found) >= 10 for found in before.values())

    pipeline.advance(timedelta(minutes=11))
    tagmango.fail_next(Fault.contradictory_empty())
    academy.fail_next("contradictory_empty")
    for view in (pipeline.participant, pipeline.academy):
        during, rendered = pipeline.occurrences(view)
        assert during == before[view]
        # the last good data, served stale since the failed read
        assert rendered.stale_since == NOW + timedelta(minutes=11)
    state = pipeline.store.fetch_state(pipeline.refresher.partitions(pipeline.participant.feed)[0])
    assert "contradicts itself" in (state.last_error or "")

    pipeline.advance(timedelta(minutes=11))
    for view in (pipeline.participant, pipeline.academy):
        after, rendered = pipeline.occurrences(view)
        assert after == before[view] and rendered.stale_since is None


# -- one record that cannot be read ----------------------------------------------------------


def test_an_unreadable_record_keeps_its_last_good_version(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    tagmango, academy = pipeline.simulators.tagmango, pipeline.simulators.trainercentral
    before = {
        view: pipeline.occurrences(view)[0] for view in (pipeline.participant, pipeline.academy)
    }
    single = next(c for c in upcoming_calls(pipeline) if c.group_id is None)
    in_series = next(c for c in upcoming_calls(pipeline) if c.group_id is not None)
    talk_id = upcoming_talk_ids(pipeline)[2]

    pipeline.advance(timedelta(minutes=11))
    tagmango.corrupt_call(single.id)  # fromTime as a number
    tagmango.corrupt_call(in_series.id, toTime={"$date": "2026-03-10"})
    academy.corrupt_talk(talk_id)
    with caplog.at_level(logging.WARNING, logger="bridge.jobs.fetcher"):
        for view in (pipeline.participant, pipeline.academy):
            during, rendered = pipeline.occurrences(view)
            assert during == before[view] and rendered.stale_since is None
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    assert f"skipped TagMango call {single.id}" in warnings and "fromTime" in warnings
    assert f"skipped TagMango call {in_series.id}" in warnings
    assert f"skipped talk {talk_id}" in warnings

    # Renamed meanwhile: once readable again, the record is updated like any other.
    tagmango.clear_glitches()
    academy.clear_glitches()
    tagmango.update_call(single.id, title="Renamed after the glitch")
    pipeline.advance(timedelta(minutes=11))
    after = pipeline.occurrences(pipeline.participant)[0]
    assert statuses(after) == statuses(before[pipeline.participant])
    assert [o.summary for o in after if o.start == single.start] == ["Renamed after the glitch"]
    assert pipeline.occurrences(pipeline.academy)[0] == before[pipeline.academy]


# -- most sessions vanishing at once ---------------------------------------------------------


def test_a_mass_disappearance_is_held_and_undone_by_the_confirming_read(
    pipeline: Pipeline,
) -> None:
    tagmango, academy = pipeline.simulators.tagmango, pipeline.simulators.trainercentral
    views = ((pipeline.participant, "tagmango-sim"), (pipeline.academy, "trainercentral-sim"))
    before = {view: pipeline.occurrences(view)[0] for view, _ in views}
    calls, talks = upcoming_calls(pipeline), upcoming_talk_ids(pipeline)

    pipeline.advance(timedelta(minutes=11))
    tagmango.hide_calls(call.id for call in calls[2:])
    academy.hide_talks(talks[1:])
    held_at = pipeline.now()
    for view, source in views:
        during, rendered = pipeline.occurrences(view)
        assert during == before[view] and rendered.stale_since is None
        held = pipeline.merges(view)[-1]
        assert held.held == held.holds_started > 0
        assert held.confirm_at == held_at + CONFIRM_DELAY
        assert pipeline.holds(source) == held.holds_started

    tagmango.clear_glitches()
    academy.clear_glitches()
    pipeline.advance(CONFIRM_DELAY - timedelta(seconds=1))
    for view, _ in views:  # not yet time for the confirming read: no fetch
        fetches = len(pipeline.merges(view))
        assert pipeline.occurrences(view)[0] == before[view]
        assert len(pipeline.merges(view)) == fetches
    pipeline.advance(timedelta(seconds=1))  # the confirming read, well before the TTL
    for view, source in views:
        assert pipeline.occurrences(view)[0] == before[view]
        held, confirming = pipeline.merges(view)[-2:]
        # Every row the held fetch missed comes back: held ones, and started ones kept as they were.
        assert confirming.restored == held.held + held.vanished and confirming.held == 0
        assert confirming.confirm_at is None
        assert pipeline.holds(source) == held.holds_started


def test_a_real_mass_disappearance_is_published_after_the_confirming_read(
    pipeline: Pipeline,
) -> None:
    tagmango = pipeline.simulators.tagmango
    before = pipeline.occurrences(pipeline.participant)[0]
    calls = upcoming_calls(pipeline)
    kept, gone = calls[:2], calls[2:]
    assert len(gone) >= 10

    pipeline.advance(timedelta(minutes=11))
    for call in gone:
        tagmango.remove_call(call.id)
    tagmango.update_call(kept[0].id, title="Still on, renamed")
    held_at = pipeline.now()
    held = pipeline.occurrences(pipeline.participant)[0]
    # The rest of the held fetch is merged: only the rename shows.
    assert statuses(held) == statuses(before)
    assert [o.summary for o in held if o.start == kept[0].start] == ["Still on, renamed"]
    first = pipeline.merges(pipeline.participant)[-1]
    assert first.held == first.holds_started >= len(gone)
    assert first.confirm_at == held_at + CONFIRM_DELAY
    assert pipeline.holds("tagmango-sim") == first.holds_started

    pipeline.advance(CONFIRM_DELAY / 2)  # too soon to confirm: still held
    assert statuses(pipeline.occurrences(pipeline.participant)[0]) == statuses(before)
    # A fetch meanwhile (a webhook asks for one) keeps the hold, and the
    # hold is not counted again.
    (partition,) = pipeline.refresher.partitions(pipeline.participant.feed)
    pipeline.refresher.refreshes.request(partition, force=True)
    again = pipeline.merges(pipeline.participant)[-1]
    assert again is not first and again.held == first.held and again.holds_started == 0
    assert pipeline.holds("tagmango-sim") == first.holds_started

    pipeline.advance(CONFIRM_DELAY / 2)
    confirmed = pipeline.occurrences(pipeline.participant)[0]
    assert pipeline.merges(pipeline.participant)[-1].vanished >= len(gone)
    gone_starts = {call.start for call in gone}
    for occurrence in confirmed:  # a cancelled occurrence of a series may become an EXDATE
        if occurrence.start in gone_starts:
            assert occurrence.status == "CANCELLED", occurrence
        else:
            # A series whose occurrences were cancelled may be written differently: an EXDATE
            # (not expanded) may become a cancelled event.
            was = by_time(before).get((occurrence.start, occurrence.end), "CANCELLED")
            assert occurrence.status == was, occurrence
    archived = {
        session.upstream_id: session.status
        for session in pipeline.store.archived_sessions(
            pipeline.refresher.partitions(pipeline.participant.feed), NOW, NOW + timedelta(days=200)
        )
    }
    assert {archived[call.id] for call in gone} == {Status.CANCELLED}
    assert {archived[call.id] for call in kept} == {Status.CONFIRMED}
    assert pipeline.holds("tagmango-sim") == first.holds_started  # each hold counted once
