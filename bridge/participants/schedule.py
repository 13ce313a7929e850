"""Participant syncs the workers run on their own: a source synced from its API roster is
re-synced every `every_hours` (24 by default), so joiners get their feed and leavers lose
theirs without anyone running `calbridge participants sync`.

A sync someone runs from the API roster turns the schedule on (`after_sync`); one from a CSV
turns it off, because the next API sync would revoke whoever the CSV added and the CSV cannot
be read again; one of `--user`s or a dry run leaves it as it is. Each worker's scheduler calls
`ParticipantSyncSweep.sweep` every second: it claims the due sources in the database (so
several workers never queue one twice) and queues one job each, whose body is
`run_scheduled_sync`. A failed sync records its error and is retried FIRST_RETRY later,
doubling up to the interval; it never revokes anyone (sync_participants refuses to revoke
from an empty or unreadable roster, and an error stops it before any revocation).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from bridge.errors import OperationError
from bridge.jobs.requests import Priority
from bridge.store import SourceRow, Store
from bridge.store.participant_sync_queries import ParticipantSyncRow, SyncCounts
from bridge.upstream.errors import UpstreamError

if TYPE_CHECKING:
    from bridge.participants.sync import SyncReport
    from bridge.services import Services

log = logging.getLogger(__name__)

DEFAULT_EVERY_HOURS = 24
MAX_EVERY_HOURS = 24 * 30
FIRST_RETRY = timedelta(minutes=15)
# How long a claimed due sync waits for its job before another sweep may queue it again:
# longer than a sync of a large roster takes.
CLAIM_HOLD = timedelta(hours=1)
SWEEP_BATCH = 20


def retry_delay(failures_before: int, every: timedelta) -> timedelta:
    """How long after a failed sync the next one runs: FIRST_RETRY after the first failure,
    doubling with each consecutive one, never longer than the interval."""
    return min(FIRST_RETRY * 2 ** min(failures_before, 16), every)


def check_every_hours(every_hours: int) -> int:
    if not 1 <= every_hours <= MAX_EVERY_HOURS:
        raise OperationError(
            f"the sync interval must be 1 to {MAX_EVERY_HOURS} hours, got {every_hours}"
        )
    return every_hours


class ParticipantSyncQueue(Protocol):
    """Where participant-sync jobs go (bridge.jobs.queue.JobQueue; tests pass a recorder)."""

    def enqueue_participant_sync(self, source_id: int, priority: int) -> None: ...


class ParticipantSyncSweep:
    """Queues the participant syncs that are due (one of the scheduler's sweeps)."""

    def __init__(
        self, store: Store, queue: ParticipantSyncQueue, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.queue = queue
        self.clock = clock

    def sweep(self) -> int:
        """Queue every due sync; returns how many were queued. A queue that cannot be reached
        is logged: the claim runs out after CLAIM_HOLD and a later sweep queues it."""
        due = self.store.claim_due_participant_syncs(self.clock(), CLAIM_HOLD, SWEEP_BATCH)
        queued = 0
        for source_id in due:
            try:
                self.queue.enqueue_participant_sync(source_id, Priority.IDLE)
            except Exception:
                log.exception("could not queue a participant sync of source %s", source_id)
                continue
            queued += 1
        return queued


def run_scheduled_sync(app: Services, source_id: int) -> ParticipantSyncRow | None:
    """The body of a queued sync: sync the source from its API roster and record how it went
    (the next one an interval later, or after a failure the backoff). Never raises; None
    when nothing ran (the source or its schedule is gone or off, or a sync is running)."""
    try:
        with app.fetcher.locks.hold_named(f"participants:{source_id}") as held:
            if not held:
                log.info("participant sync of source %s already running; skipped", source_id)
                return None
            return _run(app, source_id)
    except Exception:  # the job's own machinery (say, the database refused a connection)
        log.exception("scheduled participant sync of source %s failed", source_id)
        return None


def _run(app: Services, source_id: int) -> ParticipantSyncRow | None:
    # Imported here: bridge.participants.sync needs bridge.services, which imports this module.
    from bridge.participants.sync import sync_participants

    schedule = app.store.participant_sync(source_id)
    source = app.store.source(source_id)
    if schedule is None or not schedule.enabled or source is None:
        return None
    try:
        report = sync_participants(app, source.name)
    except Exception as error:
        at = app.clock()
        delay = retry_delay(schedule.failures, schedule.every)
        log.warning(
            "scheduled participant sync of %s failed (next try in %s): %s",
            source.name,
            delay,
            error,
            exc_info=not isinstance(error, (OperationError, UpstreamError)),  # expected ones
        )
        return app.store.finish_participant_sync(
            source_id, at, at + delay, error=str(error) or type(error).__name__
        )
    at = app.clock()
    counts = counts_of(report)
    log.info("scheduled participant sync of %s: %s", source.name, counts)
    return app.store.finish_participant_sync(source_id, at, at + schedule.every, counts=counts)


def counts_of(report: SyncReport) -> SyncCounts:
    return SyncCounts(
        created=len(report.created),
        updated=len(report.updated),
        revoked=len(report.revoked),
        errors=len(report.errors),
    )


def after_sync(
    app: Services,
    source: SourceRow,
    report: SyncReport,
    *,
    from_csv: bool,
    users: list[str] | None,
) -> ParticipantSyncRow | None:
    """What a sync someone ran means for the schedule (see the module docstring); a change
    is noted in the report."""
    if report.dry_run or users:
        return None
    now = app.clock()
    current = app.store.participant_sync(source.id)
    if from_csv:
        if current is None or not current.enabled:
            return current
        report.notes.append(
            "the automatic sync from the API roster is now off (the roster came from a CSV); "
            f"turn it on again with `calbridge participants schedule {source.name} --every N`"
        )
        return app.store.set_participant_sync(source.id, enabled=False, next_due_at=None)
    every = current.every if current is not None else timedelta(hours=DEFAULT_EVERY_HOURS)
    if current is None or not current.enabled:
        report.notes.append(
            f"synced again from the API roster every {every.total_seconds() / 3600:g} hours "
            f"(`calbridge participants schedule {source.name}` changes it)"
        )
    app.store.set_participant_sync(
        source.id, enabled=True, next_due_at=now + every, default_every_hours=DEFAULT_EVERY_HOURS
    )
    return app.store.finish_participant_sync(source.id, now, now + every, counts=counts_of(report))


def set_schedule(
    app: Services, source: SourceRow, *, every_hours: int | None = None, off: bool = False
) -> ParticipantSyncRow | None:
    """Change the source's schedule: `off`, or on every `every_hours` (due at once if it
    never ran, else an interval after its last run); neither: it as it is."""
    current = app.store.participant_sync(source.id)
    if off:
        if every_hours is not None:
            raise OperationError(
                "an interval and turning the schedule off cannot go together: give one"
            )
        return app.store.set_participant_sync(source.id, enabled=False, next_due_at=None)
    if every_hours is None:
        return current
    every = timedelta(hours=check_every_hours(every_hours))
    now = app.clock()
    if current is None or current.last_run_at is None:
        next_due = now
    else:
        next_due = max(now, current.last_run_at + every)
        if current.enabled and current.next_due_at is not None:
            next_due = min(next_due, max(now, current.next_due_at))
    return app.store.set_participant_sync(
        source.id, enabled=True, next_due_at=next_due, every_hours=every_hours
    )


def schedule_json(source: SourceRow, row: ParticipantSyncRow | None) -> dict[str, Any]:
    """The schedule as `participants schedule --json` and the API show it."""

    def instant(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "source": source.name,
        "scheduled": row is not None and row.enabled,
        "every_hours": row.every_hours if row is not None else None,
        "next_due_at": instant(row.next_due_at) if row is not None else None,
        "last_run_at": instant(row.last_run_at) if row is not None else None,
        "last_success_at": instant(row.last_success_at) if row is not None else None,
        "last_error": row.last_error if row is not None else None,
        "failures": row.failures if row is not None else 0,
        "last_counts": vars(row.last) if row is not None and row.last_success_at else None,
    }
