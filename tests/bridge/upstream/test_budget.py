"""Shared rate budgets (bridge.upstream.budget): one budget for every thread and process.

The cross-process tests start real processes (spawn and fork) that share one SQLite file, one
Redis (when 127.0.0.1:6379 answers) or one PostgreSQL database (when
CALBRIDGE_TEST_DATABASE_URL is set), and check the grant times they record against the
sliding window. They use 4 grants per second so that they take a few seconds, not minutes.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.settings import Settings
from bridge.upstream import budget as budget_module
from bridge.upstream.budget import (
    add_budget_listener,
    budget_backend,
    budget_for,
    configure_budgets,
    remove_budget_listener,
)
from bridge.upstream.tagmango import RATE_LIMIT, UPSTREAM_RATE_LIMIT, TagMangoClient, TagMangoConfig
from bridge.upstream.zoho import GRANTS_PER_WINDOW, ZOHO_GRANTS_PER_WINDOW, ZohoCredentials
from tests.stores import POSTGRES_URL, fresh_database_url

REDIS_URL = "redis://127.0.0.1:6379/0"
LIMIT, PERIOD = 4, 1.0
PROCESSES, THREADS, GRANTS_PER_THREAD = 3, 2, 2


def unique_key(prefix: str = "test") -> str:
    return f"{prefix}:{secrets.token_hex(6)}"


def settings_for(instance: Path, *, queue_url: str = "", database_url: str = "") -> Settings:
    return Settings(
        secret_key="x" * 32,
        instance_path=instance,
        database_url=database_url or f"sqlite:///{(instance / 'calbridge.db').as_posix()}",
        queue_url=queue_url,
    )


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


def assert_within_budget(stamps: list[float], limit: int, period: float) -> None:
    """No window [t, t + period) holds more than `limit` of the (sorted) grant times."""
    stamps = sorted(stamps)
    for first, later in zip(stamps, stamps[limit:], strict=False):
        assert later - first >= period, (
            f"{limit + 1} grants within {later - first:.3f} s (< {period} s): {stamps}"
        )


@pytest.fixture(autouse=True)
def in_memory_afterwards() -> Iterator[None]:
    """Every test leaves the process on in-memory budgets, as it found it."""
    configure_budgets(None)
    yield
    configure_budgets(None)


# -- the registry and the in-process budget -------------------------------------------------------


def test_budget_for_shares_one_budget_per_key() -> None:
    key = unique_key()
    first = budget_for(key, 120, 10.0)
    assert budget_for(key, 120, 10.0) is first
    assert budget_for(key + "-other", 120, 10.0) is not first
    with pytest.raises(ValueError, match=r"already exists as 120/10\.0s, not 60/10\.0s"):
        budget_for(key, 60, 10.0)


@pytest.mark.parametrize(("limit", "period"), [(0, 10.0), (5, 0.0), (-1, 1.0)])
def test_nonsense_budgets_are_refused(limit: int, period: float) -> None:
    with pytest.raises(ValueError, match="limit >= 1 and period > 0"):
        budget_for(unique_key(), limit, period)
    with pytest.raises(ValueError, match="non-empty key"):
        budget_for("", 5, 1.0)


def test_in_memory_budget_grants_a_burst_then_says_how_long_to_wait() -> None:
    budget = budget_for(unique_key(), 3, 0.3)
    assert [budget.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = budget.try_acquire()
    assert 0.25 < wait <= 0.3 + (budget_module.CLOCK_GUARD_MS + 1) / 1000
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    waited = budget.acquire(sleep)
    assert waited == pytest.approx(sum(sleeps)) and waited > 0.2


def test_threads_of_one_process_share_the_in_memory_budget() -> None:
    stamps = run_threads(budget_for(unique_key(), LIMIT, 0.5), threads=6, grants=2)
    assert len(stamps) == 12
    assert_within_budget(stamps, LIMIT, 0.5)


def test_the_margins_under_the_upstream_limits() -> None:
    limit, period = RATE_LIMIT
    assert (limit, period) == (108, 10.0) and limit == int(UPSTREAM_RATE_LIMIT[0] * 0.9)
    assert (GRANTS_PER_WINDOW, ZOHO_GRANTS_PER_WINDOW) == (9, 10)


# -- the metrics hook -----------------------------------------------------------------------------


def test_listeners_hear_every_grant_with_its_wait(caplog: pytest.LogCaptureFixture) -> None:
    heard: list[tuple[str, float]] = []

    def broken(key: str, waited: float) -> None:
        raise RuntimeError("listener bug")

    def listener(key: str, waited: float) -> None:
        heard.append((key, waited))

    key = unique_key()
    budget = budget_for(key, 1, 0.2)
    add_budget_listener(listener)
    add_budget_listener(broken)
    try:
        assert budget.try_acquire() == 0.0
        assert budget.try_acquire() > 0  # refused: not a grant
        waited = budget.acquire()  # a listener's failure does not fail the grant
    finally:
        remove_budget_listener(listener)
        remove_budget_listener(broken)
    assert heard[0] == (key, 0.0)
    assert len(heard) == 2 and heard[1][0] == key and heard[1][1] == waited > 0
    assert "listener" in caplog.text and "listener bug" in caplog.text
    budget.acquire()
    assert len(heard) == 2  # removed listeners hear nothing more


# -- choosing the backend -------------------------------------------------------------------------


def test_settings_choose_redis_then_postgresql_then_sqlite(tmp_path: Path) -> None:
    configure_budgets(settings_for(tmp_path, queue_url="redis://:hunter2@cache.example:6380/1"))
    assert budget_backend() == "Redis redis://:***@cache.example:6380/1"
    configure_budgets(settings_for(tmp_path, queue_url="rediss://cache.example/0"))
    assert budget_backend() == "Redis rediss://cache.example/0"
    for url in ("postgresql://u:pw@db/x", "postgres://u:pw@db/x", "postgresql+psycopg://u:pw@db/x"):
        configure_budgets(settings_for(tmp_path, database_url=url, queue_url="sqlite:///q.db"))
        assert budget_backend() == "PostgreSQL postgresql://u:***@db/x"
    configure_budgets(settings_for(tmp_path / "instance"))
    assert budget_backend() == f"SQLite file {tmp_path / 'instance' / 'budgets.db'}"
    configure_budgets(None)
    assert budget_backend() == "in-process memory"


def test_sqlite_budget_creates_its_folder_and_names_no_secret(tmp_path: Path) -> None:
    instance = tmp_path / "new" / "instance"
    configure_budgets(settings_for(instance))
    client = TagMangoClient(TagMangoConfig("tm", "tm-secret-api-key", "host.example"))
    credentials = ZohoCredentials("client-id", "client-secret", "1000.refresh-secret")
    try:
        assert client.http.budget is not None
        assert client.http.budget.acquire() == 0.0
        assert budget_for(credentials.budget_key, 9, 600.0).try_acquire() == 0.0
    finally:
        client.close()
    with sqlite3.connect(instance / "budgets.db") as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master")]
    digest = hashlib.sha256(b"tm-secret-api-key").hexdigest()[:24]
    assert any(digest in name for name in tables)
    assert any(name.startswith("cb_zoho_grants_") for name in tables)
    assert not any("secret" in name for name in tables), tables


def test_an_unreachable_backend_falls_back_to_the_in_process_budget(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socketless_port() as port:
        configure_budgets(settings_for(tmp_path, queue_url=f"redis://127.0.0.1:{port}/0"))
        budget = budget_for(unique_key(), 2, 0.3)
        with caplog.at_level(logging.WARNING, logger="bridge.upstream.budget"):
            began = time.monotonic()
            assert [budget.try_acquire() for _ in range(2)] == [0.0, 0.0]
            assert budget.try_acquire() > 0  # the in-process budget still holds the limit
            assert time.monotonic() - began < 2.0  # one failed connect, then no more tries
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"Redis redis://127.0.0.1:{port}/0 failed (ConnectionError" in warning.getMessage()
    assert "using in-process budgets" in warning.getMessage()


def test_an_unreachable_database_falls_back_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socketless_port() as port:
        url = f"postgresql://calbridge:pw@127.0.0.1:{port}/calbridge"
        configure_budgets(settings_for(tmp_path, database_url=url))
        with caplog.at_level(logging.WARNING, logger="bridge.upstream.budget"):
            assert budget_for(unique_key(), 2, 1.0).acquire() == 0.0  # after the pool's 2 s
    assert f"PostgreSQL postgresql://calbridge:***@127.0.0.1:{port}/calbridge failed" in (
        caplog.text
    )
    assert ":pw@" not in caplog.text


def test_an_unusable_sqlite_folder_falls_back_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    configure_budgets(settings_for(blocker / "instance"))
    with caplog.at_level(logging.WARNING, logger="bridge.upstream.budget"):
        assert budget_for(unique_key(), 2, 1.0).acquire() == 0.0
    assert "SQLite file" in caplog.text and "in-process budgets" in caplog.text


class socketless_port:
    """A loopback port nothing listens on (bound, then released)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        return None


