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

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session as DbSession

from bridge.signing import hash_token

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


def fingerprint(objects: Sequence[tuple[str, str]]) -> str:
    """A digest of a collection's (uid, etag) pairs, in any order."""
    digest = hashlib.sha256()
    for uid, etag in sorted(objects):
        digest.update(f"{uid}\x00{etag}\x00".encode())
    return digest.hexdigest()


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
            if kind == "f":
                feed = db.get(FeedTable, int(digits))
                if feed is None:
                    return None, None
                return _feed_row(feed), feed.caldav_password_hash
            share = db.get(ShareTable, int(digits))
            if share is None:
                return None, None
            feed = db.get(FeedTable, share.feed_id)
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

    def sync_collection(self, owner: str, objects: Sequence[tuple[str, str]], now: datetime) -> int:
        """Record the (uid, etag) pairs `owner`'s collection has now; returns its sync number,
        raised by one when anything differs from what it had."""
        current = fingerprint(objects)
        with self._read() as db:
            known = db.get(CalDavCollectionTable, owner)
            if known is not None and known.fingerprint == current:
                return known.sync_number
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
            if collection.fingerprint != current:
                collection.sync_number += 1
                self._record(db, collection, dict(objects), now)
                collection.fingerprint = current
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

    def collection_changes(self, owner: str, since: int, through: int) -> SyncChanges:
        """The objects of `owner`'s collection that changed after sync number `since` (0: all
        it has) up to `through` (the number the caller read the collection at: an object that
        changed again since is reported by the next sync). Raises SyncTokenExpired for a
        number it never gave or can no longer answer."""
        table = CalDavObjectTable
        with self._read() as db:
            collection = db.get(CalDavCollectionTable, owner)
            number = 0 if collection is None else min(collection.sync_number, through)
            pruned = 0 if collection is None else collection.pruned_through
            if since > number or (0 < since < pruned):
                raise SyncTokenExpired(f"sync number {since} is not valid for {owner}")
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
