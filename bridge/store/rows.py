"""What the store hands out: immutable snapshots of rows, detached from the database session.

The web layer decides 404 versus 410 from these: an unknown token gives no row at all; a
known but revoked or expired one gives a row whose `gone_reason(now)` says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from bridge.errors import OperationError
from bridge.signing import token_generation
from feeds.model import Scope, SourceKind


class StoreError(Exception):
    """A request the store refuses (duplicate name, bad value...); the message says why."""


class NotFound(StoreError, OperationError):
    """The id or name given names no row: raised by the store's actions (its lookups return
    None instead) and by bridge.operations. A StoreError for the store's callers and an
    OperationError for the operations' callers (the admin API answers 404 for it)."""


class PartitionRef(Protocol):
    """One upstream query of a source: the source plus a feed's narrowing filters.

    `key` is "" for the whole source. bridge.partitions.Partition fits; a plain source id
    stands for the whole-source partition wherever the store accepts a partition.
    """

    @property
    def source_id(self) -> int: ...

    @property
    def key(self) -> str: ...


PartitionLike = int | PartitionRef


def partition_of(partition: PartitionLike) -> tuple[int, str]:
    """(source id, partition key) of a partition or a bare source id."""
    if isinstance(partition, int):
        return partition, ""
    return partition.source_id, partition.key


class _FetchOutcome:
    last_success_at: datetime | None
    last_error_at: datetime | None

    @property
    def failing(self) -> bool:
        """True when the latest fetch failed (an error newer than the last success)."""
        if self.last_error_at is None:
            return False
        return self.last_success_at is None or self.last_error_at > self.last_success_at


@dataclass(frozen=True)
class SourceRow(_FetchOutcome):
    """A configured upstream account (credentials left out: see `Store.source_credentials`).

    The last_* fields summarise the latest fetches of any of its partitions.
    """

    id: int
    name: str
    kind: SourceKind
    settings: dict[str, Any] = field(hash=False)
    created_at: datetime
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None


@dataclass(frozen=True)
class FetchState(_FetchOutcome):
    """The latest fetch outcomes of one partition; all None when it was never fetched.

    `failing_since` is when the current outage began: the start of the first failed fetch
    after the last success (None while the partition is not failing).
    """

    source_id: int
    partition_key: str = ""
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failing_since: datetime | None = None
    # The refresh schedule (see tables.FetchStateTable); `registered` is False for a partition
    # the store has never heard of.
    registered: bool = False
    horizon_days: int = 0
    next_due_at: datetime | None = None
    queued_at: datetime | None = None
    force_requested: bool = False
    last_polled_at: datetime | None = None
    data_version: int = 0

    @property
    def last_attempt_at(self) -> datetime | None:
        """When the latest fetch (good or failed) ended."""
        ends = [at for at in (self.last_success_at, self.last_error_at) if at is not None]
        return max(ends, default=None)


@dataclass(frozen=True)
class FeedRow:
    id: int
    name: str
    source_ids: tuple[int, ...]
    timezone: str
    history_days: int
    horizon_days: int
    filters: dict[str, Any] = field(hash=False)
    alarm_minutes: int | None
    created_at: datetime
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None
    token_hash: str = field(repr=False, kw_only=True)

    @property
    def owner(self) -> str:
        """The owner name used in join tokens published by this feed."""
        return f"f{self.id}"

    @property
    def generation(self) -> str:
        """The generation of the feed's current token, which its join links carry."""
        return token_generation(self.token_hash)

    def gone_reason(self, now: datetime) -> str | None:
        """ "revoked" once the feed was revoked (at once, whatever `now` says), else None."""
        return "revoked" if self.revoked_at is not None else None


@dataclass(frozen=True)
class ShareRow:
    """A share link; `feed` is the feed it shows (a revoked feed takes its shares with it)."""

    id: int
    feed: FeedRow
    scope: Scope
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    token_hash: str = field(repr=False, kw_only=True)

    @property
    def feed_id(self) -> int:
        return self.feed.id

    @property
    def owner(self) -> str:
        """The owner name used in join tokens published by this share link."""
        return f"s{self.id}"

    @property
    def generation(self) -> str:
        """The generation of the share link's own token, which its join links carry (not the
        feed's: rotating the feed leaves its share links, and their join links, working)."""
        return token_generation(self.token_hash)

    def gone_reason(self, now: datetime) -> str | None:
        """ "revoked" (the link or its feed), "expired", or None while the link works."""
        if self.revoked_at is not None:
            return "revoked"
        if self.feed.gone_reason(now) is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return None


class ChangeKind(StrEnum):
    """What happened to an occurrence, as the change log records it."""

    ADDED = "added"
    CHANGED = "changed"  # its content changed, or it was listed again after it vanished
    CANCELLED = "cancelled"
    REMOVED = "removed"  # pruned from the archive: it ended before every feed's history


@dataclass(frozen=True)
class ArchiveChange:
    """One occurrence a merge (or a prune) changed."""

    upstream_id: str
    kind: ChangeKind
    start: datetime
    end: datetime


@dataclass(frozen=True)
class MergeResult:
    """What one merge did. Each listed session counts once in inserted, changed, restored or
    unchanged; `vanished` counts archived occurrences in the window upstream stopped listing.

    `held` counts upcoming occurrences upstream stopped listing whose cancellation was held
    (see bridge.store.archive); they are unchanged for now. `holds_started` counts those of
    them whose hold began in this merge (a hold lasting several fetches counts once).
    `confirm_at` is when the first of them may be published, so when a read can confirm it
    (None when nothing waits for one).
    """

    inserted: int = 0
    changed: int = 0
    vanished: int = 0
    unchanged: int = 0
    restored: int = 0
    held: int = 0
    holds_started: int = 0
    confirm_at: datetime | None = None
    # What the change log records, in the merge's transaction (not compared: the counts are
    # the merge's outcome, these its detail).
    changes: tuple[ArchiveChange, ...] = field(default=(), compare=False)

    @property
    def changed_anything(self) -> bool:
        """True when the archive differs from before the merge (a render may be outdated)."""
        return bool(self.inserted or self.changed or self.vanished or self.restored)
