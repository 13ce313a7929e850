"""The places a shared rate budget can live: pyrate-limiter buckets, one per budget key.

`backend_for(settings)` picks one (see `bridge.upstream.budget` for the why); each backend
opens its connection lazily, at its first bucket, with short timeouts so an unreachable
server fails fast and the budget falls back to memory.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from pyrate_limiter import (
    AbstractBucket,
    InMemoryBucket,
    PostgresBucket,
    Rate,
    RedisBucket,
    SQLiteBucket,
)

if TYPE_CHECKING:
    from bridge.settings import Settings

CONNECT_TIMEOUT_SECONDS = 2.0
SQLITE_FILE = "budgets.db"
REDIS_KEY_PREFIX = "calbridge:budget:"
_POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


class Backend:
    """Where grants are recorded: opens one pyrate-limiter bucket per budget key."""

    description = "in-process memory"
    shared = False

    def open_bucket(self, key: str, rate: Rate) -> AbstractBucket:
        return InMemoryBucket([rate])

    def close_bucket(self, bucket: AbstractBucket) -> None:
        """Release what one bucket holds (nothing, unless it owns a connection)."""

    def close(self) -> None:
        """Release what the backend holds."""


class _SQLiteBackend(Backend):
    shared = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"SQLite file {path}"

    def open_bucket(self, key: str, rate: Rate) -> AbstractBucket:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteBucket.init_from_file(
            [rate], table=table_name(key), db_path=str(self.path), use_file_lock=True
        )

    def close_bucket(self, bucket: AbstractBucket) -> None:
        bucket.close()  # each SQLite bucket owns its connection


class _RedisBackend(Backend):
    shared = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.description = f"Redis {_without_password(url)}"
        self._client: Any = None

    def open_bucket(self, key: str, rate: Rate) -> AbstractBucket:
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(
                self.url,
                socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                socket_timeout=CONNECT_TIMEOUT_SECONDS,
            )
        return RedisBucket.init([rate], self._client, REDIS_KEY_PREFIX + key)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class _PostgresBackend(Backend):
    shared = True

    def __init__(self, url: str) -> None:
        self.conninfo = re.sub(r"^[a-z+]+://", "postgresql://", url)
        self.description = f"PostgreSQL {_without_password(self.conninfo)}"
        self._pool: Any = None

    def open_bucket(self, key: str, rate: Rate) -> AbstractBucket:
        if self._pool is None:
            from psycopg_pool import ConnectionPool

            self._pool = ConnectionPool(
                self.conninfo,
                min_size=1,
                max_size=4,
                timeout=CONNECT_TIMEOUT_SECONDS,
                kwargs={"connect_timeout": round(CONNECT_TIMEOUT_SECONDS)},
                name="calbridge-budgets",
                open=True,
            )
        # The table is created IF NOT EXISTS under an advisory lock: safe in parallel.
        return PostgresBucket(self._pool, table_name(key), [rate])

    def close(self) -> None:
        if self._pool is not None:  # the buckets share this pool: never close it per bucket
            self._pool.close()


def backend_for(settings: Settings | None) -> Backend:
    """The backend the settings select (see the module docstring)."""
    if settings is None:
        return Backend()
    if settings.queue_url.startswith(("redis://", "rediss://")):
        return _RedisBackend(settings.queue_url)
    if settings.database_url.startswith(_POSTGRES_SCHEMES):
        return _PostgresBackend(settings.database_url)
    return _SQLiteBackend(Path(settings.instance_path) / SQLITE_FILE)


def table_name(key: str) -> str:
    """A SQL-safe, unique and short table name for a budget key (≤ 48 characters)."""
    readable = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")[:36]
    return f"cb_{readable}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
