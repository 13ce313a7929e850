"""One refresh per partition (and one push per push target) at a time, across every process
and host.

Both kinds of lock are released by the operating system or the database when their holder
dies, so a worker killed mid-refresh (`kill -9`) never leaves a partition locked:

- PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) on a connection held for the
  whole refresh; the server drops it when that connection closes.
- SQLite (one host by nature): an exclusive `flock` on one small file per partition in the
  instance folder (the `filelock` library); the kernel drops it when the process exits.

Locks are tried, never waited for: a partition being refreshed elsewhere needs no second one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from filelock import FileLock, Timeout
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from bridge.partitions import Partition
from bridge.store.engine import normalize_url


def _digest(partition: Partition) -> bytes:
    return _named_digest(f"{partition.source_id}:{partition.key}")


def _named_digest(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


class PartitionLocks(Protocol):
    def hold(self, partition: Partition) -> AbstractContextManager[bool]: ...

    def hold_named(self, name: str) -> AbstractContextManager[bool]:
        """The lock of something other than a partition, such as "push:3" (a partition's
        source id is a number, so no name with a letter before its colon can clash)."""
        ...


class AdvisoryLocks:
    """PostgreSQL session advisory locks, one 64-bit key per partition."""

    NAMESPACE = 0x6362  # keeps these keys apart from other advisory locks ("cb")

    def __init__(self, database_url: str) -> None:
        # Its own connections, not the store's pool: one is held for the whole refresh.
        self._engine: Engine = create_engine(normalize_url(database_url), poolclass=NullPool)

    def hold(self, partition: Partition) -> AbstractContextManager[bool]:
        return self._hold(_digest(partition))

    def hold_named(self, name: str) -> AbstractContextManager[bool]:
        return self._hold(_named_digest(name))

    @contextmanager
    def _hold(self, digest: bytes) -> Iterator[bool]:
        key = int.from_bytes(digest[:4], "big")
        with self._engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            held = connection.execute(
                text("SELECT pg_try_advisory_lock(:namespace, :key)"),
                {"namespace": self.NAMESPACE, "key": key - 2**31},
            ).scalar()
            try:
                yield bool(held)
            finally:
                if held:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:namespace, :key)"),
                        {"namespace": self.NAMESPACE, "key": key - 2**31},
                    )


class FileLocks:
    """flock()ed files in `folder`, one per partition."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def hold(self, partition: Partition) -> AbstractContextManager[bool]:
        return self._hold(f"partition-{_digest(partition).hex()[:32]}.lock")

    def hold_named(self, name: str) -> AbstractContextManager[bool]:
        return self._hold(f"named-{_named_digest(name).hex()[:32]}.lock")

    @contextmanager
    def _hold(self, filename: str) -> Iterator[bool]:
        path = self.folder / filename
        lock = FileLock(path, blocking=False, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()


def partition_locks(database_url: str, instance_path: Path) -> PartitionLocks:
    """Advisory locks on PostgreSQL, lock files in the instance folder on SQLite."""
    if normalize_url(database_url).get_backend_name() == "postgresql":
        return AdvisoryLocks(database_url)
    return FileLocks(instance_path / "locks")
