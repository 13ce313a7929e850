"""Fixtures for whole-process tests: simulators on loopback and calbridge as real processes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
