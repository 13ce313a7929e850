"""Scheduled participant syncs: a sync from the API roster schedules the source, a CSV sync
does not; the workers' sweep queues a due source once however many sweeps run; the job
creates the feeds of new subscribers and revokes expired ones; an upstream failure is
recorded and retried with backoff, revoking nobody. The clock is injected throughout."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.crypto import CredentialBox
from bridge.participants.schedule import (
    CLAIM_HOLD,
    FIRST_RETRY,
    ParticipantSyncSweep,
    retry_delay,
    run_scheduled_sync,
    set_schedule,
)
from bridge.simulator.server import start_server
from bridge.simulator.tagmango_roster import SimSubscription
from bridge.store import Store
from bridge.store.participant_sync_queries import ParticipantSyncRow, SyncCounts
from tests.bridge.participants.support import ADMIN, NOW, Rig, make_rig
from tests.stores import BACKENDS, fresh_database_url

AUTH = {"Authorization": f"Bearer {ADMIN}"}
SYNC = "/api/v1/participants/mango/sync"
DAY = timedelta(hours=24)


class RecordingQueue:
    """Stands in for the job queue: notes each participant sync queued."""

    def __init__(self) -> None:
        self.queued: list[int] = []

    def enqueue_participant_sync(self, source_id: int, priority: int) -> None:
        self.queued.append(source_id)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with make_rig(tmp_path, subscribers=6) as built:
        yield built


def source_id(rig: Rig, name: str = "mango") -> int:
    source = rig.services.store.source_by_name(name)
    assert source is not None
    return source.id


def schedule(rig: Rig, name: str = "mango") -> ParticipantSyncRow:
    row = rig.services.store.participant_sync(source_id(rig, name))
    assert row is not None
    return row


def active(rig: Rig) -> set[str]:
    return {p.user_id for p in rig.services.store.participants(source_id(rig)) if p.active}


def api_sync(rig: Rig, **options: object) -> dict:
    answer = rig.client.post(SYNC, headers=AUTH, **options)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_a_sync_from_the_api_roster_schedules_the_source(rig: Rig) -> None:
    report = api_sync(rig)
    row = schedule(rig)
    assert row.enabled and row.every_hours == 24
    assert (row.last_run_at, row.next_due_at) == (NOW, NOW + DAY)
    assert row.last == SyncCounts(created=5) and row.last_error is None
    assert any("every 24 hours" in note for note in report["notes"])
    assert rig.services.store.participant_sync(source_id(rig, "academy")) is None


def test_a_csv_or_one_user_sync_schedules_nothing_and_a_csv_sync_stops_a_schedule(
    rig: Rig,
) -> None:
    api_sync(rig, data="user_id\nu1\n", content_type="text/csv")
    api_sync(rig, json={"users": ["fan-00001"]})
    api_sync(rig, json={"dry_run": True})
    assert rig.services.store.participant_sync(source_id(rig)) is None

    api_sync(rig)
    report = api_sync(rig, data="user_id\nu1\n", content_type="text/csv")
    assert not schedule(rig).enabled and schedule(rig).next_due_at is None
    assert any("now off" in note for note in report["notes"])


def test_the_sweep_queues_a_due_source_once_even_when_two_sweeps_run(rig: Rig) -> None:
    api_sync(rig)
    queue = RecordingQueue()
    sweeps = [ParticipantSyncSweep(rig.services.store, queue, rig.clock) for _ in range(2)]
    rig.clock.advance(hours=23, minutes=59)
    assert [sweep.sweep() for sweep in sweeps] == [0, 0]  # not due yet
    rig.clock.advance(minutes=1)
    assert [sweep.sweep() for sweep in sweeps] == [1, 0]
    assert queue.queued == [source_id(rig)]
    rig.clock.advance(seconds=CLAIM_HOLD.total_seconds() - 1)
    assert sweeps[1].sweep() == 0
    rig.clock.advance(seconds=1)  # the job never reported back: queued again
    assert sweeps[1].sweep() == 1 and queue.queued == [source_id(rig)] * 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_claims_hand_a_due_sync_to_one_sweep(backend: str, tmp_path: Path) -> None:
    box = CredentialBox("schedule-test-secret-key-0123")
    with fresh_database_url(backend, tmp_path) as url, Store(url, box) as store:
        store.migrate()
        sources = [store.add_source(f"s{i}", "tagmango", {}, {}).id for i in range(5)]
        for one in sources:
            store.set_participant_sync(one, enabled=True, next_due_at=NOW)
        store.set_participant_sync(sources[4], enabled=False, next_due_at=None)
        claims: list[list[int]] = []
        start = threading.Barrier(4)

        def claim() -> None:
            start.wait()
            claims.append(store.claim_due_participant_syncs(NOW, CLAIM_HOLD, 100))

        threads = [threading.Thread(target=claim) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        claimed = [one for batch in claims for one in batch]
        assert sorted(claimed) == sources[:4]  # each once; the one turned off never
        later = store.participant_sync(sources[0])
        assert later is not None and later.next_due_at == NOW + CLAIM_HOLD


def test_the_job_creates_the_feeds_of_new_subscribers_and_revokes_expired_ones(
    rig: Rig,
) -> None:
    api_sync(rig)
    roster = rig.simulators.tagmango.roster
    assert active(rig) == set(roster.active_users())
    template = roster.active_users()["fan-00001"]
    roster.add(
        SimSubscription(
            "fan-new", "Nadia Newcomer", "nadia@example.org", template.mango_id,
            NOW, NOW + timedelta(days=90),
        )
    )  # fmt: skip
    roster.expire("fan-00002", NOW + timedelta(hours=1))
    rig.clock.advance(hours=24)

    assert rig.services.participant_syncs.sweep() == 1  # the immediate queue runs the job
    participants = {p.user_id: p for p in rig.services.store.participants(source_id(rig))}
    assert participants["fan-new"].active and participants["fan-new"].name == "Nadia Newcomer"
    assert participants["fan-00002"].status == "expired"
    assert active(rig) == set(roster.active_users())
    row = schedule(rig)
    assert row.last == SyncCounts(created=1, revoked=1)
    assert (row.last_run_at, row.next_due_at) == (NOW + DAY, NOW + 2 * DAY)
    assert rig.services.participant_syncs.sweep() == 0


def test_a_running_worker_syncs_a_due_source_on_its_own(tmp_path: Path) -> None:
    with make_rig(tmp_path, subscribers=6, immediate=False) as rig:
        api_sync(rig)
        roster = rig.simulators.tagmango.roster
        template = roster.active_users()["fan-00001"]
        roster.add(
            SimSubscription(
                "fan-late", "Lola Late", "lola@example.org", template.mango_id,
                NOW, NOW + timedelta(days=90),
            )
        )  # fmt: skip
        rig.clock.advance(hours=24)
        rig.services.jobs.start()  # job threads and the scheduler's sweeps, as `serve` runs
        try:
            deadline = time.monotonic() + 30
            while "fan-late" not in active(rig) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            rig.services.jobs.stop()
        assert "fan-late" in active(rig)
        row = schedule(rig)
        assert row.last == SyncCounts(created=1) and row.next_due_at == rig.clock.now + DAY


def test_an_upstream_failure_is_recorded_and_retried_with_backoff_revoking_nobody(
    rig: Rig,
) -> None:
    api_sync(rig)
    before = active(rig)
    port = rig.upstream.port
    rig.upstream.stop()  # TagMango unreachable
    rig.clock.advance(hours=24)
    failed_at = rig.clock.now

    assert rig.services.participant_syncs.sweep() == 1
    row = schedule(rig)
    assert row.last_error and "127.0.0.1" in row.last_error and row.failures == 1
    assert row.next_due_at == failed_at + FIRST_RETRY
    assert row.last_success_at == NOW and row.last == SyncCounts(created=5)
    assert active(rig) == before

    tagmango = rig.simulators.tagmango
    keys = dict(tagmango.api_keys)
    tagmango.api_keys.clear()  # back, but refusing the key (401)
    back = start_server(rig.simulators, port=port)
    try:
        rig.clock.advance(minutes=15)
        assert rig.services.participant_syncs.sweep() == 1
        row = schedule(rig)
        assert row.failures == 2 and row.next_due_at == rig.clock.now + 2 * FIRST_RETRY
        assert row.last_error and "Invalid token" in row.last_error
        assert active(rig) == before

        tagmango.api_keys.update(keys)
        rig.clock.advance(minutes=29)
        assert rig.services.participant_syncs.sweep() == 0
        rig.clock.advance(minutes=1)
        assert rig.services.participant_syncs.sweep() == 1
    finally:
        back.stop()
    row = schedule(rig)
    assert (row.failures, row.last_error) == (0, None)
    assert row.next_due_at == rig.clock.now + DAY and row.last_success_at == rig.clock.now
    assert active(rig) == before


def test_an_empty_roster_is_a_failure_that_revokes_nobody(rig: Rig) -> None:
    api_sync(rig)
    before = active(rig)
    rig.simulators.tagmango.roster._subs.clear()  # the subscriber list answers with nobody
    rig.clock.advance(hours=24)
    assert rig.services.participant_syncs.sweep() == 1
    row = schedule(rig)
    assert row.last_error is not None and "refusing to revoke" in row.last_error
    assert active(rig) == before


def test_off_stops_the_syncs_and_every_sets_the_interval(rig: Rig) -> None:
    api_sync(rig)
    source = rig.services.store.source(source_id(rig))
    assert source is not None
    off = set_schedule(rig.services, source, off=True)
    assert off is not None and not off.enabled and off.next_due_at is None
    rig.clock.advance(hours=48)
    assert rig.services.participant_syncs.sweep() == 0

    on = set_schedule(rig.services, source, every_hours=6)
    assert on is not None and on.enabled and on.every_hours == 6
    assert on.next_due_at == rig.clock.now  # its last run is more than 6 hours ago
    assert rig.services.participant_syncs.sweep() == 1
    assert schedule(rig).next_due_at == rig.clock.now + timedelta(hours=6)


def test_the_job_skips_a_removed_or_unscheduled_source_without_raising(rig: Rig) -> None:
    assert run_scheduled_sync(rig.services, 999) is None
    assert run_scheduled_sync(rig.services, source_id(rig)) is None  # never scheduled
    assert rig.services.store.participants(source_id(rig)) == []


def test_the_retry_delay_doubles_up_to_the_interval() -> None:
    delays = [retry_delay(failures, DAY) for failures in range(9)]
    minutes = [int(delay.total_seconds() // 60) for delay in delays]
    assert minutes == [15, 30, 60, 120, 240, 480, 960, 1440, 1440]
    assert retry_delay(0, timedelta(hours=1)) == FIRST_RETRY
    assert retry_delay(3, timedelta(hours=1)) == timedelta(hours=1)
