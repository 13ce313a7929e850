"""Fixtures of the push tests: one real Radicale server per module, a fresh calendar and
fresh services per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bridge.push.radicale_support import RadicaleServer
from tests.bridge.push.support import PushEnv, make_env


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    server = RadicaleServer.start(tmp_path_factory.mktemp("radicale"))
    yield server
    server.stop()


@pytest.fixture
def env(
    tmp_path: Path, radicale: RadicaleServer, request: pytest.FixtureRequest
) -> Iterator[PushEnv]:
    name = "cal-" + "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    with make_env(tmp_path, radicale, name) as push_env:
        yield push_env
