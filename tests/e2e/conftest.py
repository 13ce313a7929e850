"""Fixtures for whole-process tests: simulators on loopback and calbridge as real processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bridge.simulator.combined import Simulators, build_simulators
from bridge.simulator.server import RunningServer, start_server
from tests.e2e.processes import BridgeEnv, BridgeServer


@pytest.fixture
def upstream() -> Iterator[tuple[Simulators, RunningServer]]:
    simulators = build_simulators()
    running = start_server(simulators)
    yield simulators, running
    running.stop()


@pytest.fixture
def bridge_env(tmp_path: Path) -> BridgeEnv:
    return BridgeEnv(tmp_path, cache_ttl=1)


@pytest.fixture
def server(bridge_env: BridgeEnv) -> Iterator[BridgeServer]:
    running = BridgeServer(bridge_env)
    yield running
    running.stop()


def add_sources(env: BridgeEnv, simulators: Simulators, base_url: str) -> None:
    """Register both simulated accounts through the CLI, as an operator would."""
    options = simulators.source_options(base_url)
    for kind in ("tagmango", "trainercentral"):
        flags: list[str] = []
        for key, value in options[kind].items():
            flags += [f"--{key.replace('_', '-')}", value]
        env.cli_json("source", "add", kind, "--name", f"{kind}-sim", *flags)


def create_feed(env: BridgeEnv, *extra: str) -> dict[str, Any]:
    return env.cli_json(
        "feed",
        "create",
        "--name",
        "Workshops",
        "--source",
        "tagmango-sim",
        "--source",
        "trainercentral-sim",
        "--timezone",
        "Europe/Berlin",
        *extra,
    )


def feed_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or datetime.now(UTC)
    return now - timedelta(days=40), now + timedelta(days=200)


T = TypeVar("T")


def eventually(
    read: Callable[[], T], done: Callable[[T], bool], seconds: float = 15.0, every: float = 0.2
) -> T:
    """What `read` gives once `done` holds (or at the deadline, for the caller to assert on):
    a background refresh lands some time after the upstream change that calls for it, and
    feeds are served from stored data meanwhile."""
    deadline = time.monotonic() + seconds
    while not done(value := read()) and time.monotonic() < deadline:
        time.sleep(every)
    return value
