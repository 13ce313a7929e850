"""When partitions are due, when a refresh is redundant, and what a sweep queues first."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.jobs.requests import Priority, RefreshRequests
from bridge.jobs.schedule import (
    FAILURE_BACKOFF,
    IDLE_INTERVAL,
    MIN_INTERVAL,
    POLLED_WITHIN,
    Scheduler,
    fetched_recently,
    next_due_after_failure,
    next_due_after_success,
    wants_refresh,
)
from bridge.partitions import Partition
from bridge.store import FetchState
from tests.bridge.jobs.support import NOW, make_rig

TTL = timedelta(minutes=10)


def state(**fields: object) -> FetchState:
    return replace(FetchState(1, "", registered=True), **fields)  # type: ignore[arg-type]


def test_a_polled_partition_is_due_one_ttl_after_its_fetch() -> None:
    polled = state(last_polled_at=NOW - timedelta(hours=1))
    assert next_due_after_success(polled, NOW, TTL, None) == NOW + TTL


def test_a_partition_nobody_polls_is_refreshed_rarely() -> None:
    never = state()
    long_ago = state(last_polled_at=NOW - POLLED_WITHIN - timedelta(minutes=1))
    for idle in (never, long_ago):
        assert next_due_after_success(idle, NOW, TTL, None) == NOW + IDLE_INTERVAL


def test_a_held_cancellation_brings_the_next_read_forward() -> None:
    polled = state(last_polled_at=NOW)
    confirm_at = NOW + timedelta(minutes=5)
    assert next_due_after_success(polled, NOW, TTL, confirm_at) == confirm_at


def test_a_zero_ttl_never_makes_the_schedule_spin() -> None:
    polled = state(last_polled_at=NOW)
    assert next_due_after_success(polled, NOW, timedelta(0), None) == NOW + MIN_INTERVAL
    assert next_due_after_failure(NOW, timedelta(0)) == NOW + MIN_INTERVAL


def test_a_failure_is_retried_after_the_backoff_or_the_ttl_if_shorter() -> None:
    assert next_due_after_failure(NOW, TTL) == NOW + FAILURE_BACKOFF
    assert next_due_after_failure(NOW, timedelta(seconds=5)) == NOW + timedelta(seconds=5)


@pytest.mark.parametrize(
    ("fields", "recent"),
    [
        ({}, False),  # never fetched
        ({"last_success_at": NOW - timedelta(minutes=1)}, True),
        ({"last_success_at": NOW - timedelta(minutes=9, seconds=50)}, False),  # 0.9 TTL
        ({"last_success_at": NOW - timedelta(minutes=1), "force_requested": True}, False),
        ({"last_success_at": NOW - timedelta(minutes=1), "next_due_at": NOW}, False),
        ({"last_error_at": NOW - timedelta(seconds=30)}, True),  # within the backoff
        ({"last_error_at": NOW - timedelta(seconds=70)}, False),
    ],
)
def test_at_most_once_per_ttl_unless_forced_or_due(fields: dict, recent: bool) -> None:
    assert fetched_recently(state(**fields), NOW, TTL) is recent


def test_readers_ask_for_stale_or_due_data_only() -> None:
    fresh = state(last_success_at=NOW - timedelta(minutes=1), next_due_at=NOW + TTL)
    stale = state(last_success_at=NOW - TTL, next_due_at=NOW + IDLE_INTERVAL)
    due = replace(fresh, next_due_at=NOW)
    failing = state(last_error_at=NOW - timedelta(seconds=10))
    assert not wants_refresh(fresh, NOW, TTL)
    assert wants_refresh(stale, NOW, TTL) and wants_refresh(due, NOW, TTL)
    assert not wants_refresh(failing, NOW, TTL)  # the backoff holds for readers too
    assert wants_refresh(state(), NOW, TTL)  # never fetched


@dataclass
class RecordingQueue:
    queued: list[tuple[Partition, int]] = field(default_factory=list)

    def enqueue_refresh(self, partition: Partition, priority: int) -> None:
        self.queued.append((partition, priority))


def test_a_sweep_queues_due_partitions_once_polled_ones_first(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    store, clock = rig.services.store, rig.clock
    idle, polled, later = (Partition(rig.source_id, user) for user in ("i", "p", "l"))
    for partition in (idle, polled, later):
        store.register_partition(partition, 30, clock.now)
    store.record_schedule(later, clock.now + timedelta(hours=1))
    store.note_polls([polled], clock.now)
    queue = RecordingQueue()
    scheduler = Scheduler(store, RefreshRequests(store, queue, clock), clock)
    clock.advance(seconds=1)
    assert scheduler.sweep() == 2
    assert queue.queued == [(polled, Priority.POLLED), (idle, Priority.IDLE)]
    assert scheduler.sweep() == 0  # queued already: never twice
    assert len(queue.queued) == 2
