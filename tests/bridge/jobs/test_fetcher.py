"""The refresh job: skips what is redundant or busy, records outcomes and the next due time,
survives a crash, and costs the same however many feeds there are."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from bridge.jobs.fetcher import Outcome
from bridge.jobs.schedule import CRASH_RETRY, FAILURE_BACKOFF, IDLE_INTERVAL, POLLED_WITHIN
from bridge.partitions import Partition
from bridge.upstream.errors import UpstreamUnavailable
from tests.bridge.jobs.support import Rig, make_rig, session


def registered(rig: Rig, user: str | None = None) -> Partition:
    partition = Partition(rig.source_id, user)
    rig.services.store.register_partition(partition, 30, rig.clock.now)
    return partition


def test_a_fetch_records_its_outcome_and_the_next_due_time(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    partition = registered(rig)
    store, fetcher = rig.services.store, rig.services.fetcher
    assert fetcher.refresh(partition) is Outcome.FETCHED
    state = store.fetch_state(partition)
    assert state.last_success_at == rig.clock.now and state.data_version == 1
    assert state.next_due_at == rig.clock.now + IDLE_INTERVAL  # nobody polls it yet
    assert [s.upstream_id for s in store.archived_sessions([partition], *window(rig))] == ["a"]
    assert fetcher.refresh(partition) is Outcome.FRESH  # within the TTL: no second read
    assert rig.upstream.fetches == [""]
    store.claim_refresh(partition, rig.clock.now, force=True)  # a webhook
    assert fetcher.refresh(partition) is Outcome.FETCHED
    assert store.fetch_state(partition).data_version == 1  # nothing changed upstream


def window(rig: Rig) -> tuple[Any, Any]:
    return rig.clock.now - timedelta(days=1), rig.clock.now + timedelta(days=30)


def test_a_polled_partition_is_due_again_after_one_ttl(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    partition = registered(rig)
    rig.services.store.note_polls([partition], rig.clock.now - POLLED_WITHIN / 2)
    rig.services.fetcher.refresh(partition)
    due = rig.services.store.fetch_state(partition).next_due_at
    assert due == rig.clock.now + timedelta(seconds=rig.services.settings.cache_ttl)


def test_a_failure_keeps_the_archive_and_backs_off(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    partition = registered(rig)
    store, fetcher = rig.services.store, rig.services.fetcher
    fetcher.refresh(partition)
    rig.clock.advance(hours=7)
    rig.upstream.error = UpstreamUnavailable("tm", "HTTP 502 after 5 attempts")
    rig.upstream.sessions = []
    assert fetcher.refresh(partition) is Outcome.FAILED
    state = store.fetch_state(partition)
    assert state.failing and state.failing_since == rig.clock.now
    assert state.next_due_at == rig.clock.now + FAILURE_BACKOFF
    assert [s.upstream_id for s in store.archived_sessions([partition], *window(rig))] == ["a"]


def test_a_partition_refreshed_elsewhere_is_left_alone(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    partition = registered(rig)
    store, fetcher = rig.services.store, rig.services.fetcher
    with fetcher.locks.hold(partition):  # another process is refreshing it
        store.claim_refresh(partition, rig.clock.now, force=False)
        assert fetcher.refresh(partition) is Outcome.BUSY
        assert store.fetch_state(partition).queued_at is None  # asking again may queue
        store.claim_refresh(partition, rig.clock.now, force=True)
        assert fetcher.refresh(partition) is Outcome.RETRY  # a webhook's read must follow
        assert store.fetch_state(partition).queued_at is not None
    assert rig.upstream.fetches == []
    assert fetcher.refresh(partition) is Outcome.FETCHED


def test_a_job_that_dies_is_due_again_after_the_crash_retry(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    partition = registered(rig)
    store, clock = rig.services.store, rig.clock
    store.start_refresh(partition, clock.now, clock.now + CRASH_RETRY)  # ...and then kill -9
    polled_since = clock.now - POLLED_WITHIN
    assert store.due_partitions(clock.now, polled_since=polled_since, limit=10) == []
    clock.advance(seconds=CRASH_RETRY.total_seconds())
    due = store.due_partitions(clock.now, polled_since=polled_since, limit=10)
    assert due == [(rig.source_id, "", False)]
    assert rig.services.fetcher.refresh(partition) is Outcome.FETCHED


def test_one_fetch_costs_the_same_whatever_the_number_of_feeds(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    partition = registered(rig)
    store, fetcher = rig.services.store, rig.services.fetcher
    statements: list[str] = []
    event.listen(store._engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    def statements_of_one_fetch() -> int:
        statements.clear()
        store.claim_refresh(partition, rig.clock.now, force=True)
        assert fetcher.refresh(partition) is Outcome.FETCHED
        # The partition's horizon is kept with its fetch state: no feed is read.
        assert not any("FROM feeds" in statement for statement in statements)
        return len(statements)

    fetcher.refresh(partition)  # the first fetch inserts; later ones compare
    few = statements_of_one_fetch()
    for n in range(300):
        rig.feed(f"Participant {n}", user=f"user-{n}")
    rig.upstream.sessions = [session("a", 2)]
    assert statements_of_one_fetch() == few


def test_job_durations_are_measured_by_outcome(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    partition = registered(rig)
    rig.services.fetcher.refresh(partition)
    rig.services.fetcher.refresh(partition)
    registry = rig.services.metrics.registry
    count = "calbridge_job_duration_seconds_count"
    assert registry.get_sample_value(count, {"outcome": "fetched"}) == 1
    assert registry.get_sample_value(count, {"outcome": "fresh"}) == 1


def test_a_job_that_breaks_gives_its_claim_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig(tmp_path)
    partition = registered(rig)
    store, fetcher = rig.services.store, rig.services.fetcher
    store.claim_refresh(partition, rig.clock.now, force=False)

    def refused(*_args: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("too many clients already"))

    monkeypatch.setattr(store, "start_refresh", refused)
    assert fetcher.refresh(partition) is Outcome.BROKEN
    assert "refresh job of partition" in caplog.text
    assert store.fetch_state(partition).queued_at is None  # the next reader may queue again
