"""Fixtures of the TrainerCentral and Zoho client tests (tests/tc_support.py says why one
loopback server a module): the server, fresh Zoho accounts mounted on it, a quick
UpstreamHTTP, and `fresh_process_cache`, which a module asks for with `usefixtures`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bridge.simulator.server import RunningServer, start_server
from bridge.simulator.zoho import ZohoAccountsSimulator
from bridge.upstream.http import UpstreamHTTP
from bridge.upstream.zoho import forget_cached_tokens
from tests.tc_support import Mount, quick_http


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    running = start_server(Mount())
    yield running
    running.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[UpstreamHTTP]:
    client = quick_http()
    yield client
    client.close()


@pytest.fixture
def fresh_process_cache() -> Iterator[None]:
    """Every test starts as a freshly started process: no token cached in memory."""
    forget_cached_tokens()
    yield
    forget_cached_tokens()


@pytest.fixture
def accounts(server: RunningServer) -> ZohoAccountsSimulator:
    simulator = ZohoAccountsSimulator()
    server.server.app.accounts = simulator
    return simulator
