"""A Store used across os.fork (gunicorn workers are forked after the app is built): the child
must open its own database connections, never reuse the parent's pooled ones."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bridge.crypto import CredentialBox
from bridge.store import Store
from tests.stores import BACKENDS, migrated_database_url


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with (
        migrated_database_url(request.param, tmp_path) as url,
        Store(url, CredentialBox("fork-test-key")) as opened,
    ):
        yield opened


def in_child(work) -> str:  # type: ignore[no-untyped-def]
    """Run `work()` in a forked child and return what it printed (or its error)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running pytest's teardown
        try:
            answer = str(work())
        except BaseException as error:  # everything goes back to the parent
            answer = f"error: {type(error).__name__}: {error}"
        os.write(write, answer.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    return answer


def backend_pid(store: Store) -> int:
    with store._engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_forked_child_opens_its_own_connections(store: Store) -> None:
    store.add_source("before-fork", "tagmango", {}, {"token": "t"})  # the pool now holds one
    assert store.healthy()

    def child_work() -> str:
        store.add_source("in-child", "tagmango", {}, {"token": "t"})
        pid = backend_pid(store) if store._engine.dialect.name == "postgresql" else 0
        return f"{[source.name for source in store.list_sources()]} {pid}"

    answer = in_child(child_work)
    assert answer.startswith("['before-fork', 'in-child'] "), answer
    if store._engine.dialect.name == "postgresql":
        assert int(answer.split()[-1]) != backend_pid(store)
    # The parent's connections were left alone: they still work.
    assert store.healthy()
    assert [source.name for source in store.list_sources()] == ["before-fork", "in-child"]


def test_an_in_memory_store_keeps_its_data_in_a_forked_child() -> None:
    with Store("sqlite://", CredentialBox("fork-test-key")) as memory:
        memory.migrate()
        memory.add_source("before-fork", "tagmango", {}, {"token": "t"})
        answer = in_child(lambda: [source.name for source in memory.list_sources()])
    assert answer == "['before-fork']"
