"""The participant-sync schedule in the store: which sources the workers re-sync from their
API roster, when next, and how the last run went (bridge.participants.schedule).

`claim_due_participant_syncs` moves each due row's `next_due_at` a hold later in one
conditional UPDATE, so sweeps in several worker processes never queue one source twice; the
job sets the real next time when it ends (`finish_participant_sync`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from .base import StoreBase, aware_utc
from .tables import ParticipantSyncTable


@dataclass(frozen=True)
class SyncCounts:
    """How many participant feeds one sync created, updated and revoked, and its errors."""

    created: int = 0
    updated: int = 0
    revoked: int = 0
    errors: int = 0


@dataclass(frozen=True)
class ParticipantSyncRow:
    """A source's participant-sync schedule; `last` holds the counts of the last good run."""

    source_id: int
    enabled: bool
    every_hours: int
    next_due_at: datetime | None
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    failures: int
    last: SyncCounts

    @property
    def every(self) -> timedelta:
        return timedelta(hours=self.every_hours)


def _sync_row(row: ParticipantSyncTable) -> ParticipantSyncRow:
    return ParticipantSyncRow(
        source_id=row.source_id,
        enabled=row.enabled,
        every_hours=row.every_hours,
        next_due_at=row.next_due_at,
        last_run_at=row.last_run_at,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        failures=row.failures,
        last=SyncCounts(row.created, row.updated, row.revoked, row.errors),
    )


class ParticipantSyncQueries(StoreBase):
    """Store methods behind the scheduled participant syncs."""

    def participant_sync(self, source_id: int) -> ParticipantSyncRow | None:
        """The source's schedule (None: its participants were never synced from the API)."""
        with self._read() as db:
            row = db.get(ParticipantSyncTable, source_id)
            return None if row is None else _sync_row(row)

    def set_participant_sync(
        self,
        source_id: int,
        *,
        enabled: bool,
        next_due_at: datetime | None,
        every_hours: int | None = None,
        default_every_hours: int = 24,
    ) -> ParticipantSyncRow:
        """Turn the source's schedule on or off and set its next run (keeping its interval
        unless `every_hours` is given; a new schedule gets `default_every_hours`)."""
        if next_due_at is not None:
            next_due_at = aware_utc(next_due_at, "next sync time")
        with self._write() as db:
            row = db.get(ParticipantSyncTable, source_id, with_for_update=True)
            if row is None:
                row = ParticipantSyncTable(
                    source_id=source_id,
                    every_hours=every_hours or default_every_hours,
                    failures=0,
                    created=0,
                    updated=0,
                    revoked=0,
                    errors=0,
                )
                db.add(row)
            elif every_hours is not None:
                row.every_hours = every_hours
            row.enabled = enabled
            row.next_due_at = next_due_at if enabled else None
            db.flush()
            return _sync_row(row)

    def claim_due_participant_syncs(self, now: datetime, hold: timedelta, limit: int) -> list[int]:
        """The sources whose sync is due by `now`, each moved `hold` later so that no other
        sweep queues it again meanwhile."""
        now = aware_utc(now, "sweep time")
        table = ParticipantSyncTable
        claimed = []
        with self._write() as db:
            due = db.scalars(
                select(table.source_id)
                .where(table.enabled, table.next_due_at <= now)
                .order_by(table.next_due_at)
                .limit(limit)
            ).all()
            for source_id in due:
                moved = db.execute(
                    update(table)
                    .where(table.source_id == source_id, table.enabled, table.next_due_at <= now)
                    .values(next_due_at=now + hold)
                ).rowcount
                if moved:
                    claimed.append(int(source_id))
        return claimed

    def finish_participant_sync(
        self,
        source_id: int,
        at: datetime,
        next_due_at: datetime,
        *,
        counts: SyncCounts | None = None,
        error: str | None = None,
    ) -> ParticipantSyncRow | None:
        """Record how a sync ended (its counts, or the error, counting consecutive failures)
        and when the next one is due; a schedule turned off meanwhile stays off."""
        at = aware_utc(at, "sync time")
        with self._write() as db:
            row = db.get(ParticipantSyncTable, source_id, with_for_update=True)
            if row is None:
                return None  # the source was removed while it synced
            row.last_run_at = at
            if row.enabled:
                row.next_due_at = aware_utc(next_due_at, "next sync time")
            if error is None:
                row.last_success_at, row.last_error, row.failures = at, None, 0
                counts = counts or SyncCounts()
                row.created, row.updated = counts.created, counts.updated
                row.revoked, row.errors = counts.revoked, counts.errors
            else:
                row.last_error = error
                row.failures += 1
            db.flush()
            return _sync_row(row)
