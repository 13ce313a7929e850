"""Fetch states: what every process knows about each partition's fetches and refresh schedule.

One row per partition (a source plus a feed's narrowing filters). Besides the outcome of the
latest fetches it holds the schedule the background jobs share (bridge.jobs):

- `horizon_days`: the widest horizon of the feeds reading the partition, kept up to date when
  a feed is read, so a fetch never has to list the feeds;
- `next_due_at`: when the scheduler fetches it next;
- `queued_at` / `force_requested`: a refresh job is queued (at most one per partition, claimed
  with one conditional UPDATE, so any number of web and worker processes can ask at once);
- `last_polled_at`: when a subscriber last read it (coarsely), so polled partitions come first;
- `data_version`: rises with every fetch that changed the archive; render caches key on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, tuple_, update

from .base import StoreBase, aware_utc, insert_unless_present, upsert
from .rows import FetchState, NotFound, PartitionLike, partition_of
from .tables import FeedTable, FetchStateTable, SourceTable

MAX_ERROR_LENGTH = 2000
# A queued job not started within this long is taken as lost (its worker died): asking again
# queues a new one.
QUEUED_MAX_AGE = timedelta(minutes=10)
_LOOKUP_CHUNK = 500  # partitions per IN (...) clause


def _state(row: FetchStateTable) -> FetchState:
    return FetchState(
        row.source_id,
        row.partition_key,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        failing_since=row.failing_since,
        registered=True,
        horizon_days=row.horizon_days,
        next_due_at=row.next_due_at,
        queued_at=row.queued_at,
        force_requested=row.force_requested,
        last_polled_at=row.last_polled_at,
        data_version=row.data_version,
    )


def _key_of(partition: PartitionLike) -> Any:
    return and_(
        FetchStateTable.source_id == partition_of(partition)[0],
        FetchStateTable.partition_key == partition_of(partition)[1],
    )


def _not_queued(now: datetime) -> Any:
    return or_(
        FetchStateTable.queued_at.is_(None), FetchStateTable.queued_at < now - QUEUED_MAX_AGE
    )


class ScheduleQueries(StoreBase):
    """Store methods for fetch outcomes and the refresh schedule of partitions."""

    def fetch_state(self, partition: PartitionLike) -> FetchState:
        """The partition's fetch state (all None, `registered` False, when never heard of)."""
        return self.fetch_states([partition])[0]

    def fetch_states(self, partitions: Sequence[PartitionLike]) -> list[FetchState]:
        """The fetch states of several partitions, in their order, in one query per 500."""
        keys = [partition_of(p) for p in partitions]
        found: dict[tuple[int, str], FetchState] = {}
        with self._read() as db:
            for at in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = keys[at : at + _LOOKUP_CHUNK]
                column = tuple_(FetchStateTable.source_id, FetchStateTable.partition_key)
                for row in db.scalars(select(FetchStateTable).where(column.in_(chunk))):
                    found[(row.source_id, row.partition_key)] = _state(row)
        return [found.get(key) or FetchState(*key) for key in keys]

    def register_partition(
        self, partition: PartitionLike, horizon_days: int, now: datetime
    ) -> FetchState:
        """Make sure the partition is scheduled and fetched at least `horizon_days` ahead.

        A new partition is due at once. A wider horizon than it had is recorded (and also makes
        it due at once); a narrower one changes nothing, so feeds sharing a partition never see
        each other's narrower fetch.
        """
        source_id, partition_key = partition_of(partition)
        now = aware_utc(now, "registration time")
        key = {"source_id": source_id, "partition_key": partition_key}
        with self._write() as db:
            if db.get(SourceTable, source_id) is None:
                raise NotFound(f"no source with id {source_id}")
            new = {**key, "horizon_days": horizon_days, "next_due_at": now}
            # Two first readers of a new feed may register it at once: one insert wins.
            insert_unless_present(db, FetchStateTable, new)
            db.execute(
                update(FetchStateTable)
                .where(_key_of(partition), FetchStateTable.horizon_days < horizon_days)
                .values(horizon_days=horizon_days, next_due_at=now)
            )
            row = db.get(FetchStateTable, (source_id, partition_key), populate_existing=True)
            assert row is not None
            return _state(row)

    def claim_refresh(self, partition: PartitionLike, now: datetime, *, force: bool) -> bool:
        """Mark a refresh of the partition as queued; False when one is queued already (a
        forced request still marks the queued one forced). The row is locked for the
        decision, so no job can start between seeing the mark and setting the force flag."""
        now = aware_utc(now, "request time")
        with self._write() as db:
            row = db.get(FetchStateTable, partition_of(partition), with_for_update=True)
            if row is None:
                return False
            claimed = row.queued_at is None or row.queued_at < now - QUEUED_MAX_AGE
            if claimed:
                row.queued_at = now
            row.force_requested = row.force_requested or force
        return claimed

    def release_claim(self, partition: PartitionLike, *, unless_forced: bool = False) -> bool:
        """Undo `claim_refresh` (the job could not be queued, or is not needed). With
        `unless_forced`, a claim a forced request joined is kept; returns whether released."""
        condition = [_key_of(partition)]
        if unless_forced:
            condition.append(FetchStateTable.force_requested.is_(False))
        with self._write() as db:
            released = db.execute(
                update(FetchStateTable).where(*condition).values(queued_at=None)
            ).rowcount
        return bool(released)

    def start_refresh(
        self, partition: PartitionLike, now: datetime, retry_at: datetime
    ) -> FetchState:
        """A refresh job starts: clear its queued mark (so one more can be queued meanwhile)
        and set `next_due_at` to `retry_at`, which stands if the job dies before it records
        its outcome. Returns the state as it was (with the force flag it was queued with)."""
        now = aware_utc(now, "start time")
        with self._write() as db:
            row = db.get(FetchStateTable, partition_of(partition), with_for_update=True)
            if row is None:
                return FetchState(*partition_of(partition))
            before = _state(row)
            row.queued_at = None
            row.force_requested = False
            row.next_due_at = aware_utc(retry_at, "retry time")
            return before

    def record_schedule(self, partition: PartitionLike, next_due_at: datetime) -> None:
        """Set when the partition is fetched next (a refresh that was skipped)."""
        due = aware_utc(next_due_at, "next fetch time")
        with self._write() as db:
            db.execute(update(FetchStateTable).where(_key_of(partition)).values(next_due_at=due))

    def due_partitions(
        self, now: datetime, *, polled_since: datetime, limit: int
    ) -> list[tuple[int, str, bool]]:
        """Partitions whose next fetch is due and that have no job queued, polled ones first
        (then the longest overdue): (source id, partition key, polled since `polled_since`)."""
        now = aware_utc(now, "sweep time")
        polled = case((FetchStateTable.last_polled_at >= polled_since, 1), else_=0)
        statement = (
            select(FetchStateTable.source_id, FetchStateTable.partition_key, polled)
            .where(
                or_(FetchStateTable.next_due_at <= now, FetchStateTable.force_requested),
                _not_queued(now),
            )
            .order_by(polled.desc(), FetchStateTable.next_due_at)
            .limit(limit)
        )
        with self._read() as db:
            return [(row[0], row[1], bool(row[2])) for row in db.execute(statement)]

    def note_polls(self, partitions: Iterable[PartitionLike], now: datetime) -> None:
        """Record that subscribers read these partitions now."""
        keys = [partition_of(p) for p in partitions]
        if not keys:
            return
        column = tuple_(FetchStateTable.source_id, FetchStateTable.partition_key)
        with self._write() as db:
            db.execute(
                update(FetchStateTable)
                .where(column.in_(keys))
                .values(last_polled_at=aware_utc(now, "poll time"))
            )

    def record_fetch(
        self,
        partition: PartitionLike,
        ok: bool,
        error: str | None,
        at: datetime,
        *,
        started_at: datetime | None = None,
        next_due_at: datetime | None = None,
    ) -> None:
        """Note the outcome of a fetch of a partition (or a source id: the whole source).

        Sets last_success_at, or last_error and last_error_at, on the partition's state and
        on the source's summary. The first failure after a success also sets the partition's
        failing_since (to `started_at`, when the failed fetch began, else `at`); later
        failures keep it, and a success clears it, so every worker and a restart date the
        outage alike. `next_due_at` schedules the next fetch.
        """
        source_id, partition_key = partition_of(partition)
        at = aware_utc(at, "fetch time")
        if ok:
            values: dict[str, Any] = {"last_success_at": at}
        else:
            values = {
                "last_error": (error or "unknown error")[:MAX_ERROR_LENGTH],
                "last_error_at": at,
            }
        with self._write() as db:
            row = db.get(SourceTable, source_id)
            if row is None:
                raise NotFound(f"no source with id {source_id}")
            for name, value in values.items():
                setattr(row, name, value)
            key = {"source_id": source_id, "partition_key": partition_key}
            if ok:
                state = {**key, **values, "failing_since": None}
                upsert(db, FetchStateTable, state, list(key))
            else:
                since = aware_utc(started_at, "fetch start") if started_at is not None else at
                state = {**key, **values, "failing_since": since}
                upsert(db, FetchStateTable, state, list(key), keep=["failing_since"])
            if next_due_at is not None:
                due = aware_utc(next_due_at, "next fetch time")
                db.execute(
                    update(FetchStateTable).where(_key_of(partition)).values(next_due_at=due)
                )

    def schedule_summary(self, now: datetime, polled_since: datetime) -> tuple[int, int, float]:
        """(partitions, partitions queued, age in seconds of the oldest good data among the
        partitions polled since `polled_since`), for the metrics."""
        now = aware_utc(now, "summary time")
        polled = FetchStateTable.last_polled_at >= polled_since
        with self._read() as db:
            count, queued, oldest = db.execute(
                select(
                    func.count(),
                    func.count(FetchStateTable.queued_at),
                    func.min(case((polled, FetchStateTable.last_success_at))),
                )
            ).one()
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        return count, queued, max(0.0, age)

    def longest_history_days(self) -> int:
        """The longest history any live feed shows (what pruning the archive must keep)."""
        with self._read() as db:
            longest = db.scalar(
                select(func.max(FeedTable.history_days)).where(FeedTable.revoked_at.is_(None))
            )
        return longest or 0
