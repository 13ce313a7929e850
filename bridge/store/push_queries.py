"""Push targets (CalDAV calendars of users' own, bridge.push) and the events pushed into each.

The password is sealed with the store's `CredentialBox`, like source credentials. Each event
calbridge creates remotely is recorded (`record_pushed`) as soon as the server accepted it,
so a push that stops half-way (an error, a killed worker) knows exactly what the remote
holds and the next one carries on from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from feeds.calendar_objects import fingerprint

from .base import StoreBase, aware_utc, storable_id, upsert
from .rows import NotFound, StoreError
from .tables import FeedSourceTable, PushObjectTable, PushTargetTable


@dataclass(frozen=True)
class PushTargetRow:
    """A push target as stored (never its password: `push_password` opens it)."""

    id: int
    feed_id: int
    url: str
    username: str
    created_at: datetime
    pushed_through: int
    fingerprint: str
    generation: str
    checked_at: datetime | None
    last_push_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failures: int
    next_attempt_at: datetime | None
    objects: int = 0  # how many events calbridge keeps in the remote calendar

    @property
    def failing(self) -> bool:
        return self.failures > 0


@dataclass(frozen=True)
class PushedObject:
    uid: str
    href: str
    local_etag: str  # the ETag of the bytes calbridge sent (feeds.calendar_objects)
    remote_etag: str | None  # what the server answered, sent back in If-Match


@dataclass(frozen=True)
class PushOutcome:
    """What a push job records at its end (see `finish_push`)."""

    at: datetime
    next_attempt_at: datetime | None
    error: str | None = None  # None: the remote now equals the feed
    pushed_through: int | None = None  # the change number covered (on success)
    generation: str | None = None
    checked: bool = False  # the feed was compared in full (its objects rendered)


def _target_row(row: PushTargetTable, objects: int = 0) -> PushTargetRow:
    return PushTargetRow(
        id=row.id,
        feed_id=row.feed_id,
        url=row.url,
        username=row.username,
        created_at=row.created_at,
        pushed_through=row.pushed_through,
        fingerprint=row.fingerprint,
        generation=row.generation,
        checked_at=row.checked_at,
        last_push_at=row.last_push_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        failures=row.failures,
        next_attempt_at=row.next_attempt_at,
        objects=objects,
    )


class PushQueries(StoreBase):
    """Store methods for push targets and the events pushed into them."""

    def add_push_target(
        self, feed_id: int, url: str, username: str, password: str, now: datetime
    ) -> PushTargetRow:
        """Register a calendar to push `feed_id` into; its first push is due at once."""
        now = aware_utc(now, "creation time")
        row = PushTargetTable(
            feed_id=feed_id,
            url=url,
            username=username,
            password_encrypted=self._box.encrypt({"password": password}),
            created_at=now,
            pushed_through=0,
            fingerprint="",
            generation="",
            failures=0,
            next_attempt_at=now,
        )
        with self._write() as db:
            db.add(row)
            db.flush()
            return _target_row(row)

    def push_targets(self, feed_id: int | None = None) -> list[PushTargetRow]:
        """Every push target (or a feed's), by id, with how many events each keeps."""
        counts = (
            select(PushObjectTable.target_id, func.count().label("n"))
            .group_by(PushObjectTable.target_id)
            .subquery()
        )
        query = (
            select(PushTargetTable, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.target_id == PushTargetTable.id)
            .order_by(PushTargetTable.id)
        )
        if feed_id is not None:
            query = query.where(PushTargetTable.feed_id == feed_id)
        with self._read() as db:
            return [_target_row(row, int(n)) for row, n in db.execute(query)]

    def push_target(self, target_id: int) -> PushTargetRow | None:
        if not storable_id(target_id):
            return None
        with self._read() as db:
            row = db.get(PushTargetTable, target_id)
            if row is None:
                return None
            count = db.scalar(select(func.count()).where(PushObjectTable.target_id == target_id))
            return _target_row(row, int(count or 0))

    def push_password(self, target_id: int) -> str:
        """The decrypted password; `CredentialError` when the secret key cannot open it."""
        with self._read() as db:
            sealed = db.scalar(
                select(PushTargetTable.password_encrypted).where(PushTargetTable.id == target_id)
            )
        if sealed is None:
            raise NotFound(f"no push target with id {target_id}")
        password = self._box.decrypt(sealed).get("password")
        if not isinstance(password, str):
            raise StoreError(f"push target {target_id} has no readable password")
        return password

    def remove_push_target(self, target_id: int) -> None:
        """Forget a push target and its record of what it pushed (the remote keeps them)."""
        with self._write() as db:
            row = db.get(PushTargetTable, target_id) if storable_id(target_id) else None
            if row is None:
                raise NotFound(f"no push target with id {target_id}")
            db.execute(delete(PushObjectTable).where(PushObjectTable.target_id == target_id))
            db.delete(row)

    def push_targets_reading(self, source_id: int) -> list[tuple[int, int]]:
        """(target id, feed id) of the push targets whose feed merges `source_id`."""
        query = (
            select(PushTargetTable.id, PushTargetTable.feed_id)
            .join(FeedSourceTable, FeedSourceTable.feed_id == PushTargetTable.feed_id)
            .where(FeedSourceTable.source_id == source_id)
            .order_by(PushTargetTable.id)
        )
        with self._read() as db:
            return [(int(t), int(f)) for t, f in db.execute(query)]

    def claim_due_pushes(self, now: datetime, hold: timedelta, limit: int) -> list[int]:
        """The push targets due by `now`, each moved `hold` later so that no other sweep
        queues it again meanwhile (its job sets the real next attempt when it ends)."""
        now = aware_utc(now, "sweep time")
        claimed = []
        with self._write() as db:
            due = db.scalars(
                select(PushTargetTable.id)
                .where(PushTargetTable.next_attempt_at <= now)
                .order_by(PushTargetTable.next_attempt_at)
                .limit(limit)
            ).all()
            for target_id in due:
                moved = db.execute(
                    update(PushTargetTable)
                    .where(PushTargetTable.id == target_id, PushTargetTable.next_attempt_at <= now)
                    .values(next_attempt_at=now + hold)
                ).rowcount
                if moved:
                    claimed.append(int(target_id))
        return claimed

    # -- what a target holds -------------------------------------------------------------

    def pushed_objects(self, target_id: int) -> dict[str, PushedObject]:
        """The events calbridge created in the target's calendar, by UID."""
        table = PushObjectTable
        with self._read() as db:
            rows = db.execute(
                select(table.uid, table.href, table.local_etag, table.remote_etag).where(
                    table.target_id == target_id
                )
            ).all()
        return {uid: PushedObject(uid, href, local, remote) for uid, href, local, remote in rows}

    def record_pushed(self, target_id: int, pushed: PushedObject) -> None:
        """Note an event the remote accepted (created or replaced)."""
        values = {
            "target_id": target_id,
            "uid": pushed.uid,
            "href": pushed.href,
            "local_etag": pushed.local_etag,
            "remote_etag": pushed.remote_etag,
        }
        with self._write() as db:
            upsert(db, PushObjectTable, values, ["target_id", "uid"])

    def forget_pushed(self, target_id: int, uid: str) -> None:
        """Note an event deleted from the remote (or found gone)."""
        with self._write() as db:
            db.execute(
                delete(PushObjectTable).where(
                    PushObjectTable.target_id == target_id, PushObjectTable.uid == uid
                )
            )

    def finish_push(self, target_id: int, outcome: PushOutcome) -> PushTargetRow | None:
        """Record how a push ended: the remote's fingerprint (from the recorded objects),
        success or the error (counting consecutive failures), and the next attempt."""
        at = aware_utc(outcome.at, "push time")
        with self._write() as db:
            row = db.get(PushTargetTable, target_id)
            if row is None:
                return None  # removed while it was pushed
            pairs: Sequence[tuple[str, str]] = db.execute(
                select(PushObjectTable.uid, PushObjectTable.local_etag).where(
                    PushObjectTable.target_id == target_id
                )
            ).all()
            row.fingerprint = fingerprint([(uid, etag) for uid, etag in pairs])
            row.next_attempt_at = outcome.next_attempt_at
            if outcome.checked:
                row.checked_at = at
            if outcome.error is None:
                row.last_push_at = at
                row.last_error = None
                row.failures = 0
                if outcome.pushed_through is not None:
                    row.pushed_through = outcome.pushed_through
                if outcome.generation is not None:
                    row.generation = outcome.generation
            else:
                row.last_error = outcome.error
                row.last_error_at = at
                row.failures += 1
            db.flush()
            return _target_row(row, len(pairs))

    def failing_push_targets(self) -> int:
        """How many push targets' last push failed (a gauge of /metrics)."""
        with self._read() as db:
            return int(db.scalar(select(func.count()).where(PushTargetTable.failures > 0)) or 0)
