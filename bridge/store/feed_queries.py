"""Feeds and share links: random tokens stored as hashes, rotation, revocation, expiry."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session as DbSession

from bridge.signing import caldav_password, hash_token, new_token
from feeds.model import Scope
from feeds.rules import check_alarm_minutes
from feeds.timezones import load_zone

from .base import StoreBase, aware_utc, check_json_object, storable_id
from .direct import DirectQuery
from .rows import FeedRow, NotFound, ShareRow, StoreError
from .tables import FeedSourceTable, FeedTable, ShareTable, SourceTable

# The columns a FeedRow is made of, besides its sources (FeedSourceTable, in position order).
_FEED_ROW_COLUMNS = (
    FeedTable.id, FeedTable.name, FeedTable.timezone, FeedTable.history_days,
    FeedTable.horizon_days, FeedTable.filters, FeedTable.alarm_minutes, FeedTable.created_at,
    FeedTable.rotated_at, FeedTable.revoked_at, FeedTable.token_hash,
)  # fmt: skip


def _feed_row_of(values: Any, prefix: str, source_ids: Iterable[int]) -> FeedRow:
    """A FeedRow from the _FEED_ROW_COLUMNS of `values`, each under `prefix` + its key: a
    FeedTable (no prefix) or a row of a query over _FEED_COLUMNS ("feed_")."""
    fields = {column.key: getattr(values, prefix + column.key) for column in _FEED_ROW_COLUMNS}
    fields["filters"] = dict(fields["filters"])
    return FeedRow(source_ids=tuple(source_ids), **fields)


def _feed_row(row: FeedTable) -> FeedRow:
    return _feed_row_of(row, "", (link.source_id for link in row.sources))


# Token lookups run on every feed request, so they are one direct query each (see .direct):
# a feed row and its sources, labelled so a share's columns can sit beside them.
_FEED_COLUMNS = (
    *(column.label(f"feed_{column.key}") for column in _FEED_ROW_COLUMNS),
    FeedSourceTable.source_id,
)


_FEED_BY_TOKEN = (
    select(*_FEED_COLUMNS)
    .outerjoin(FeedSourceTable, FeedSourceTable.feed_id == FeedTable.id)
    .where(FeedTable.token_hash == bindparam("token_hash"))
    .order_by(FeedSourceTable.position)
)
_SHARE_COLUMNS = tuple(
    column.label(f"share_{column.key}")
    for column in (
        ShareTable.id, ShareTable.scope, ShareTable.created_at, ShareTable.expires_at,
        ShareTable.revoked_at, ShareTable.token_hash,
    )
)  # fmt: skip
_SHARE_BY_TOKEN = (
    select(*_SHARE_COLUMNS, *_FEED_COLUMNS)
    .join(FeedTable, FeedTable.id == ShareTable.feed_id)
    .outerjoin(FeedSourceTable, FeedSourceTable.feed_id == FeedTable.id)
    .where(ShareTable.token_hash == bindparam("token_hash"))
    .order_by(FeedSourceTable.position)
)


def _feed_from_rows(rows: Sequence[Any]) -> FeedRow:
    """A FeedRow from the rows of a query over _FEED_COLUMNS (one row per source, in order)."""
    source_ids = (row.source_id for row in rows if row.source_id is not None)
    return _feed_row_of(rows[0], "feed_", source_ids)


def _share_from_rows(rows: Sequence[Any]) -> ShareRow:
    """A ShareRow from the rows of _SHARE_BY_TOKEN."""
    first = rows[0]
    return ShareRow(
        id=first.share_id,
        feed=_feed_from_rows(rows),
        scope=Scope(first.share_scope),
        created_at=first.share_created_at,
        expires_at=first.share_expires_at,
        revoked_at=first.share_revoked_at,
        token_hash=first.share_token_hash,
    )


def _share_row(row: ShareTable, feed: FeedRow) -> ShareRow:
    return ShareRow(
        id=row.id,
        feed=feed,
        scope=Scope(row.scope),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        token_hash=row.token_hash,
    )


class FeedQueries(StoreBase):
    """Store methods for feeds and their share links."""

    @cached_property
    def _feed_by_token(self) -> DirectQuery:
        return DirectQuery(self._direct_engine, _FEED_BY_TOKEN)

    @cached_property
    def _share_by_token(self) -> DirectQuery:
        return DirectQuery(self._direct_engine, _SHARE_BY_TOKEN)

    def create_feed(
        self,
        name: str,
        source_ids: Sequence[int],
        timezone: str = "UTC",
        history_days: int = 30,
        horizon_days: int = 180,
        filters: dict[str, Any] | None = None,
        alarm_minutes: int | None = 10,
    ) -> tuple[FeedRow, str]:
        """Create a feed; returns it with its raw token (shown this once, never stored)."""
        with self._write() as db:
            return self._add_feed(
                db, name, source_ids, timezone, history_days, horizon_days, filters, alarm_minutes
            )

    def _add_feed(
        self,
        db: DbSession,
        name: str,
        source_ids: Sequence[int],
        timezone: str,
        history_days: int,
        horizon_days: int,
        filters: dict[str, Any] | None,
        alarm_minutes: int | None,
    ) -> tuple[FeedRow, str]:
        """`create_feed` inside the caller's transaction (participant feeds are made in the
        transaction that records their participant)."""
        name = name.strip()
        if not name or len(name) > 200:
            raise StoreError("a feed name must be 1 to 200 characters long")
        ordered_ids = list(dict.fromkeys(source_ids))
        if not ordered_ids:
            raise StoreError("a feed needs at least one source")
        load_zone(timezone, StoreError)
        _check_count(history_days, "history_days", minimum=0)
        _check_count(horizon_days, "horizon_days", minimum=1)
        check_alarm_minutes(alarm_minutes, "alarm_minutes", StoreError)
        filters = dict(filters or {})
        check_json_object(filters, "feed filters")
        token = new_token()
        for source_id in ordered_ids:
            if db.get(SourceTable, source_id) is None:
                raise NotFound(f"no source with id {source_id}")
        row = FeedTable(
            name=name,
            timezone=timezone,
            history_days=history_days,
            horizon_days=horizon_days,
            filters=filters,
            alarm_minutes=alarm_minutes,
            token_hash=hash_token(token),
            caldav_password_hash=hash_token(caldav_password(token)),
            created_at=self._clock(),
            sources=[
                FeedSourceTable(source_id=source_id, position=position)
                for position, source_id in enumerate(ordered_ids)
            ],
        )
        db.add(row)
        db.flush()
        return _feed_row(row), token

    def feed(self, feed_id: int) -> FeedRow | None:
        if not storable_id(feed_id):
            return None
        with self._read() as db:
            row = db.get(FeedTable, feed_id)
            return None if row is None else _feed_row(row)

    def list_feeds(self) -> list[FeedRow]:
        with self._read() as db:
            return [_feed_row(row) for row in db.scalars(select(FeedTable).order_by("id"))]

    def feed_by_token(self, raw: str) -> FeedRow | None:
        """The feed whose current token is `raw` (revoked feeds too: check `.gone_reason(now)`)."""
        rows = self._feed_by_token.all(token_hash=hash_token(raw))
        return _feed_from_rows(rows) if rows else None

    def rotate_feed(self, feed_id: int) -> str:
        """Give the feed a new token; the old one is unknown from now on. Returns the new token."""
        token = new_token()
        with self._write() as db:
            row = _get_feed(db, feed_id)
            if row.revoked_at is not None:
                raise StoreError(f"feed {feed_id} is revoked; create a new feed instead")
            row.token_hash = hash_token(token)
            row.caldav_password_hash = hash_token(caldav_password(token))
            row.rotated_at = self._clock()
        return token

    def revoke_feed(self, feed_id: int) -> FeedRow:
        """Revoke the feed (and with it its share links); idempotent."""
        with self._write() as db:
            row = _get_feed(db, feed_id)
            if row.revoked_at is None:
                row.revoked_at = self._clock()
            return _feed_row(row)

    # -- share links -------------------------------------------------------------------------

    def create_share(
        self, feed_id: int, scope: Scope | str = Scope.FULL, expires_at: datetime | None = None
    ) -> tuple[ShareRow, str]:
        """A new share link for the feed; returns it with its raw token (shown once)."""
        try:
            share_scope = Scope(scope)
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise StoreError(f"unknown scope {scope!r} (known: {known})") from None
        if expires_at is not None:
            expires_at = aware_utc(expires_at, "expiry")
        token = new_token()
        with self._write() as db:
            feed = _get_feed(db, feed_id)
            if feed.revoked_at is not None:
                raise StoreError(f"feed {feed_id} is revoked; it cannot be shared")
            row = ShareTable(
                feed_id=feed_id,
                scope=share_scope.value,
                token_hash=hash_token(token),
                caldav_password_hash=hash_token(caldav_password(token)),
                created_at=self._clock(),
                expires_at=expires_at,
            )
            db.add(row)
            db.flush()
            return _share_row(row, _feed_row(feed)), token

    def share(self, share_id: int) -> ShareRow | None:
        if not storable_id(share_id):
            return None
        with self._read() as db:
            row = db.get(ShareTable, share_id)
            if row is None:
                return None
            return _share_row(row, _feed_row(_get_feed(db, row.feed_id)))

    def share_by_token(self, raw: str) -> ShareRow | None:
        """The share link whose token is `raw` (revoked/expired too: check `.gone_reason(now)`)."""
        rows = self._share_by_token.all(token_hash=hash_token(raw))
        return _share_from_rows(rows) if rows else None

    def list_shares(self, feed_id: int) -> list[ShareRow]:
        with self._read() as db:
            feed = _feed_row(_get_feed(db, feed_id))
            query = select(ShareTable).where(ShareTable.feed_id == feed_id).order_by("id")
            return [_share_row(row, feed) for row in db.scalars(query)]

    def revoke_share(self, share_id: int) -> ShareRow:
        """Revoke one share link; idempotent."""
        with self._write() as db:
            row = db.get(ShareTable, share_id)
            if row is None:
                raise NotFound(f"no share link with id {share_id}")
            if row.revoked_at is None:
                row.revoked_at = self._clock()
            return _share_row(row, _feed_row(_get_feed(db, row.feed_id)))


def _get_feed(db: DbSession, feed_id: int) -> FeedTable:
    row = db.get(FeedTable, feed_id) if storable_id(feed_id) else None
    if row is None:
        raise NotFound(f"no feed with id {feed_id}")
    return row


def _check_count(value: int, what: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise StoreError(f"{what} must be a whole number of at least {minimum}, got {value!r}")
