"""A Flask app on a real store, job queue and renderer, fed by an in-process upstream.

The upstream is a small source handed to `create_app(client_factory=...)`, so each test
decides what upstream lists and whether it fails; everything else (store, refresh jobs, feed
renderer, signing) is the real thing on a SQLite file in tmp_path. Used by the tests of the
web layer (tests/bridge/web/test_pages.py, tests/bridge/web/test_ics.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from lxml import html

from bridge import operations
from bridge.app import create_app
from bridge.settings import Settings
from bridge.upstream.base import FetchResult
from bridge.upstream.errors import UpstreamUnavailable
from feeds.model import Session, SourceKind, Status

PUBLIC = "https://cal.example.org"
NOW = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)  # Monday 08:00 in Berlin
FEED_NAME = "Yoga & Friends: live"


@dataclass
class Upstream:
    """What the fake source lists; `failing` makes every fetch raise UpstreamUnavailable."""

    sessions: list[Session] = field(default_factory=list)
    failing: bool = False

    def fetch(self, window_start: datetime, window_end: datetime) -> FetchResult:
        if self.failing:
            raise UpstreamUnavailable("mango", "connection refused")
        return FetchResult([s for s in self.sessions if window_start <= s.start < window_end])

    def close(self) -> None:
        """The fetcher closes each client after its fetch; nothing to release here."""


def call(upstream_id: str, title: str, start: datetime, **extra: Any) -> Session:
    return Session(
        source_kind=SourceKind.TAGMANGO,
        source_name="mango",
        upstream_id=upstream_id,
        title=title,
        start=start,
        end=start + timedelta(hours=1),
        meeting_url=extra.pop("meeting_url", f"https://meet.example.org/{upstream_id}"),
        **extra,
    )


def default_sessions() -> list[Session]:
    return [
        call("past", "Yesterday's class", NOW - timedelta(days=1)),
        call("c1", "Morning flow", NOW + timedelta(hours=2)),
        call("c2", "Breathwork <basics>", NOW + timedelta(days=1)),
        call("c3", "Sunday long practice", NOW + timedelta(days=2), status=Status.CANCELLED),
        call("c4", "Not linked yet", NOW + timedelta(days=3), meeting_url=None),
    ]


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Harness:
    app: Flask
    client: FlaskClient
    upstream: Upstream
    clock: Clock
    feed_id: int
    token: str

    @property
    def services(self) -> Any:
        return self.app.extensions["calbridge"]

    def refetch(self) -> None:
        """Read upstream again now, whatever the TTL (as a webhook would have it)."""
        feed = self.services.store.feed(self.feed_id)
        for partition in self.services.feeds.partitions(feed):
            self.services.refreshes.request(partition, force=True)

    def page(self, token: str | None = None, status: int = 200) -> html.HtmlElement:
        response = self.client.get(f"/f/{token or self.token}")
        assert response.status_code == status, response.get_data(as_text=True)
        return html.fromstring(response.get_data(as_text=True))


def token_of(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1].removesuffix(".ics")


def make_harness(tmp_path: Path, upstream: Upstream | None = None) -> Harness:
    """An app on a SQLite file in tmp_path, a TagMango source served by an `Upstream` and a feed.

    Refresh jobs run as they are queued, so creating the feed has fetched it once already:
    a test of what the first fetch finds passes its own `upstream`."""
    upstream = upstream or Upstream(default_sessions())
    settings = Settings(
        secret_key="pages-test-secret-key-0123456789",
        instance_path=tmp_path,
        database_url=f"sqlite:///{(tmp_path / 'calbridge.db').as_posix()}",
        public_url=PUBLIC,
        cache_ttl=0,  # every request asks upstream again, so tests can flip it
    )
    clock = Clock()
    app = create_app(
        settings, clock=clock, client_factory=lambda *a, **k: upstream, immediate_jobs=True
    )
    app.config["TESTING"] = True
    services = app.extensions["calbridge"]
    operations.add_tagmango_source(
        services, name="mango", token="tm-key", whitelabel_host="demo.example.org"
    )
    created = operations.create_feed(
        services, name=FEED_NAME, sources=["mango"], timezone="Europe/Berlin"
    )
    token = token_of(created.links.ics_url)
    return Harness(app, app.test_client(), upstream, clock, created.id, token)
