"""One refresh per partition across threads and processes, and no lock outlives its holder."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bridge.jobs.locks import AdvisoryLocks, FileLocks, PartitionLocks, partition_locks
from bridge.partitions import Partition
from tests.stores import BACKENDS, fresh_database_url

PARTITION = Partition(1, "alice")
OTHER = Partition(1, "bob")


@contextmanager
def locks_for(backend: str, tmp_path: Path) -> Iterator[tuple[str, PartitionLocks]]:
    with fresh_database_url(backend, tmp_path) as url:
        yield url, partition_locks(url, tmp_path)


def test_the_kind_of_lock_follows_the_database(tmp_path: Path) -> None:
    assert isinstance(partition_locks("sqlite:///x.db", tmp_path), FileLocks)
    assert isinstance(partition_locks("postgresql://u@127.0.0.1/db", tmp_path), AdvisoryLocks)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_held_partition_is_refused_elsewhere_and_others_are_free(
    tmp_path: Path, backend: str
) -> None:
    with locks_for(backend, tmp_path) as (_, locks):
        seen: list[bool] = []
        with locks.hold(PARTITION) as held:
            assert held
            thread = threading.Thread(target=lambda: seen.append(_try(locks, PARTITION)))
            thread.start()
            thread.join()
            assert _try(locks, OTHER)
        assert seen == [False]
        assert _try(locks, PARTITION)  # released on exit


@pytest.mark.parametrize("backend", BACKENDS)
def test_named_locks_are_their_own(tmp_path: Path, backend: str) -> None:
    with locks_for(backend, tmp_path) as (_, locks):
        with locks.hold_named("push:1") as held, locks.hold(Partition(1)) as partition_held:
            assert held and partition_held  # "push:1" is no partition's name
            seen: list[bool] = []
            thread = threading.Thread(target=lambda: seen.append(_try_named(locks, "push:1")))
            thread.start()
            thread.join()
            assert seen == [False]
            assert _try_named(locks, "push:2")
        assert _try_named(locks, "push:1")


def _try_named(locks: PartitionLocks, name: str) -> bool:
    with locks.hold_named(name) as held:
        return held


def _try(locks: PartitionLocks, partition: Partition) -> bool:
    with locks.hold(partition) as held:
        return held


def _hold_forever(url: str, folder: str, ready: multiprocessing.synchronize.Event) -> None:
    locks = partition_locks(url, Path(folder))
    with locks.hold(PARTITION) as held:
        assert held
        ready.set()
        threading.Event().wait(60)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path, backend: str) -> None:
    with locks_for(backend, tmp_path) as (url, locks):
        context = multiprocessing.get_context("spawn")
        ready = context.Event()
        holder = context.Process(target=_hold_forever, args=(url, str(tmp_path), ready))
        holder.start()
        try:
            assert ready.wait(30)
            assert not _try(locks, PARTITION)
            os.kill(holder.pid, signal.SIGKILL)  # type: ignore[arg-type]
            holder.join(10)
            # PostgreSQL notices the closed connection at once; the kernel drops the flock.
            deadline = threading.Event()
            for _ in range(50):
                if _try(locks, PARTITION):
                    break
                deadline.wait(0.1)
            else:
                pytest.fail("the dead holder's lock was never released")
        finally:
            if holder.is_alive():
                holder.kill()
