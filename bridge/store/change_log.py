"""The change log: what every merge changed, numbered in commit order, read by "since N".

Merges call `log_changes` inside their own transaction: the numbers come from the one row of
`change_counter`, whose row lock (PostgreSQL) or the database write lock (SQLite) orders
concurrent merges, so a reader that saw number N has seen every change numbered up to N.
Pruning the archive logs the removal of the occurrences it forgets, and forgets the changes
logged before the same instant (a prefix of the numbers, remembered as `pruned_through`);
asking for changes since an older number raises `ChangesPruned` (the reader must read
everything again, as a CalDAV client does on `valid-sync-token`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, false, func, insert, or_, select, update
from sqlalchemy.orm import Session as DbSession

from .archive import forget_sequences
from .base import StoreBase
from .rows import ArchiveChange, ChangeKind, PartitionLike, StoreError, partition_of
from .tables import ArchivedSessionTable, ChangeCounterTable, ChangeTable


class ChangesPruned(StoreError):
    """The changes since the given number are no longer all known."""


@dataclass(frozen=True)
class LoggedChange:
    number: int
    kind: ChangeKind
    source_id: int
    partition_key: str
    upstream_id: str
    changed_at: datetime
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ChangePage:
    """Changes after `since`, oldest first; `latest` is the newest number of all (the next
    `since` once `more` is False)."""

    since: int
    latest: int
    changes: tuple[LoggedChange, ...]
    more: bool


def log_changes(
    db: DbSession, partition: tuple[int, str], changes: Sequence[ArchiveChange], at: datetime
) -> None:
    """Number and record `changes` of `partition` in the caller's transaction."""
    if not changes:
        return
    counter = ChangeCounterTable
    last = db.execute(
        update(counter)
        .where(counter.id == 1)
        .values(last_number=counter.last_number + len(changes))
        .returning(counter.last_number)
    ).scalar()
    if last is None:  # the migration creates the row; a database emptied by hand lacks it
        last = len(changes)
        db.add(ChangeCounterTable(id=1, last_number=last, pruned_through=0))
        db.flush()
    first = last - len(changes) + 1
    db.execute(
        insert(ChangeTable),
        [
            {
                "number": first + offset,
                "source_id": partition[0],
                "partition_key": partition[1],
                "upstream_id": change.upstream_id,
                "kind": change.kind.value,
                "changed_at": at,
                "start_at": change.start,
                "end_at": change.end,
            }
            for offset, change in enumerate(changes)
        ],
    )


def prune_changes(db: DbSession, ended_before: datetime, at: datetime) -> int:
    """Forget archived occurrences that ended before `ended_before` and log each as removed,
    and forget the changes logged before that same instant (a prefix of the numbers: what
    no feed can show any more). Returns how many occurrences were forgotten."""
    table = ArchivedSessionTable
    gone = db.execute(
        delete(table)
        .where(table.end_at < ended_before)
        .returning(
            table.source_id, table.partition_key, table.upstream_id, table.start_at, table.end_at
        )
    ).all()  # RETURNING: a concurrent prune that deleted them first logs them, not this one
    pruned = db.scalar(
        select(func.max(ChangeTable.number)).where(ChangeTable.changed_at < ended_before)
    )
    if pruned is not None:
        db.execute(delete(ChangeTable).where(ChangeTable.number <= pruned))
        counter = ChangeCounterTable
        db.execute(
            update(counter)
            .where(counter.id == 1, counter.pruned_through < pruned)
            .values(pruned_through=pruned)
        )
    forget_sequences(db, ((source_id, upstream_id) for source_id, _, upstream_id, *_ in gone))
    by_partition: dict[tuple[int, str], list[ArchiveChange]] = {}
    for source_id, key, upstream_id, start, end in gone:
        change = ArchiveChange(upstream_id, ChangeKind.REMOVED, start, end)
        by_partition.setdefault((source_id, key), []).append(change)
    for partition, changes in sorted(by_partition.items()):
        log_changes(db, partition, changes, at)
    return len(gone)


class ChangeLogQueries(StoreBase):
    """Store methods that read the change log."""

    def changes_since(
        self, partitions: Iterable[PartitionLike], since: int, *, limit: int = 1000
    ) -> ChangePage:
        """The partitions' changes numbered after `since` (at most `limit`, oldest first);
        `since` 0 means every change still kept."""
        keys = sorted({partition_of(p) for p in partitions})
        in_partitions = or_(
            false(),
            *(and_(ChangeTable.source_id == s, ChangeTable.partition_key == k) for s, k in keys),
        )
        with self._read() as db:
            latest, pruned_through = db.execute(
                select(ChangeCounterTable.last_number, ChangeCounterTable.pruned_through)
            ).one_or_none() or (0, 0)
            if 0 < since < pruned_through or since > latest:
                raise ChangesPruned(
                    f"the changes since {since} are not known (the log starts after "
                    f"{pruned_through} and ends at {latest}): read the whole feed again and "
                    f"ask for the changes since {latest}"
                )
            rows = db.scalars(
                select(ChangeTable)
                .where(ChangeTable.number > since, in_partitions)
                .order_by(ChangeTable.number)
                .limit(limit + 1)
            ).all()
        changes = tuple(
            LoggedChange(
                row.number,
                ChangeKind(row.kind),
                row.source_id,
                row.partition_key,
                row.upstream_id,
                row.changed_at,
                row.start_at,
                row.end_at,
            )
            for row in rows[:limit]
        )
        more = len(rows) > limit
        return ChangePage(since, changes[-1].number if more else latest, changes, more)

    def latest_change_number(self) -> int:
        with self._read() as db:
            return int(db.scalar(select(ChangeCounterTable.last_number)) or 0)
