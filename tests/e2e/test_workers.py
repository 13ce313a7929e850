"""`calbridge serve --workers N` on PostgreSQL: gunicorn forks the workers after the app (and
its connection pools) were built in the master, and every start must come up clean."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import add_sources, create_feed
from tests.e2e.processes import BridgeEnv, BridgeServer
from tests.stores import POSTGRES_URL, fresh_database_url

STARTS = 10


def wait_for_data(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while httpx.get(url, timeout=60).status_code == 503:
        assert time.monotonic() < deadline, "the first fetch never landed"
        time.sleep(0.2)


@pytest.mark.xdist_group("postgresql-processes")
@pytest.mark.processes
@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="CALBRIDGE_TEST_DATABASE_URL is not set")
def test_forked_workers_start_cleanly_on_postgresql(upstream, tmp_path: Path) -> None:
    simulators, sim = upstream
    with fresh_database_url("postgresql", tmp_path) as database_url:
        env = BridgeEnv(tmp_path, cache_ttl=600, extra={"CALBRIDGE_DATABASE_URL": database_url})
        add_sources(env, simulators, sim.url)
        feed = create_feed(env)
        for start in range(STARTS):
            server = BridgeServer(env).start("--workers", "4")
            try:
                if start == 0:  # the first fetch (queued by `feed create`) has to land first
                    wait_for_data(feed["ics_url"])
                with ThreadPoolExecutor(16) as pool:
                    answers = list(
                        pool.map(lambda _: httpx.get(feed["ics_url"], timeout=60), range(32))
                    )
            finally:
                server.stop()
            statuses = sorted({answer.status_code for answer in answers})
            assert statuses == [200], f"start {start + 1}: {statuses}"
            log = server.log_path.read_text()
            assert "Traceback" not in log and "failed" not in log, f"start {start + 1}:\n{log}"
