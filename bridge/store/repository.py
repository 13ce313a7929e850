"""`Store`: the one object the service talks to for persistent state.

Methods are thread-safe (each opens its own database session) and return frozen row
snapshots (bridge.store.rows). Lookups (by id, name or token) return None for something
unknown; actions on an unknown id (rotate, revoke, merge...) raise `NotFound`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, or_, select, update

from feeds.model import Session

from .archive import merge_into_archive, to_session
from .base import aware_utc
from .caldav_queries import CalDavQueries
from .change_log import ChangeLogQueries, log_changes, prune_changes
from .feed_queries import FeedQueries
from .instance_queries import InstanceQueries
from .participant_queries import ParticipantQueries
from .participant_sync_queries import ParticipantSyncQueries
from .push_queries import PushQueries
from .rows import MergeResult, NotFound, PartitionLike, StoreError, partition_of
from .schedule_queries import ScheduleQueries
from .source_queries import SourceQueries
from .tables import ArchivedSessionTable, FetchStateTable, SourceTable
from .webhook_queries import WebhookQueries


class Store(
    ParticipantQueries,
    ParticipantSyncQueries,
    SourceQueries,
    FeedQueries,
    ScheduleQueries,
    ChangeLogQueries,
    WebhookQueries,
    CalDavQueries,
    InstanceQueries,
    PushQueries,
):
    """Sources, feeds, share links, the session archive, upstream tokens, rendered feeds, push
    targets, participants and their sync schedule."""

    # -- session archive ---------------------------------------------------------------------

    def merge_sessions(
        self,
        partition: PartitionLike,
        sessions: Iterable[Session],
        window_start: datetime,
        window_end: datetime,
        now: datetime,
        *,
        skipped_ids: Iterable[str] = (),
        unidentified: int = 0,
    ) -> MergeResult:
        """Merge one complete upstream fetch of [window_start, window_end) into the archive.

        `partition` is what was fetched: a bridge.partitions.Partition-like object or a source
        id (the whole source). `skipped_ids` and `unidentified` are the fetch's unreadable
        records (FetchResult's fields of those names): their occurrences are never cancelled.
        Merges of the same source are serialised (row lock on PostgreSQL, BEGIN IMMEDIATE on
        SQLite), so concurrent refreshes cannot interleave. The row lock is FOR NO KEY UPDATE:
        it does not hold up rows that merely refer to the source (a participant sync creating
        thousands of feeds while their partitions are merged).
        """
        source_id, partition_key = partition_of(partition)
        window_start = aware_utc(window_start, "window start")
        window_end = aware_utc(window_end, "window end")
        now = aware_utc(now, "merge time")
        if window_end <= window_start:
            raise StoreError("the fetch window must end after it starts")
        sessions = list(sessions)
        with self._write() as db:
            kind = db.scalar(
                select(SourceTable.kind)
                .where(SourceTable.id == source_id)
                .with_for_update(key_share=True)
            )
            if kind is None:
                raise NotFound(f"no source with id {source_id}")
            for session in sessions:
                if session.source_kind.value != kind:
                    raise StoreError(
                        f"session {session.upstream_id} is from {session.source_kind.value}, "
                        f"but source {source_id} is a {kind} source"
                    )
            merged = merge_into_archive(
                db,
                (source_id, partition_key),
                sessions,
                window_start,
                window_end,
                now,
                skipped_ids=skipped_ids,
                unidentified=unidentified,
            )
            log_changes(db, (source_id, partition_key), merged.changes, now)
            if merged.changed_anything:  # render caches key on it: bumped with the data
                db.execute(
                    update(FetchStateTable)
                    .where(
                        FetchStateTable.source_id == source_id,
                        FetchStateTable.partition_key == partition_key,
                    )
                    .values(data_version=FetchStateTable.data_version + 1)
                )
            return merged

    def archived_sessions(
        self, partitions: Iterable[PartitionLike], start: datetime, end: datetime
    ) -> list[Session]:
        """Archived occurrences of the partitions overlapping [start, end), with sequence and
        changed_at set. Ordered by start, source id, partition, upstream id."""
        start, end = aware_utc(start, "start"), aware_utc(end, "end")
        table = ArchivedSessionTable
        overlapping = and_(table.start_at < end, table.end_at > start)
        return self._archived(_in_partitions(partitions), overlapping)

    def _archived(self, *conditions: ColumnElement[bool]) -> list[Session]:
        table = ArchivedSessionTable
        query = (
            select(table)
            .where(*conditions)
            .order_by(table.start_at, table.source_id, table.partition_key, table.upstream_id)
        )
        with self._read() as db:
            return [to_session(row) for row in db.scalars(query)]

    def prune_archive(self, ended_before: datetime) -> int:
        """Forget occurrences that ended before `ended_before`, and their changes (logging
        their removal); returns how many."""
        ended_before = aware_utc(ended_before, "prune bound")
        with self._write() as db:
            return prune_changes(db, ended_before, self._clock())


def _in_partitions(partitions: Iterable[PartitionLike]) -> ColumnElement[bool]:
    table = ArchivedSessionTable
    keys = sorted({partition_of(partition) for partition in partitions})
    if not keys:
        return false()
    return or_(
        *(
            and_(table.source_id == source_id, table.partition_key == partition_key)
            for source_id, partition_key in keys
        )
    )
