"""Event UIDs keep the domain stored at an installation's first start: moving the service to
another CALBRIDGE_PUBLIC_URL changes every link, and no UID."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import icalendar
import pytest
from flask import Flask

from bridge import operations
from bridge.app import create_app
from bridge.crypto import CredentialBox
from bridge.settings import Settings
from bridge.store import Store
from bridge.store.instance_queries import UID_DOMAIN
from tests.stores import BACKENDS, fresh_database_url
from tests.web_support import NOW, PUBLIC, Harness, Upstream, call, default_sessions, make_harness

MOVED = "https://calendar.example.net/bridge"


def weekly_and_single_sessions() -> list:
    weekly = [
        call(
            f"w{week}",
            "Weekly flow",
            NOW + timedelta(days=1 + 7 * week),
            series_key="flow",
            meeting_url="https://meet.example.org/flow",
        )
        for week in range(4)
    ]
    return default_sessions() + weekly


def feed_events(app: Flask, token: str) -> list[icalendar.Event]:
    response = app.test_client().get(f"/f/{token}.ics")
    assert response.status_code == 200, response.get_data(as_text=True)
    return list(icalendar.Calendar.from_ical(response.data).walk("VEVENT"))


def moved_app(harness: Harness, public_url: str, **settings: object) -> Flask:
    """The same installation (same database) started again with another public URL."""
    moved = dataclasses.replace(harness.services.settings, public_url=public_url, **settings)
    return create_app(moved, clock=harness.clock, client_factory=lambda *a, **k: harness.upstream)


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path, Upstream(weekly_and_single_sessions()))


def test_a_new_public_url_changes_the_links_and_no_uid(harness: Harness) -> None:
    before = feed_events(harness.app, harness.token)
    assert len(before) >= 5 and any("RRULE" in event for event in before)
    assert {str(e["UID"]).rsplit("@", 1)[1] for e in before} == {"cal.example.org"}
    assert all(str(e["URL"]).startswith(f"{PUBLIC}/j/") for e in before if "URL" in e)

    app = moved_app(harness, MOVED)
    after = feed_events(app, harness.token)
    assert {str(e["UID"]) for e in after} == {str(e["UID"]) for e in before}
    links = [str(e["URL"]) for e in after if "URL" in e]
    assert links and all(link.startswith(f"{MOVED}/j/") for link in links)
    # The change log names the same UIDs as the feed.
    services = app.extensions["calbridge"]
    logged = {c.uid for c in operations.feed_changes(services, harness.feed_id).changes}
    single = {str(e["UID"]) for e in after if "RRULE" not in e}
    assert single and single <= logged


def test_an_explicit_uid_domain_is_only_taken_at_the_first_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        secret_key="uid-domain-test-secret-key-0123",
        instance_path=tmp_path,
        database_url=f"sqlite:///{(tmp_path / 'calbridge.db').as_posix()}",
        public_url="http://127.0.0.1:8000",
        uid_domain="events.example.com",
    )
    first = create_app(settings).extensions["calbridge"]
    assert first.feeds.uid_domain == "events.example.com"
    with caplog.at_level(logging.WARNING, logger="bridge.services"):
        again = create_app(dataclasses.replace(settings, uid_domain="other.example.com"))
    assert again.extensions["calbridge"].feeds.uid_domain == "events.example.com"
    assert "keeping events.example.com" in caplog.text
    unset = create_app(dataclasses.replace(settings, uid_domain=None, public_url=MOVED))
    assert unset.extensions["calbridge"].feeds.uid_domain == "events.example.com"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database_url(request.param, tmp_path) as url:
        with Store(url, CredentialBox("uid-domain-schema-key-0123")) as store:
            store.migrate()
        yield url


def test_processes_starting_at_once_all_get_the_first_value(database_url: str) -> None:
    stores = [Store(database_url, CredentialBox("uid-domain-store-key-0123")) for _ in range(6)]
    results: list[str] = []
    barrier = threading.Barrier(len(stores))

    def start(index: int) -> None:
        barrier.wait()
        results.append(stores[index].instance_setting(UID_DOMAIN, f"host{index}.example.com"))

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert len(results) == len(stores) and len(set(results)) == 1
    with Store(database_url, CredentialBox("uid-domain-store-key-0123")) as store:
        assert store.instance_setting(UID_DOMAIN, "late.example.com") == results[0]
