"""Helpers for the scale tests (test_scale.py): an upstream whose requests are logged as they
arrive, a Redis queue per test, calbridge installations on PostgreSQL, and timed subscribers.

The simulators log a request when it has been answered; `RecordingUpstream` logs it when it
arrives (with a monotonic time), so a test can see a refresh in progress and count refresh
rounds inside a time window.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from bridge.simulator.combined import Simulators, build_simulators
from bridge.simulator.server import RunningServer, start_server
from tests.e2e.conftest import add_sources
from tests.e2e.processes import ADMIN_TOKEN, BridgeEnv, BridgeServer
from tests.stores import POSTGRES_URL, fresh_database_url

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

# Several calbridge processes each hold a few dozen PostgreSQL connections: the tests that
# start them run one at a time (one xdist group), so the server's 100 connections suffice.
needs_postgres = [
    pytest.mark.postgres,
    pytest.mark.processes,
    pytest.mark.xdist_group("postgresql-processes"),
    pytest.mark.skipif(
        not POSTGRES_URL, reason="CALBRIDGE_TEST_DATABASE_URL is not set (scale tests need it)"
    ),
]


@dataclass(frozen=True)
class Arrival:
    """One upstream request, logged when it arrived."""

    at: float  # time.monotonic()
    path: str
    args: dict[str, str]

    @property
    def upstream(self) -> str:
        if self.path.startswith("/api/v1/"):
            return "tagmango"
        if self.path.startswith("/api/v4/"):
            return "trainercentral"
        return "zoho"

    @property
    def partition(self) -> str:
        """The upstream query this request belongs to (one calbridge partition)."""
        if self.upstream == "tagmango":
            user, mangoes = self.args.get("user", ""), self.args.get("mangoes", "")
            return f"tagmango user={user} mangoes={mangoes}"
        if self.upstream == "trainercentral":
            return f"trainercentral filter={self.args.get('filter', '')}"
        return "zoho token"

    @property
    def starts_round(self) -> bool:
        """The first page of a listing: one refresh of a partition starts."""
        if self.upstream == "tagmango":
            return self.args.get("page") == "1"
        if self.upstream == "trainercentral":
            return self.args.get("si") == "0"
        return False


class RecordingUpstream:
    """The simulators' WSGI app, logging every request as it arrives."""

    def __init__(self, simulators: Simulators) -> None:
        self.simulators = simulators
        self._arrivals: list[Arrival] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        arrival = Arrival(
            time.monotonic(),
            environ.get("PATH_INFO", ""),
            dict(parse_qsl(environ.get("QUERY_STRING", ""))),
        )
        with self._lock:
            self._arrivals.append(arrival)
        return self.simulators(environ, start_response)

    def arrivals(self, since: float = 0.0, until: float = float("inf")) -> list[Arrival]:
        with self._lock:
            return [a for a in self._arrivals if since <= a.at < until]

    def wait_for(self, check: Callable[[list[Arrival]], bool], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not check(self.arrivals()):
            assert time.monotonic() < deadline, f"upstream never saw {what} within {seconds} s"
            time.sleep(0.02)


@dataclass
class Upstream:
    simulators: Simulators
    server: RunningServer
    recorder: RecordingUpstream

    @property
    def url(self) -> str:
        return self.server.url


@contextmanager
def recorded_upstream() -> Iterator[Upstream]:
    """Fresh seeded simulators on a loopback port, behind a `RecordingUpstream`."""
    simulators = build_simulators()
    recorder = RecordingUpstream(simulators)
    server = start_server(recorder)
    try:
        yield Upstream(simulators, server, recorder)
    finally:
        server.stop()


@contextmanager
def redis_queue(db: int) -> Iterator[str]:
    """`redis://…/<db>` emptied before and after the test (skips when Redis is unreachable).
    Each test uses its own db number (1-4): its queue and rate budgets are its own even when
    xdist runs the tests in parallel."""
    import redis

    client = redis.Redis(REDIS_HOST, REDIS_PORT, db=db, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}: {error}")
    client.flushdb()
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    finally:
        client.flushdb()
        client.close()


@contextmanager
def postgres_install(
    directory: Path, upstream: Upstream, *, ttl: int, queue_url: str | None = None
) -> Iterator[BridgeEnv]:
    """A calbridge installation on a fresh PostgreSQL database with both simulated sources
    registered; `queue_url` None keeps the default queue (a SQLite file in the instance),
    "database" puts it in the installation's database (PostgresHuey)."""
    directory.mkdir(parents=True, exist_ok=True)
    with fresh_database_url("postgresql", directory) as database_url:
        extra = {"CALBRIDGE_DATABASE_URL": database_url}
        if queue_url is not None:
            extra["CALBRIDGE_QUEUE_URL"] = database_url if queue_url == "database" else queue_url
        env = BridgeEnv(directory, cache_ttl=ttl, extra=extra)
        add_sources(env, upstream.simulators, upstream.url)
        yield env


def via(url: str, port: int) -> str:
    """The same feed URL, served by the web process listening on `port`."""
    scheme, rest = url.split("://", 1)
    path = rest.split("/", 1)[1]
    return f"{scheme}://127.0.0.1:{port}/{path}"


def timed_get(url: str, headers: dict[str, str] | None = None) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(url, headers=headers, timeout=30)
    return response, time.monotonic() - started


def wait_for_data(url: str, seconds: float = 30.0) -> httpx.Response:
    """GET the feed until it answers 200 (its first fetch landed)."""
    deadline = time.monotonic() + seconds
    while True:
        response = httpx.get(url, timeout=30)
        if response.status_code == 200:
            return response
        assert response.status_code == 503, f"{url}: {response.status_code} {response.text}"
        assert time.monotonic() < deadline, f"the first fetch never landed for {url}"
        time.sleep(0.1)


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll `check` until it holds; returns how long it took."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"{what} did not happen within {seconds} s"
        time.sleep(0.1)
    return time.monotonic() - started


def database_rows(env: BridgeEnv, query: str, *params: object) -> list[dict[str, Any]]:
    """Rows straight from the installation's PostgreSQL database."""
    with psycopg.connect(env.extra["CALBRIDGE_DATABASE_URL"], row_factory=dict_row) as db:
        return db.execute(query, params).fetchall()  # type: ignore[arg-type]


def fetch_states(env: BridgeEnv) -> list[dict[str, Any]]:
    return database_rows(
        env,
        "SELECT s.name, f.* FROM fetch_states f JOIN sources s ON s.id = f.source_id "
        "ORDER BY s.name, f.partition_key",
    )


# -- subscribers ----------------------------------------------------------------------------

POLL_EVERY = 0.2
PROBE_SECONDS = 6.0
STALE_PROBE_SECONDS = 3.0  # once the feed is answered stale, how long to go on probing
# The failure is recorded (and the feed marked stale) once the retries give up: after 5 s of
# waiting for 5xx answers, 20 s for 429s (longer than TagMango's rate window).
STALE_WITHIN = 40.0


def subscribe(feeds: list[list[str]], seconds: float) -> list[int]:
    """Subscribers GET every feed every POLL_EVERY for `seconds`, through each web process in
    turn (so every feed is polled as often whatever the number of web processes); returns
    the statuses."""
    statuses: list[int] = []
    deadline = time.monotonic() + seconds
    with ThreadPoolExecutor(len(feeds)) as pool:
        for tick in itertools.count():
            started = time.monotonic()
            if started >= deadline:
                break
            urls = [urls[tick % len(urls)] for urls in feeds]
            statuses += pool.map(lambda url: httpx.get(url, timeout=30).status_code, urls)
            time.sleep(max(0.0, POLL_EVERY - (time.monotonic() - started)))
    return statuses


def refresh_rounds(arrivals: list[Arrival]) -> dict[str, list[float]]:
    """When each partition's refreshes started (the arrivals of their first pages)."""
    starts: dict[str, list[float]] = defaultdict(list)
    for arrival in arrivals:
        if arrival.starts_round:
            starts[arrival.partition].append(arrival.at)
    return dict(starts)


def probe(
    server: BridgeServer, feeds: dict[str, str], *, until_stale: bool
) -> list[tuple[str, int, float, httpx.Response]]:
    """GET both feeds, /healthz and /metrics again and again for PROBE_SECONDS (and, with
    `until_stale`, until the troubled feed has been answered stale for STALE_PROBE_SECONDS)."""
    targets = [
        *((name, url, None) for name, url in feeds.items()),
        ("/healthz", f"{server.url}/healthz", None),
        ("/metrics", f"{server.url}/metrics", ADMIN),
    ]
    answers: list[tuple[str, int, float, httpx.Response]] = []
    started = time.monotonic()
    stale_since: float | None = None
    while True:
        now = time.monotonic()
        if not until_stale and now - started >= PROBE_SECONDS:
            return answers
        if stale_since is not None and now - stale_since >= STALE_PROBE_SECONDS:
            return answers
        assert now - started < STALE_WITHIN, f"the feed was not marked stale in {STALE_WITHIN} s"
        for name, url, headers in targets:
            response, seconds = timed_get(url, headers)
            answers.append((name, response.status_code, seconds, response))
            if stale_since is None and "X-Calbridge-Stale" in response.headers:
                stale_since = time.monotonic()
        time.sleep(0.2)


def service_errors(directory: Path) -> str:
    """The errors the installation's processes logged, each once (for failure messages): the
    [ERROR] lines and the exception lines that end their tracebacks."""
    found: dict[str, None] = {}
    for log in sorted(directory.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            exception = re.match(r"^[\w.]+(Error|Exception)\b", line)
            if "[ERROR]" in line or exception:
                found.setdefault(f"{log.name}: {line}")
    return "\n".join(list(found)[-30:])
