"""Fixtures of the store tests, on SQLite and PostgreSQL.

Each test module migrates one database per backend (`migrated_database`, module scope: creating
a PostgreSQL database is slow) and every test starts from it emptied (`database_url`). `store`
opens a Store on it with the real clock and `source` adds a TagMango source; a module that
wants a settable clock or its own key defines its own `store`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bridge.crypto import CredentialBox
from bridge.store import Store
from tests.stores import BACKENDS, empty_database, migrated_database_url

BOX = CredentialBox("store-test-secret-key-0123")


@pytest.fixture(scope="module", params=BACKENDS)
def migrated_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with migrated_database_url(request.param, tmp_path_factory.mktemp("store")) as url:
        yield url


@pytest.fixture
def database_url(migrated_database: str) -> str:
    empty_database(migrated_database)
    return migrated_database


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with Store(database_url, BOX) as opened:
        yield opened


@pytest.fixture
def source(store: Store) -> int:
    return store.add_source("tm", "tagmango", {}, {"token": "t"}).id
