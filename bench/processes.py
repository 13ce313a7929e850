"""Real calbridge installations for the refresh-engine benches: databases, upstream, processes.

- `postgres_server_url`: the PostgreSQL server CALBRIDGE_BENCH_DATABASE_URL or
  CALBRIDGE_TEST_DATABASE_URL names, for a new database per run (bench.databases.fresh_postgres);
- `redis_queue`: a Redis database of its own for the run's job queue and rate budgets (one of
  CALBRIDGE_BENCH_REDIS_DBS, default 5-9, claimed with a lock file and emptied before and after);
- `Upstream`: the TagMango simulator on loopback HTTP in this process, behind a recorder that
  notes when each request arrived and how it was answered, and an outage switch that holds
  every request (like `Fault.hang`) until the outage ends;
- `Installation`: the CALBRIDGE_* environment of one installation, its services (to create
  sources and feeds directly through the store), and `calbridge serve` / `calbridge worker`
  subprocesses, stopped (SIGTERM, then SIGKILL) when the installation closes.

One module over 400 lines: these four are what every refresh-engine bench sets up together,
and a bench reads best with its whole setup in one place.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.loadtools import free_port
from bridge.links import FeedLinks
from bridge.partitions import Partition
from bridge.services import Services, build_services
from bridge.settings import Settings
from bridge.simulator.server import RunningServer, start_server
from bridge.simulator.tagmango import DEMO_HOST, SimCall, TagMangoSimulator

SECRET_KEY = "bench-secret-key-0123456789abcdef"
REPO_ROOT = Path(__file__).resolve().parent.parent
NEEDS_POSTGRES = "needs PostgreSQL: set CALBRIDGE_BENCH_DATABASE_URL or CALBRIDGE_TEST_DATABASE_URL"


# -- databases -------------------------------------------------------------------------------


def postgres_server_url() -> str | None:
    """The PostgreSQL server the benches create their databases on (None: not configured)."""
    for name in ("CALBRIDGE_BENCH_DATABASE_URL", "CALBRIDGE_TEST_DATABASE_URL"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def _redis_candidates() -> list[str]:
    base = os.environ.get("CALBRIDGE_BENCH_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
    numbers = os.environ.get("CALBRIDGE_BENCH_REDIS_DBS", "5,6,7,8,9")
    return [f"{base}/{number.strip()}" for number in numbers.split(",") if number.strip()]


@contextmanager
def redis_queue() -> Iterator[str | None]:
    """A Redis database URL nobody else uses during the run (None: Redis is unreachable).

    The queue's key and the budgets' keys are fixed names, so two runs sharing a database
    would take each other's jobs: each run claims one database with a lock file (another
    process's run waits for a free one) and empties it before and after."""
    import redis

    candidates = _redis_candidates()
    try:
        redis.Redis.from_url(candidates[0], socket_connect_timeout=1).ping()
    except Exception:
        yield None
        return
    deadline = time.monotonic() + 600
    while True:
        for url in candidates:
            lock_path = (
                Path(tempfile.gettempdir()) / f"calbridge-bench-{url.rsplit('/', 1)[1]}.lock"
            )
            handle = lock_path.open("w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            client = redis.Redis.from_url(url)
            try:
                client.flushdb()
                yield url
            finally:
                client.flushdb()
                client.close()
                handle.close()
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"every bench Redis database is in use: {candidates}")
        time.sleep(1)


# -- upstream --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """A request the upstream received: when (`time.time()`), its answer, `user` and `page`,
    and its path."""

    at: float
    status: int
    user: str | None
    page: str | None
    path: str = ""


class Upstream:
    """The TagMango simulator behind a recorder and an outage switch (see the module docstring).

    While the outage is on, a request is held up to `hang_seconds` (longer than calbridge's
    30 s read timeout), so calbridge sees a hanging upstream; ending the outage lets the held
    requests go on to the simulator."""

    def __init__(self, simulator: TagMangoSimulator, hang_seconds: float = 45.0) -> None:
        self.simulator = simulator
        self.hang_seconds = hang_seconds
        self._arrivals: list[Arrival] = []
        self._lock = threading.Lock()
        self._healthy = threading.Event()
        self._healthy.set()
        self.held = 0  # requests held by an outage
        self.server: RunningServer | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        arrived = time.time()
        if not self._healthy.is_set():
            with self._lock:
                self.held += 1
            self._healthy.wait(self.hang_seconds)
        status: list[int] = []

        def recording_start(code: str, headers: Any, *rest: Any) -> Any:
            status.append(int(code.split()[0]))
            return start_response(code, headers, *rest)

        body = self.simulator(environ, recording_start)
        query = dict(
            part.split("=", 1) for part in environ.get("QUERY_STRING", "").split("&") if "=" in part
        )
        with self._lock:
            self._arrivals.append(
                Arrival(
                    arrived,
                    status[0] if status else 0,
                    query.get("user"),
                    query.get("page"),
                    environ.get("PATH_INFO", ""),
                )
            )
        return body

    @property
    def url(self) -> str:
        assert self.server is not None, "the upstream is not started"
        return self.server.url

    def arrivals(self, since: float = 0.0) -> list[Arrival]:
        with self._lock:
            return [arrival for arrival in self._arrivals if arrival.at >= since]

    def start_outage(self) -> None:
        self._healthy.clear()

    def end_outage(self) -> None:
        self._healthy.set()


@contextmanager
def upstream(
    calls: Iterable[SimCall], api_key: str, hang_seconds: float = 45.0, **simulator_options: Any
) -> Iterator[Upstream]:
    """An `Upstream` on a loopback port holding `calls` for the key `api_key` (and
    `simulator_options` for TagMangoSimulator, such as its subscriptions)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    simulator = TagMangoSimulator(calls, api_keys={api_key: DEMO_HOST}, **simulator_options)
    recorder = Upstream(simulator, hang_seconds)
    recorder.server = start_server(recorder)
    try:
        yield recorder
    finally:
        recorder.end_outage()
        recorder.server.stop()


