"""Participants in the store: each source's roster, and the feed made for each participant.

A participant's feed is created in the same transaction as its participant row, so a crash
cannot leave a feed nobody knows about. The feed's token is sealed (bridge.crypto) in the
participant row, so `participants list` can print the links again; the feed itself keeps
only the token's hash, as every feed does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from bridge.crypto import CredentialError
from bridge.partitions import HELD_MANGOES

from .feed_queries import FeedQueries, _get_feed
from .rows import FeedRow, NotFound
from .tables import FeedTable, ParticipantTable

ACTIVE = "active"
REVOKED_BY_HAND = "revoked"  # an active subscriber whose feed someone revoked (`feed revoke`)


@dataclass(frozen=True)
class ParticipantRow:
    """One participant of a source. `status` is "active", "left", "expired", or "revoked"
    when their feed was revoked by hand while they were active."""

    id: int
    source_id: int
    user_id: str
    name: str
    email: str
    mangoes: tuple[str, ...]
    status: str
    feed_id: int | None
    created_at: datetime
    updated_at: datetime
    revoked_at: datetime | None = None
    held_mangoes: tuple[str, ...] = ()  # the partitions their feed reads besides its own

    @property
    def active(self) -> bool:
        return self.status == ACTIVE and self.feed_id is not None


@dataclass(frozen=True)
class FeedSpec:
    """What a participant's feed is made of (the feed options of `feed create`)."""

    name: str
    source_ids: tuple[int, ...]
    timezone: str
    history_days: int
    horizon_days: int
    filters: dict[str, Any]
    alarm_minutes: int | None


def _row(row: ParticipantTable, feed: FeedTable | FeedRow | None) -> ParticipantRow:
    status = row.status
    if status == ACTIVE and feed is not None and feed.revoked_at is not None:
        status = REVOKED_BY_HAND
    return ParticipantRow(
        id=row.id,
        source_id=row.source_id,
        user_id=row.user_id,
        name=row.name,
        email=row.email,
        mangoes=tuple(row.mangoes or ()),
        status=status,
        feed_id=row.feed_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        revoked_at=row.revoked_at,
        held_mangoes=tuple(feed.filters.get(HELD_MANGOES) or ()) if feed is not None else (),
    )


def _get(db: DbSession, source_id: int, user_id: str) -> ParticipantTable | None:
    return db.scalar(
        select(ParticipantTable).where(
            ParticipantTable.source_id == source_id, ParticipantTable.user_id == user_id
        )
    )


def _feed_of(db: DbSession, row: ParticipantTable) -> FeedTable | None:
    return None if row.feed_id is None else _get_feed(db, row.feed_id)


class ParticipantQueries(FeedQueries):
    """Store methods behind `calbridge participants` and `/api/v1/participants`."""

    def participants(self, source_id: int) -> list[ParticipantRow]:
        """Every participant ever synced for the source (revoked ones too), by user id."""
        table = ParticipantTable
        query = (
            select(table, FeedTable)
            .outerjoin(FeedTable, FeedTable.id == table.feed_id)
            .where(table.source_id == source_id)
            .order_by(table.user_id)
        )
        with self._read() as db:
            return [_row(row, feed) for row, feed in db.execute(query)]

    def participant_holdings(self, source_id: int) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Each active participant with a live feed: user id → (email, the mangoes whose
        partitions their feed reads). One light query (webhook deliveries use it)."""
        table = ParticipantTable
        query = (
            select(table.user_id, table.email, FeedTable.filters)
            .join(FeedTable, FeedTable.id == table.feed_id)
            .where(
                table.source_id == source_id,
                table.status == ACTIVE,
                FeedTable.revoked_at.is_(None),
            )
        )
        with self._read() as db:
            return {
                user_id: (email, tuple((filters or {}).get(HELD_MANGOES) or ()))
                for user_id, email, filters in db.execute(query)
            }

    def participant(self, source_id: int, user_id: str) -> ParticipantRow | None:
        with self._read() as db:
            row = _get(db, source_id, user_id)
            return None if row is None else _row(row, _feed_of(db, row))

    def add_participant(
        self,
        source_id: int,
        user_id: str,
        *,
        name: str,
        email: str,
        mangoes: Sequence[str],
        feed: FeedSpec,
    ) -> tuple[ParticipantRow, FeedRow, str]:
        """Make the participant's feed and record (or re-activate) the participant, in one
        transaction; returns them with the feed's raw token (also kept sealed)."""
        now = self._clock()
        with self._write() as db:
            feed_row, token = self._add_feed(
                db,
                feed.name,
                feed.source_ids,
                feed.timezone,
                feed.history_days,
                feed.horizon_days,
                feed.filters,
                feed.alarm_minutes,
            )
            row = _get(db, source_id, user_id)
            if row is None:
                row = ParticipantTable(source_id=source_id, user_id=user_id, created_at=now)
                db.add(row)
            row.name, row.email, row.mangoes = name, email, list(mangoes)
            row.status, row.feed_id, row.revoked_at, row.updated_at = ACTIVE, feed_row.id, None, now
            row.token_encrypted = self._box.encrypt({"token": token})
            db.flush()
            return _row(row, feed_row), feed_row, token

    def update_participant(
        self,
        source_id: int,
        user_id: str,
        *,
        name: str,
        email: str,
        mangoes: Sequence[str],
        feed_filters: dict[str, Any] | None = None,
    ) -> ParticipantRow:
        """Keep a participant's new name, email and mangoes, and their feed's new
        `feed_filters` when given (its token and links stay as they are)."""
        with self._write() as db:
            row = _get(db, source_id, user_id)
            if row is None:
                raise NotFound(f"no participant {user_id} of source {source_id}")
            row.name, row.email, row.mangoes = name, email, list(mangoes)
            row.updated_at = self._clock()
            feed = _feed_of(db, row)
            if feed is not None and feed_filters is not None:
                feed.filters = feed_filters
            return _row(row, feed)

    def revoke_participant(self, source_id: int, user_id: str, status: str) -> ParticipantRow:
        """Revoke the participant's feed (its URLs answer 410, its join links stop working)
        and note why (`status`: "left" or "expired"); idempotent."""
        now = self._clock()
        with self._write() as db:
            row = _get(db, source_id, user_id)
            if row is None:
                raise NotFound(f"no participant {user_id} of source {source_id}")
            feed = _feed_of(db, row)
            if feed is not None:
                feed.revoked_at = feed.revoked_at or now
            if row.status == ACTIVE:
                row.status, row.revoked_at, row.updated_at = status, now, now
            row.token_encrypted = None  # a revoked feed's links are of no use to anyone
            return _row(row, feed)

    def participant_token(self, participant: ParticipantRow) -> str | None:
        """The raw token of an active participant's feed (None when revoked, or when it was
        sealed with a key that is gone: rotate the feed to get new links)."""
        with self._read() as db:
            sealed = db.scalar(
                select(ParticipantTable.token_encrypted).where(
                    ParticipantTable.id == participant.id
                )
            )
        if sealed is None:
            return None
        try:
            token = self._box.decrypt(sealed).get("token")
        except CredentialError:
            return None
        return token if isinstance(token, str) else None
