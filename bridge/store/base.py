"""The store's foundation: engine, sessions, clock and small shared helpers.

`StoreBase` owns the database engine; the query mixins (source_queries, feed_queries) and
`Store` build on it. Each method opens its own database session, so a Store is safe to share
between threads.
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Self

from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool

from bridge.crypto import CredentialBox
from feeds import rules

from .direct import direct_read_engine
from .engine import create_store_engine, upgrade_to_head, writer
from .rows import StoreError

# The largest id: ids are INTEGER columns (bridge.store.tables), 32-bit on PostgreSQL. The
# admin API's schema (bridge.web.openapi) and its routes take no larger one.
MAX_ID = 2**31 - 1


def storable_id(value: int) -> bool:
    """Whether `value` can be an id at all: a larger one (from a URL or a flag) is unknown,
    not an overflow error from the database driver."""
    return 0 < value <= MAX_ID


def _utcnow() -> datetime:
    return datetime.now(UTC)


def aware_utc(value: datetime, what: str) -> datetime:
    """`value` in UTC; StoreError for a naive datetime (feeds.rules.aware_utc)."""
    return rules.aware_utc(value, what, StoreError)


_open_stores: weakref.WeakSet[StoreBase] = weakref.WeakSet()


def _forget_inherited_connections() -> None:
    """In a forked child (gunicorn workers, job workers), drop the pooled connections copied
    from the parent without closing them: they belong to the parent, and two processes talking
    over one database socket corrupt each other's transactions. The child opens its own."""
    for store in list(_open_stores):
        store._engine.dispose(close=False)
        if store._direct_engine is not store._engine:
            store._direct_engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


class StoreBase:
    """Engine, session factories and clock shared by every part of the Store."""

    def __init__(
        self,
        database_url: str,
        box: CredentialBox,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._engine = create_store_engine(database_url)
        self._direct_engine = direct_read_engine(self._engine)  # see .direct
        self._box = box
        self._clock = clock
        self._reader = sessionmaker(self._engine, expire_on_commit=False)
        self._writer = sessionmaker(writer(self._engine), expire_on_commit=False)
        if not isinstance(self._engine.pool, StaticPool):
            # An in-memory SQLite database lives in the process's memory, which a fork copies:
            # the child's copy of the connection is its own and must be kept.
            _open_stores.add(self)

    # -- lifecycle ---------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent; safe to run at every start)."""
        upgrade_to_head(self._engine)

    def healthy(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self._engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()
        self._direct_engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[DbSession]:
        with self._reader() as db:
            yield db

    @contextmanager
    def _write(self) -> Iterator[DbSession]:
        with self._writer.begin() as db:
            yield db


def _insert(db: DbSession, table: type[Any]) -> Any:
    """The dialect's INSERT (with ON CONFLICT support) for `table`."""
    insert = sqlite_insert if db.get_bind().dialect.name == "sqlite" else postgresql_insert
    return insert(table)


def insert_unless_present(db: DbSession, table: type[Any], values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING, on SQLite and PostgreSQL; whether a row was added."""
    return bool(db.execute(_insert(db, table).values(**values).on_conflict_do_nothing()).rowcount)


def upsert(
    db: DbSession,
    table: type[Any],
    values: dict[str, Any],
    keys: list[str],
    keep: Sequence[str] = (),
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE the other given columns, on SQLite and PostgreSQL.

    Columns named in `keep` are only filled in when the existing row has them NULL.
    """
    statement = _insert(db, table).values(**values)
    updates = {name: statement.excluded[name] for name in values if name not in keys}
    for name in keep:
        updates[name] = func.coalesce(table.__table__.c[name], statement.excluded[name])
    db.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates))


def check_json_object(values: Any, what: str) -> None:
    if not isinstance(values, dict):
        raise StoreError(f"{what} must be a JSON object")
    try:
        json.dumps(values)
    except (TypeError, ValueError) as error:
        raise StoreError(f"{what} must be JSON-serialisable: {error}") from None
