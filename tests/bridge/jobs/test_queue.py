"""The job queue CALBRIDGE_QUEUE_URL selects, and jobs run by the worker threads through it."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from huey import MemoryHuey, PostgresHuey, PriorityRedisHuey, SqliteHuey

from bridge.jobs.queue import IMMEDIATE, JobQueue, open_huey
from bridge.jobs.runner import JobRunner
from bridge.partitions import Partition
from tests.bridge.jobs.support import Rig, make_rig, wait_until
from tests.stores import POSTGRES_URL, fresh_database_url

REDIS_URL = "redis://127.0.0.1:6379/3"


def redis_reachable() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def test_the_url_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_huey(f"sqlite:///{tmp_path}/q.db"), SqliteHuey)
    assert isinstance(open_huey("redis://127.0.0.1:6379/0"), PriorityRedisHuey)
    if POSTGRES_URL:  # PostgresHuey creates its tables as it opens
        assert isinstance(open_huey(POSTGRES_URL), PostgresHuey)
    immediate = open_huey(IMMEDIATE)
    assert isinstance(immediate, MemoryHuey) and immediate.immediate


def test_the_description_never_shows_a_password() -> None:
    queue = JobQueue("redis://:hunter2@cache.internal:6379/0", lambda _partition: True)
    assert queue.describe() == "redis queue at cache.internal"
    assert "hunter2" not in JobQueue("postgresql://u:hunter2@db/x", lambda _p: True).describe()


@contextmanager
def running_worker(rig: Rig) -> Iterator[Rig]:
    rig.services.jobs.start()
    try:
        yield rig
    finally:
        rig.services.jobs.stop()


def fetched(rig: Rig, partition: Partition) -> bool:
    return rig.services.store.fetch_state(partition).last_success_at is not None


def test_a_queued_refresh_runs_in_the_worker_threads(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    partition = Partition(rig.source_id)
    rig.services.store.register_partition(partition, 30, rig.clock.now)
    with running_worker(rig):
        assert rig.services.refreshes.request(partition)
        wait_until(lambda: fetched(rig, partition))
    assert rig.upstream.fetches == [""]


def test_the_scheduler_of_a_worker_queues_what_is_due(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    partitions = [Partition(rig.source_id, f"user-{n}") for n in range(3)]
    for partition in partitions:
        rig.services.store.register_partition(partition, 30, rig.clock.now)  # due at once
    with running_worker(rig):
        wait_until(lambda: all(fetched(rig, p) for p in partitions))
    assert sorted(rig.upstream.fetches) == sorted(p.key for p in partitions)


def test_a_forced_refresh_waits_for_the_running_one_then_reads_again(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    partition = Partition(rig.source_id)
    store = rig.services.store
    store.register_partition(partition, 30, rig.clock.now)
    rig.upstream.gate = threading.Event()
    with running_worker(rig):
        assert rig.services.refreshes.request(partition)
        wait_until(lambda: len(rig.upstream.fetches) == 1)  # held in the upstream
        # A webhook now: the running read may have missed the change, so one more follows.
        assert rig.services.refreshes.request(partition, force=True)
        rig.upstream.gate.set()
        wait_until(lambda: len(rig.upstream.fetches) == 2)


@pytest.mark.skipif(not redis_reachable(), reason=f"no Redis at {REDIS_URL}")
def test_jobs_round_trip_through_redis(tmp_path: Path) -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()
    check_round_trip(tmp_path, REDIS_URL)


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="CALBRIDGE_TEST_DATABASE_URL is not set")
def test_jobs_round_trip_through_postgresql(tmp_path: Path) -> None:
    with fresh_database_url("postgresql", tmp_path) as url:
        check_round_trip(tmp_path, url, database_url=url)


def check_round_trip(tmp_path: Path, queue_url: str, database_url: str | None = None) -> None:
    rig = make_rig(tmp_path, database_url=database_url)
    rig.services.queue.url = queue_url  # the queue a platform's CALBRIDGE_QUEUE_URL names
    partition = Partition(rig.source_id, f"user-{secrets.token_hex(4)}")
    rig.services.store.register_partition(partition, 30, rig.clock.now)
    with running_worker(rig):
        wait_until(lambda: fetched(rig, partition), seconds=20)
    assert rig.services.queue.depth() == 0
    rig.services.store.close()


class _NoSchedule:
    def start(self) -> None:
        """This test's worker runs queued jobs only."""

    def stop(self) -> None:
        """Nothing was started."""


def test_a_queued_push_runs_in_the_worker_threads_and_again_while_busy(tmp_path: Path) -> None:
    runs: list[int] = []

    def run_push(target_id: int) -> bool:
        runs.append(target_id)
        return len(runs) > 1  # busy the first time: the job runs again shortly

    queue = JobQueue(f"sqlite:///{tmp_path}/queue.db", lambda _p: True, run_push)
    runner = JobRunner(queue, _NoSchedule(), threads=1)  # type: ignore[arg-type]
    runner.start()
    try:
        queue.enqueue_push(7, priority=10)
        wait_until(lambda: len(runs) == 2)
    finally:
        runner.stop()
    assert runs == [7, 7]


def test_a_queued_participant_sync_runs_once_and_a_failing_body_ends_no_worker(
    tmp_path: Path,
) -> None:
    runs: list[int] = []

    def run_participant_sync(source_id: int) -> None:
        runs.append(source_id)
        if source_id == 3:
            raise RuntimeError("the database went away")

    queue = JobQueue(f"sqlite:///{tmp_path}/queue.db", lambda _p: True, None, run_participant_sync)
    runner = JobRunner(queue, _NoSchedule(), threads=1)  # type: ignore[arg-type]
    runner.start()
    try:
        queue.enqueue_participant_sync(3, priority=0)
        queue.enqueue_participant_sync(4, priority=0)
        wait_until(lambda: len(runs) == 2)
    finally:
        runner.stop()
    assert runs == [3, 4]  # the failure was logged, not retried, and the worker went on
