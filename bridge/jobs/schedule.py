"""When partitions are fetched: the scheduling rules, and the sweep that queues due partitions.

Every partition has a `next_due_at` in its fetch state. After a good fetch it is one TTL
later when subscribers read the partition in the last POLLED_WITHIN, else IDLE_INTERVAL
later (a feed nobody polls costs almost nothing; the first poll finds stale data, which is
served at once while a refresh is queued). After a failed fetch it is FAILURE_BACKOFF later
(or the TTL, if shorter). Each worker process sweeps every SWEEP_EVERY: the due partitions
without a queued job are queued, polled ones first and at a higher priority. Sweeps of
several workers never queue a partition twice (RefreshRequests claims it in the database).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bridge.partitions import Partition
from bridge.store import FetchState, Store

from .requests import Priority, RefreshRequests

log = logging.getLogger(__name__)

# How far into the past each fetch reaches (sessions that just ended are archived as they were).
RECENT_PAST = timedelta(days=2)
# A partition some subscriber read within this long is refreshed every TTL.
POLLED_WITHIN = timedelta(days=2)
# Partitions nobody polls are refreshed this often (or every TTL, if longer).
IDLE_INTERVAL = timedelta(hours=6)
# After a failed fetch, the next attempt waits this long (or the TTL, if shorter).
FAILURE_BACKOFF = timedelta(seconds=60)
# The scheduler never fetches one partition more often than this, whatever the TTL.
MIN_INTERVAL = timedelta(seconds=1)
# When a job that started is due again if its worker dies before recording the outcome.
CRASH_RETRY = timedelta(seconds=30)
# A cancelled occurrence stays in the feed (as a tombstone or EXDATE) until this long after its end.
TOMBSTONE_GRACE = timedelta(days=1)
SWEEP_EVERY = 1.0  # seconds between sweeps in each worker process
SWEEP_BATCH = 1000  # partitions queued per sweep at most


def polled_recently(state: FetchState, now: datetime) -> bool:
    return state.last_polled_at is not None and state.last_polled_at >= now - POLLED_WITHIN


def next_due_after_success(
    state: FetchState, now: datetime, ttl: timedelta, confirm_at: datetime | None
) -> datetime:
    """When to fetch again after a good fetch (sooner if a held cancellation needs a read)."""
    interval = ttl if polled_recently(state, now) else max(ttl, IDLE_INTERVAL)
    due = now + max(interval, MIN_INTERVAL)
    if confirm_at is not None:
        due = min(due, max(confirm_at, now + MIN_INTERVAL))
    return due


def next_due_after_failure(now: datetime, ttl: timedelta) -> datetime:
    return now + max(min(ttl, FAILURE_BACKOFF), MIN_INTERVAL)


def fetched_recently(state: FetchState, now: datetime, ttl: timedelta) -> bool:
    """Whether a refresh now would break "at most once per TTL" (or the failure backoff):
    unless a forced request (a webhook) or the schedule itself says so, such a refresh is
    skipped."""
    last = state.last_attempt_at
    if state.force_requested or last is None:
        return False
    if state.next_due_at is not None and state.next_due_at <= now:
        return False
    gap = min(ttl, FAILURE_BACKOFF) if state.failing else ttl
    return now - last < gap * 0.9


def wants_refresh(state: FetchState, now: datetime, ttl: timedelta) -> bool:
    """Whether a subscriber reading the partition now should get a refresh queued: its data
    is older than the TTL (or missing), or the schedule says it is due (a confirming read),
    and no read within the TTL (or the failure backoff) makes one redundant."""
    stale = state.last_success_at is None or now - state.last_success_at >= ttl
    due = state.next_due_at is not None and state.next_due_at <= now
    return (stale or due) and not fetched_recently(state, now, ttl)


class Scheduler:
    """Queues the partitions whose fetch is due; `start` runs it in a thread of a worker."""

    def __init__(
        self,
        store: Store,
        requests: RefreshRequests,
        clock: Callable[[], datetime],
        *,
        also: Sequence[Callable[[], int]] = (),
    ) -> None:
        self.store = store
        self.requests = requests
        self.clock = clock
        self.also = tuple(also)  # other sweeps run with this one (due pushes, participant syncs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> int:
        """Queue every due partition that has no job queued; returns how many were queued."""
        now = self.clock()
        due = self.store.due_partitions(now, polled_since=now - POLLED_WITHIN, limit=SWEEP_BATCH)
        queued = 0
        for source_id, key, polled in due:
            priority = Priority.POLLED if polled else Priority.IDLE
            queued += self.requests.request(Partition.from_key(source_id, key), priority=priority)
        return queued

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="calbridge-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(SWEEP_EVERY):
            for sweep in (self.sweep, *self.also):
                try:
                    sweep()
                except Exception:  # a database hiccup must not end the schedule
                    log.exception("sweep failed; trying again in %.0f s", SWEEP_EVERY)
