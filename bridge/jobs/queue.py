"""The job queue: a Huey instance chosen by CALBRIDGE_QUEUE_URL, and the refresh, push and
participant-sync tasks on it.

- default (empty) or `sqlite:///path`: `SqliteHuey`, a file in the instance folder: the
  embedded mode needs nothing else installed or started;
- `redis://…`: `PriorityRedisHuey` (blocking pops: a job starts as soon as it is queued);
- `postgresql://…`: `PostgresHuey` (LISTEN/NOTIFY), for a platform that runs no Redis;
- `immediate`: Huey's immediate mode, which runs each job in the caller as it is queued
  (tests and one-off commands that must see the result at once).

The Huey object is built lazily in each process, so a process that forks (gunicorn) never
shares a queue connection with its children.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from huey import Huey, MemoryHuey, PostgresHuey, PriorityRedisHuey, SqliteHuey
from huey.api import TaskWrapper
from huey.exceptions import RetryTask
from sqlalchemy.engine import make_url

from bridge.partitions import Partition

log = logging.getLogger(__name__)

IMMEDIATE = "immediate"
QUEUE_NAME = "calbridge"
REFRESH_TASK = "calbridge.refresh_partition"
PUSH_TASK = "calbridge.push_target"
PARTICIPANT_SYNC_TASK = "calbridge.participant_sync"
# A forced refresh that found the partition busy runs again this much later (and so does a
# push that found another push of its target running: it may have rendered older data).
BUSY_RETRY_SECONDS = 1.0


def open_huey(url: str) -> Huey:
    """The Huey instance for a queue URL (see the module docstring)."""
    if url == IMMEDIATE:
        return MemoryHuey(QUEUE_NAME, immediate=True, results=False)
    scheme = url.split(":", 1)[0].split("+")[0].lower()
    if scheme in ("redis", "rediss"):
        return PriorityRedisHuey(QUEUE_NAME, url=url, results=False)
    if scheme in ("postgresql", "postgres"):
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresHuey(QUEUE_NAME, dsn=dsn, results=False)
    path = Path(make_url(url).database or "queue.db")
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(QUEUE_NAME, filename=str(path), results=False)


class JobQueue:
    """The refresh, push and participant-sync tasks on this process's Huey instance;
    `run_refresh` and `run_push` are job bodies that return False to have their job run
    again shortly; `run_participant_sync` records its own outcome and retries (see
    bridge.participants.schedule)."""

    def __init__(
        self,
        url: str,
        run_refresh: Callable[[Partition], bool],
        run_push: Callable[[int], bool] | None = None,
        run_participant_sync: Callable[[int], None] | None = None,
    ) -> None:
        self.url = url
        self.run_refresh = run_refresh
        self.run_push = run_push
        self.run_participant_sync = run_participant_sync
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._huey: Huey | None = None
        self._task: TaskWrapper | None = None
        self._push_task: TaskWrapper | None = None
        self._participant_sync_task: TaskWrapper | None = None

    @property
    def huey(self) -> Huey:
        return self._opened()[0]

    def _opened(self) -> tuple[Huey, TaskWrapper]:
        with self._lock:
            if self._huey is None or self._task is None or self._pid != os.getpid():
                self._huey = open_huey(self.url)
                self._task = self._huey.task(name=REFRESH_TASK)(self._refresh_task)
                self._push_task = self._huey.task(name=PUSH_TASK)(self._push_target_task)
                self._participant_sync_task = self._huey.task(name=PARTICIPANT_SYNC_TASK)(
                    self._participant_sync_task_body
                )
                self._pid = os.getpid()
            return self._huey, self._task

    @property
    def immediate(self) -> bool:
        return self.url == IMMEDIATE

    def _refresh_task(self, source_id: int, partition_key: str) -> None:
        if not self.run_refresh(Partition.from_key(source_id, partition_key)):
            raise RetryTask(delay=BUSY_RETRY_SECONDS)

    def enqueue_refresh(self, partition: Partition, priority: int) -> None:
        huey, task = self._opened()
        huey.enqueue(task.s(partition.source_id, partition.key, priority=priority))

    def _push_target_task(self, target_id: int) -> None:
        if self.run_push is not None and not self.run_push(target_id):
            raise RetryTask(delay=BUSY_RETRY_SECONDS)

    def enqueue_push(self, target_id: int, priority: int) -> None:
        huey, _ = self._opened()
        assert self._push_task is not None
        huey.enqueue(self._push_task.s(target_id, priority=priority))

    def _participant_sync_task_body(self, source_id: int) -> None:
        if self.run_participant_sync is None:
            return
        try:
            self.run_participant_sync(source_id)
        except Exception:  # the body records its own failures; nothing may end the worker
            log.exception("participant sync of source %s failed", source_id)

    def enqueue_participant_sync(self, source_id: int, priority: int) -> None:
        huey, _ = self._opened()
        assert self._participant_sync_task is not None
        huey.enqueue(self._participant_sync_task.s(source_id, priority=priority))

    def describe(self) -> str:
        """The queue's backend and location, without credentials (for logs and banners)."""
        if self.immediate:
            return "an immediate queue"
        url = make_url(self.url)
        where = url.database if url.get_backend_name() == "sqlite" else url.host
        return f"{url.get_backend_name()} queue at {where}"

    def depth(self) -> int:
        """Jobs waiting in the queue (not counting those scheduled for later)."""
        return 0 if self.immediate else self.huey.pending_count()
