"""The refresh job: read one partition from upstream and merge it into the archive.

`PartitionFetcher.refresh` is what a worker runs for a queued partition. It holds the
partition's lock (one refresh per partition across every process), skips the read when one
within the TTL made it redundant (unless forced), and otherwise fetches the partition's
window, merges it in one transaction and records the outcome with the next due time. A
failing upstream leaves the archive as it was: feeds keep serving the last good data.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from enum import Enum

from bridge.metrics import Metrics
from bridge.partitions import Partition
from bridge.settings import Settings
from bridge.store import FetchState, Store
from bridge.store.webhook_queries import DELIVERY_MEMORY
from bridge.upstream.clients import build_client
from bridge.upstream.errors import UpstreamError
from feeds.model import Session

from .locks import PartitionLocks
from .schedule import (
    CRASH_RETRY,
    RECENT_PAST,
    fetched_recently,
    next_due_after_failure,
    next_due_after_success,
)

log = logging.getLogger(__name__)

# How often a worker prunes the archive of sessions older than every feed's history.
PRUNE_EVERY = timedelta(hours=1)


class Outcome(Enum):
    FETCHED = "fetched"
    FAILED = "failed"
    FRESH = "fresh"  # a read within the TTL made this one redundant
    BUSY = "busy"  # another process is refreshing the partition
    RETRY = "retry"  # busy, but a forced refresh is waiting: run again once the other ends
    BROKEN = "broken"  # the job itself failed (say, the database refused a connection)


class PartitionFetcher:
    """Runs refresh jobs: upstream → archive, for one partition at a time."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        metrics: Metrics,
        locks: PartitionLocks,
        *,
        clock: Callable[[], datetime],
        client_factory: Callable[..., object] = build_client,
    ) -> None:
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.locks = locks
        self.clock = clock
        self.client_factory = client_factory
        # Called with a partition whose refresh merged a change (bridge.push queues its pushes).
        self.on_change: Callable[[Partition], object] | None = None
        self._next_prune = 0.0

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.cache_ttl)

    def refresh(self, partition: Partition) -> Outcome:
        """Refresh the partition unless it is being refreshed elsewhere or was just read."""
        started = time.monotonic()
        try:
            outcome = self._refresh(partition)
        except Exception:
            # Upstream failures are recorded by _fetch; this is the job's own machinery. Give
            # up the claim, or no refresh of the partition could be queued until it expires.
            log.exception("refresh job of partition %s failed", partition)
            with contextlib.suppress(Exception):
                self.store.release_claim(partition)
            outcome = Outcome.BROKEN
        self.metrics.job_seconds.labels(outcome.value).observe(time.monotonic() - started)
        return outcome

    def _refresh(self, partition: Partition) -> Outcome:
        with self.locks.hold(partition) as held:
            if not held:
                return self._busy(partition)
            now = self.clock()
            state = self.store.start_refresh(partition, now, retry_at=now + CRASH_RETRY)
            if not state.registered:
                return Outcome.FRESH  # its source was deleted meanwhile
            if fetched_recently(state, now, self.ttl):
                self.store.record_schedule(partition, self._due_after(state))
                return Outcome.FRESH
            return self._fetch(partition, state)

    def _busy(self, partition: Partition) -> Outcome:
        if self.store.release_claim(partition, unless_forced=True):
            return Outcome.BUSY
        return Outcome.RETRY  # forced: keeps its queued mark, the retry is this job

    def _due_after(self, state: FetchState) -> datetime:
        """The next due time of a partition whose refresh was skipped."""
        last = state.last_attempt_at or self.clock()
        if state.failing:
            return next_due_after_failure(last, self.ttl)
        return next_due_after_success(state, last, self.ttl, None)

    def _fetch(self, partition: Partition, state: FetchState) -> Outcome:
        started = time.monotonic()
        started_at = self.clock()  # a failure opening an outage is dated from here
        name = str(partition.source_id)
        try:
            source = self.store.source(partition.source_id)
            if source is None:
                raise LookupError(f"feed source {partition.source_id} does not exist")
            name = source.name
            now = self.clock()
            # Fetch the recent past too, so sessions that just ended are archived as they were
            # (not as vanished) and their join links can say "over" rather than "unknown".
            window = (now - RECENT_PAST, now + timedelta(days=max(state.horizon_days, 1)))
            client = self.client_factory(
                source.kind,
                source.name,
                source.settings,
                self.store.source_credentials(source),
                partition,
                token_store=self.store,
            )
            try:
                result = client.fetch(*window)
            finally:
                client.close()
            sessions = self._with_recordings(source.id, result.sessions)
            for warning in result.warnings:
                log.warning("%s: %s", source.name, warning)
            merged = self.store.merge_sessions(
                partition,
                sessions,
                *window,
                now=now,
                skipped_ids=result.skipped_ids,
                unidentified=result.unidentified,
            )
        except UpstreamError as error:
            log.warning("refresh of %s failed: %s", name, error)
            return self._failed(partition, name, str(error), started_at)
        except Exception as error:
            # A bug or unusable stored settings (say, credentials sealed with a retired key)
            # must not lose the archive: it still holds the last good data.
            log.exception("refresh of %s failed unexpectedly", name)
            return self._failed(
                partition, name, f"{name}: {type(error).__name__}: {error}", started_at
            )
        finished = self.clock()
        self.store.record_fetch(
            partition,
            ok=True,
            error=None,
            at=finished,
            next_due_at=next_due_after_success(state, finished, self.ttl, merged.confirm_at),
        )
        if merged.changed_anything and self.on_change is not None:
            try:
                self.on_change(partition)
            except Exception:  # the refresh itself succeeded: its outcome stands
                log.exception("could not act on the change of partition %s", partition)
        if merged.holds_started:  # each hold once, when it starts, however long it lasts
            self.metrics.cancellation_holds.labels(name).inc(merged.holds_started)
            log.warning(
                "%s: upstream stopped listing %d upcoming sessions; their cancellation is "
                "held as a likely upstream glitch until a later read confirms it",
                name,
                merged.holds_started,
            )
        self._prune(finished)
        self.metrics.refresh_seconds.labels(name).observe(time.monotonic() - started)
        return Outcome.FETCHED

    def _with_recordings(self, source_id: int, sessions: list[Session]) -> list[Session]:
        """Add the replay links webhooks reported (the API does not list them)."""
        found = self.store.recordings(source_id, [s.upstream_id for s in sessions])
        if not found:
            return sessions
        return [
            replace(s, recording_url=found[s.upstream_id]) if s.upstream_id in found else s
            for s in sessions
        ]

    def _failed(self, partition: Partition, name: str, error: str, started_at: datetime) -> Outcome:
        self.metrics.upstream_errors.labels(name).inc()
        now = self.clock()
        self.store.record_fetch(
            partition,
            ok=False,
            error=error,
            at=now,
            started_at=started_at,
            next_due_at=next_due_after_failure(now, self.ttl),
        )
        return Outcome.FAILED

    def _prune(self, now: datetime) -> None:
        """Forget archived sessions no feed can show any more (at most once per PRUNE_EVERY)."""
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + PRUNE_EVERY.total_seconds()
        longest = self.store.longest_history_days()
        self.store.prune_archive(now - timedelta(days=longest) - RECENT_PAST)
        self.store.forget_deliveries(now - DELIVERY_MEMORY)
