"""Helpers for store tests: fresh databases (SQLite; PostgreSQL when configured), a clock.

Parametrise a fixture over `BACKENDS` and open `fresh_database_url(backend, directory)`:
SQLite gets a file in the directory; PostgreSQL gets a new database created through the
CALBRIDGE_TEST_DATABASE_URL server and dropped afterwards, so xdist workers never share one.
Creating a PostgreSQL database takes a good fraction of a second, so a test module usually
opens `migrated_database_url` once per module and calls `empty_database(url)` before each test.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, text

from bench.databases import fresh_postgres
from bridge.crypto import CredentialBox
from bridge.store import Store
from bridge.store.engine import normalize_url
from bridge.store.tables import Base

POSTGRES_URL = os.environ.get("CALBRIDGE_TEST_DATABASE_URL", "").strip()

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not POSTGRES_URL, reason="CALBRIDGE_TEST_DATABASE_URL is not set"),
        ],
    ),
]


@contextmanager
def fresh_database_url(backend: str, directory: Path) -> Iterator[str]:
    """Yield the URL of an empty database of `backend` that nobody else uses."""
    if backend == "sqlite":
        yield f"sqlite:///{(directory / 'calbridge.db').as_posix()}"
        return
    with fresh_postgres(POSTGRES_URL, prefix="calbridge") as url:
        yield url


@contextmanager
def migrated_database_url(backend: str, directory: Path) -> Iterator[str]:
    """`fresh_database_url`, with the store's schema migrated to the newest revision."""
    with fresh_database_url(backend, directory) as url:
        with Store(url, CredentialBox("schema-only-" + secrets.token_urlsafe(16))) as store:
            store.migrate()
        yield url


def empty_database(url: str) -> None:
    """Delete every row of the store's tables (the schema stays); ids start again at 1.

    DELETE rather than TRUNCATE: on tables this small it is several times faster.
    """
    engine = create_engine(normalize_url(url))
    try:
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(delete(table))
            if connection.dialect.name == "postgresql":
                sequences = connection.execute(
                    text(
                        "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()"
                    )
                ).scalars()
                for sequence in sequences.all():
                    connection.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
    finally:
        engine.dispose()


class Clock:
    """A settable clock for `Store(clock=...)`: call it for the time, `advance` to move it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass(frozen=True)
class Partition:
    """Shaped like bridge.partitions.Partition: all the store needs of one."""

    source_id: int
    key: str = ""