# -- one budget across threads and processes ------------------------------------------------------


def run_threads(budget: Any, *, threads: int, grants: int) -> list[float]:
    """Grant times (wall clock) of `threads` threads each acquiring `grants` times at once."""
    stamps: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker() -> None:
        start.wait()
        for _ in range(grants):
            budget.acquire()
            granted = time.time()
            with lock:
                stamps.append(granted)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return stamps


def hammer(settings: Settings | None, key: str, start: Any, results: Any) -> None:
    """A child process: configure budgets, wait for the others, grab grants from threads."""
    if settings is not None:  # a forked child inherits its parent's configuration
        configure_budgets(settings)
    budget = budget_for(key, LIMIT, PERIOD)
    start.wait()
    stamps = run_threads(budget, threads=THREADS, grants=GRANTS_PER_THREAD)
    results.put((stamps, budget_module._active_store().usable, budget_backend()))


def run_processes(settings: Settings, method: str) -> list[float]:
    context = multiprocessing.get_context(method)
    key = unique_key("proc")
    start, results = context.Barrier(PROCESSES), context.Queue()
    if method == "fork":
        configure_budgets(settings)  # the children inherit it, connections included
        budget_for(key, LIMIT, PERIOD).try_acquire()  # ...with one open in the parent
    passed = None if method == "fork" else settings
    children = [
        context.Process(target=hammer, args=(passed, key, start, results)) for _ in range(PROCESSES)
    ]
    for child in children:
        child.start()
    reports = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=30)
        assert child.exitcode == 0
    stamps: list[float] = []
    for child_stamps, shared_backend_stayed_up, backend in reports:
        assert shared_backend_stayed_up, f"a child fell back to in-process budgets ({backend})"
        stamps.extend(child_stamps)
    assert len(stamps) == PROCESSES * THREADS * GRANTS_PER_THREAD
    return stamps


