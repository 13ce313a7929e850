"""Database engines for the store: URL normalisation, SQLite pragmas and transactions, migrations.

SQLite is used in WAL mode with foreign keys on and a busy timeout, and SQLAlchemy emits the
BEGIN itself (the documented recipe for the sqlite3 driver), so that write transactions can
start with BEGIN IMMEDIATE: a writer then waits for the lock up front instead of failing with
"database is locked" when it upgrades a read lock halfway through a merge.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import tenacity
from alembic import command
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from bridge.migrations import alembic_config

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "calbridge_write"  # execution option marking a connection for write transactions
# Any fixed 64-bit number: the PostgreSQL advisory lock that serialises concurrent migrations.
_MIGRATION_LOCK_ID = 0x63616C6272696467


def normalize_url(database_url: str) -> URL:
    """The SQLAlchemy URL; plain postgresql:// (and postgres://) get the psycopg 3 driver."""
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def create_store_engine(database_url: str) -> Engine:
    url = normalize_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)

    options: dict[str, Any] = {}
    if _is_memory(url):
        # One shared connection, or every checkout would see a new empty database.
        options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    else:
        Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **options)
    memory = _is_memory(url)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (see _begin)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if not memory:
                _use_wal(cursor)
                cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        writing = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


def _is_locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


@tenacity.retry(
    retry=tenacity.retry_if_exception(_is_locked),
    wait=tenacity.wait_random(0.005, 0.05),
    stop=tenacity.stop_after_delay(SQLITE_BUSY_TIMEOUT_MS / 1000),
    reraise=True,
)
def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the database file to WAL (a setting kept in the file). When several processes open
    a new database at once, the switch can fail with "database is locked" without SQLite
    waiting the busy timeout, so it is retried for as long."""
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        cursor.execute("PRAGMA journal_mode = WAL")


def writer(engine: Engine) -> Engine:
    """The same engine (same pool) marked for write transactions."""
    return engine.execution_options(**{WRITE_OPTION: True})


def upgrade_to_head(engine: Engine) -> None:
    """Run every pending Alembic migration, in one transaction; concurrent callers wait."""
    config = alembic_config()
    with writer(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
