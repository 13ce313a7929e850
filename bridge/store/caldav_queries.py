"""CalDAV state: the password of each feed and share link, and each collection's sync log.

A collection's sync log is kept per owner ("f12", "s3"): every object it has shown, with its
ETag and the sync number at which it last changed. `sync_collection` compares the objects a
view has now with the stored ones and numbers the differences, all under one new number, so a
client that last synced at N is sent exactly the objects whose bytes changed after N. The
change is detected from the bytes, not inferred from upstream records: a series re-planned, a
session sliding out of the window or a rotated token's new join links are all changes, and an
upstream update that changes nothing a client sees is none.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import joinedload

from bridge.signing import hash_token
from feeds.calendar_objects import CalendarListing

from .base import StoreBase, insert_unless_present, storable_id
from .feed_queries import _feed_row, _share_row
from .rows import FeedRow, ShareRow, StoreError
from .tables import CalDavCollectionTable, CalDavObjectTable, FeedTable, ShareTable

# How long a removed object is remembered for clients that sync rarely; a client whose token
# is older than the removals forgotten since is told to sync again from scratch.
REMOVALS_KEPT = timedelta(days=30)
# Compared against when the username is unknown, so a wrong username costs what a wrong
# password does.
_NO_PASSWORD = hash_token("no such user")


class SyncTokenExpired(StoreError):
    """The sync number is unknown, or removals since it have been forgotten."""


@dataclass(frozen=True)
class ObjectChange:
    uid: str
    etag: str | None  # None: the object was removed


@dataclass(frozen=True)
class SyncChanges:
    number: int  # the collection's sync number now (the next token)
    changes: tuple[ObjectChange, ...]  # oldest change first, one per UID


class CalDavQueries(StoreBase):
    """Store methods for CalDAV logins and sync state."""

    def caldav_login(self, owner: str, password: str) -> FeedRow | ShareRow | None:
        """The feed ("f12") or share link ("s3") whose CalDAV password is `password`, or None.
        Costs the same whether the owner is unknown, the password wrong or right (revoked
        and expired rows are returned: check `.gone_reason(now)`)."""
        row, stored = self._caldav_row(owner)
        matches = hmac.compare_digest(stored or _NO_PASSWORD, hash_token(password))
        return row if matches and stored is not None else None

    def _caldav_row(self, owner: str) -> tuple[FeedRow | ShareRow | None, str | None]:
        kind, digits = owner[:1], owner[1:]
        if kind not in ("f", "s") or not digits.isdigit() or not storable_id(int(digits)):
            return None, None
        with self._read() as db:
            # One query: the feed with its sources (and the share link, for a share's login).
            with_sources = joinedload(FeedTable.sources)
            if kind == "f":
                feed = db.get(FeedTable, int(digits), options=[with_sources])
                if feed is None:
                    return None, None
                return _feed_row(feed), feed.caldav_password_hash
            share = db.get(ShareTable, int(digits))
            if share is None:
                return None, None
            feed = db.get(FeedTable, share.feed_id, options=[with_sources])
            assert feed is not None  # shares cascade with their feed
            return _share_row(share, _feed_row(feed)), share.caldav_password_hash

    def remember_caldav_password(self, owner: str, password: str) -> None:
        """Store the password of a feed or share link that has none yet (one created before
        CalDAV: its page, opened with the token, derives it)."""
        table = FeedTable if owner.startswith("f") else ShareTable
        with self._write() as db:
            db.execute(
                update(table)
                .where(table.id == int(owner[1:]), table.caldav_password_hash.is_(None))
                .values(caldav_password_hash=hash_token(password))
            )

    # -- sync state ------------------------------------------------------------------------

    def sync_collection(self, owner: str, listing: CalendarListing, now: datetime) -> int:
        """Record the objects `owner`'s collection has now; returns its sync number, raised by
        one when anything differs from what it had."""
        with self._read() as db:
            known = db.execute(
                select(CalDavCollectionTable.fingerprint, CalDavCollectionTable.sync_number).where(
                    CalDavCollectionTable.owner == owner
                )
            ).one_or_none()
        if known is not None and known.fingerprint == listing.fingerprint:
            return known.sync_number
        return self._write_listing(owner, listing, now)

    def _write_listing(self, owner: str, listing: CalendarListing, now: datetime) -> int:
        with self._write() as db:
            insert_unless_present(
                db,
                CalDavCollectionTable,
                {"owner": owner, "sync_number": 0, "fingerprint": "", "pruned_through": 0},
            )
            collection = db.scalars(  # the row lock (PostgreSQL) orders concurrent syncs
                select(CalDavCollectionTable)
                .where(CalDavCollectionTable.owner == owner)
                .with_for_update()
            ).one()
            if collection.fingerprint != listing.fingerprint:
                collection.sync_number += 1
                self._record(db, collection, dict(listing.etags()), now)
                collection.fingerprint = listing.fingerprint
            return collection.sync_number

    def _record(
        self,
        db: DbSession,
        collection: CalDavCollectionTable,
        objects: dict[str, str],
        now: datetime,
    ) -> None:
        table = CalDavObjectTable
        number = collection.sync_number
        stored = {
            uid: (etag, deleted_at)
            for uid, etag, deleted_at in db.execute(
                select(table.uid, table.etag, table.deleted_at).where(
                    table.owner == collection.owner
                )
            )
        }
        for uid, etag in objects.items():
            before = stored.get(uid)
            if before is None:
                db.add(table(owner=collection.owner, uid=uid, etag=etag, sync_number=number))
            elif before[0] != etag or before[1] is not None:
                db.execute(
                    update(table)
                    .where(table.owner == collection.owner, table.uid == uid)
                    .values(etag=etag, sync_number=number, deleted_at=None)
                )
        gone = [uid for uid, (_, deleted) in stored.items() if uid not in objects and not deleted]
        if gone:
            db.execute(
                update(table)
                .where(table.owner == collection.owner, table.uid.in_(gone))
                .values(sync_number=number, deleted_at=now)
            )
        forgotten = table.deleted_at < now - REMOVALS_KEPT
        last_forgotten = db.scalar(
            select(func.max(table.sync_number)).where(table.owner == collection.owner, forgotten)
        )
        if last_forgotten is not None:
            db.execute(delete(table).where(table.owner == collection.owner, forgotten))
            collection.pruned_through = max(collection.pruned_through, last_forgotten)

    def collection_changes(
        self, owner: str, listing: CalendarListing, since: int, now: datetime
    ) -> SyncChanges:
        """The objects of `owner`'s collection that changed after sync number `since` (0: all
        it has), once `listing` (what it has now) is recorded; the number in the answer is the
        one `listing` has. Raises SyncTokenExpired for a number it never gave or can no longer
        answer. An unchanged collection costs one read transaction."""
        collection = CalDavCollectionTable
        with self._read() as db:
            known = db.execute(
                select(
                    collection.fingerprint, collection.sync_number, collection.pruned_through
                ).where(collection.owner == owner)
            ).one_or_none()
            if known is not None and known.fingerprint == listing.fingerprint:
                return self._changes(db, owner, since, known.sync_number, known.pruned_through)
        # Changed: record it, then answer up to its number (a concurrent request may record a
        # later state meanwhile; its changes go to the next sync).
        number = self._write_listing(owner, listing, now)
        with self._read() as db:
            pruned = db.scalar(select(collection.pruned_through).where(collection.owner == owner))
            return self._changes(db, owner, since, number, pruned or 0)

    def _changes(
        self, db: DbSession, owner: str, since: int, number: int, pruned: int
    ) -> SyncChanges:
        if since > number or (0 < since < pruned):
            raise SyncTokenExpired(f"sync number {since} is not valid for {owner}")
        table = CalDavObjectTable
        query = select(table.uid, table.etag, table.deleted_at).where(
            table.owner == owner, table.sync_number > since, table.sync_number <= number
        )
        if since == 0:
            query = query.where(table.deleted_at.is_(None))
        rows = db.execute(query.order_by(table.sync_number, table.uid)).all()
        return SyncChanges(
            number,
            tuple(ObjectChange(uid, None if deleted else etag) for uid, etag, deleted in rows),
        )