def backend_settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    if backend == "sqlite":
        yield settings_for(tmp_path / "instance")
    elif backend == "redis":
        if not redis_available():
            pytest.skip("no Redis at 127.0.0.1:6379")
        yield settings_for(tmp_path, queue_url=REDIS_URL)
    else:
        with fresh_database_url("postgresql", tmp_path) as url:
            yield settings_for(tmp_path, database_url=url)


POSTGRES_MARKS = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="CALBRIDGE_TEST_DATABASE_URL is not set"),
]


@pytest.mark.parametrize(
    ("backend", "method"),
    [
        ("sqlite", "spawn"),
        ("sqlite", "fork"),
        ("redis", "spawn"),
        ("redis", "fork"),
        pytest.param("postgresql", "spawn", marks=POSTGRES_MARKS),
    ],
)
def test_processes_and_threads_never_exceed_one_shared_budget(
    backend: str, method: str, tmp_path: Path
) -> None:
    for settings in backend_settings(backend, tmp_path):
        began = time.time()
        stamps = run_processes(settings, method)
        configure_budgets(None)  # release the parent's connections before the database goes
    assert_within_budget(stamps, LIMIT, PERIOD)
    # 12 grants at 4 per second: the third window cannot open before 2 s have passed.
    assert max(stamps) - began >= 2 * PERIOD
