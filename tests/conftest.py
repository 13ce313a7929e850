"""Shared fixtures. The autouse guard keeps every test off the internet: only 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from bridge.upstream import budget
from bridge.upstream.budget import configure_budgets, remove_budget_listener

_ALLOWED_HOSTS = {"127.0.0.1", "localhost", "::1"}
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_create_connection = socket.create_connection


def _host_of(address: object) -> str | None:
    if isinstance(address, tuple) and address:
        return str(address[0])
    return None  # AF_UNIX paths and the like are local by construction


def _check(address: object) -> None:
    host = _host_of(address)
    if host is not None and host not in _ALLOWED_HOSTS:
        raise ConnectionRefusedError(f"tests may only connect to 127.0.0.1, not {host!r}")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection that is not to the loopback interface."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


@pytest.fixture(autouse=True)
def budgets_back_in_memory() -> Iterator[None]:
    """Each app a test builds points this process's rate budgets at its own instance folder
    (bridge.upstream.budget is per process, as an installation is): put them back in memory
    afterwards, so no test spends another test's budget."""
    yield
    configure_budgets(None)
    for listener in list(budget._listeners):
        remove_budget_listener(listener)
