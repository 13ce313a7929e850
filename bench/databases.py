"""Throwaway PostgreSQL databases, for the refresh-engine benches and the store tests.

`fresh_postgres(server_url)` creates a database with a name of its own on that server and
drops it afterwards (WITH (FORCE): connections still open do not keep it), so parallel runs
never share one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url


def _libpq(url: str) -> str:
    """The URL psycopg understands (no SQLAlchemy +driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_postgres(server_url: str, prefix: str = "calbridge_bench") -> Iterator[str]:
    """The URL of a new, empty database `<prefix>_<random>` on `server_url`'s server,
    dropped afterwards."""
    server = _libpq(server_url)
    name = f"{prefix}_{secrets.token_hex(8)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