def participant_calls(users: list[str], now: datetime, per_user: int = 1) -> list[SimCall]:
    """`per_user` one-hour calls for each participant over the coming days (one page each)."""
    calls = []
    for index, user in enumerate(users):
        for number in range(per_user):
            start = now + timedelta(hours=2 + (index % 500) + 24 * number)
            ident = f"{index:012x}{number:012x}"
            title = f"Session {number} of {user}"
            end = start + timedelta(hours=1)
            calls.append(SimCall(ident, title, start, end, participants=(user,)))
    return calls


def shared_calls(count: int, now: datetime) -> list[SimCall]:
    """`count` one-hour calls over the coming weeks, without participants (every feed's)."""
    return [
        SimCall(
            f"{i:024x}",
            f"Bench call {i}",
            now + timedelta(hours=3 + 7 * i),
            now + timedelta(hours=4 + 7 * i),
        )
        for i in range(count)
    ]


# -- calbridge -------------------------------------------------------------------------------


@dataclass
class Installation:
    """One calbridge installation: its environment, services and processes (see the module)."""

    directory: Path
    database_url: str
    queue_url: str = ""
    cache_ttl: int = 600
    port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _services: Services | None = None

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("CALBRIDGE_")}
        env.update(
            CALBRIDGE_SECRET_KEY=SECRET_KEY,
            CALBRIDGE_DATABASE_URL=self.database_url,
            CALBRIDGE_INSTANCE_PATH=str(self.directory),
            CALBRIDGE_PUBLIC_URL=self.public_url,
            CALBRIDGE_CACHE_TTL=str(self.cache_ttl),
            CALBRIDGE_QUEUE_URL=self.queue_url,
            PYTHONPATH=os.pathsep.join(
                filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
            ),
        )
        return env

    def services(self, *, immediate_jobs: bool = False) -> Services:
        """This installation's services in the bench process (no job threads)."""
        if self._services is None:
            settings = Settings.from_env(self.environ())
            self._services = build_services(settings, immediate_jobs=immediate_jobs)
        return self._services

    def add_source(self, api_base: str, api_key: str, name: str = "bench") -> int:
        """A TagMango source reading the simulator; its id."""
        from bridge import operations

        source = operations.add_tagmango_source(
            self.services(), name=name, token=api_key, whitelabel_host=DEMO_HOST, api_base=api_base
        )
        return source.id

    def create_feeds(
        self, source_id: int, users: list[str | None], *, register: bool = True
    ) -> list[str]:
        """One feed per entry of `users` (a participant's feed, or None: the whole source),
        created directly through the store, their partitions registered (due at once) unless
        `register` is False. Returns the feeds' .ics URLs, in order."""
        store = self.services().store
        now = datetime.now(UTC)
        urls, registered = [], set()
        for number, user in enumerate(users):
            filters = {"user": user, "mangoes": []}
            feed, token = store.create_feed(
                name=f"Bench feed {number}", source_ids=[source_id], filters=filters
            )
            partition = Partition(source_id, user)
            if register and partition not in registered:
                store.register_partition(partition, feed.horizon_days, now)
                registered.add(partition)
            urls.append(FeedLinks.for_token(self.public_url, token).ics_url)
        return urls

    def _start(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = (self.directory / log_name).open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge", *args],
            env=self.environ(),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.processes.append(process)
        return process

    def serve(self, *args: str, port: int | None = None, wait: bool = True) -> ServeProcess:
        """`calbridge serve --port P ARGS` (P: the installation's port), healthy on return."""
        port = port or self.port
        process = self._start(["serve", "--port", str(port), *args], f"serve-{port}.log")
        running = ServeProcess(process, port, self.directory / f"serve-{port}.log")
        if wait:
            running.wait_healthy()
        return running

    def worker(self, threads: int = 4) -> subprocess.Popen[bytes]:
        number = sum(1 for p in self.processes if "worker" in p.args)  # type: ignore[operator]
        return self._start(["worker", "--threads", str(threads)], f"worker-{number}.log")

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.directory.glob("*.log"))

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        keep = os.environ.get("CALBRIDGE_BENCH_LOG_DIR")
        if keep:  # the processes' logs outlive the temporary folder, for a look afterwards
            target = Path(keep) / self.directory.name
            target.mkdir(parents=True, exist_ok=True)
            for path in self.directory.glob("*.log"):
                shutil.copy(path, target / path.name)
        if self._services is not None:
            self._services.store.close()
            self._services = None


@dataclass
class ServeProcess:
    """A `calbridge serve` process (the gunicorn master) and its port."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"calbridge serve exited:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"calbridge serve was not healthy within {timeout:.0f} s")

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the master's child processes."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


@contextmanager
def installation(
    prefix: str, database_url: str | None = None, queue_url: str = "", cache_ttl: int = 600
) -> Iterator[Installation]:
    """An `Installation` in a temporary folder (SQLite unless `database_url`), closed after."""
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
        url = database_url or f"sqlite:///{directory / 'calbridge.db'}"
        bridge = Installation(directory, url, queue_url, cache_ttl)
        stack.callback(bridge.close)
        yield bridge


def rss_kib(pid: int) -> int:
    """The resident set size of a process (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")
