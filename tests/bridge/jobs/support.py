"""A scripted upstream and services around it, for the tests of the refresh jobs.

The store is a real database (SQLite in tmp_path, or PostgreSQL), the queue a real Huey
queue (a SQLite file) unless a test asks for immediate jobs; only the upstream client is a
script and the clock is injected.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.feed_views import FeedView
from bridge.partitions import Partition
from bridge.services import Services, build_services
from bridge.settings import Settings
from bridge.upstream.base import FetchResult
from feeds.model import Session, SourceKind
from tests.stores import Clock

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def session(upstream_id: str, hours_from_now: float, now: datetime = NOW) -> Session:
    """A one-hour TagMango session starting `hours_from_now` after `now`."""
    start = now + timedelta(hours=hours_from_now)
    return Session(
        source_kind=SourceKind.TAGMANGO,
        source_name="tm",
        upstream_id=upstream_id,
        title=f"Session {upstream_id}",
        start=start,
        end=start + timedelta(hours=1),
        meeting_url=f"https://meet.example.com/{upstream_id}",
    )


@dataclass
class ScriptedUpstream:
    """Lists `sessions` (or raises `error`); `gate`, when set, holds each fetch until opened."""

    sessions: list[Session] = field(default_factory=lambda: [session("a", 2)])
    error: Exception | None = None
    gate: threading.Event | None = None
    fetches: list[str] = field(default_factory=list)  # the partition key of each fetch

    def client(self, *args: object, **_kwargs: object) -> _Client:
        partition = args[4]
        assert isinstance(partition, Partition)
        return _Client(self, partition.key)


@dataclass
class _Client:
    upstream: ScriptedUpstream
    key: str

    def fetch(self, start: datetime, end: datetime) -> FetchResult:
        self.upstream.fetches.append(self.key)
        if self.upstream.gate is not None:
            self.upstream.gate.wait(10)
        if self.upstream.error is not None:
            raise self.upstream.error
        return FetchResult([s for s in self.upstream.sessions if start <= s.start < end])

    def close(self) -> None:
        pass


@dataclass
class Rig:
    services: Services
    upstream: ScriptedUpstream
    clock: Clock
    source_id: int

    def feed(self, name: str = "Feed", **filters: object) -> FeedView:
        feed, _ = self.services.store.create_feed(
            name=name, source_ids=[self.source_id], timezone="UTC", filters=filters
        )
        return FeedView.of_feed(feed)


def make_rig(
    tmp_path: Path,
    *,
    database_url: str | None = None,
    immediate_jobs: bool = False,
    cache_ttl: int = 600,
) -> Rig:
    settings = Settings(
        secret_key="jobs-test-secret-key-0123456789",
        instance_path=tmp_path,
        database_url=database_url or f"sqlite:///{(tmp_path / 'calbridge.db').as_posix()}",
        public_url="https://cal.example.com",
        cache_ttl=cache_ttl,
    )
    upstream = ScriptedUpstream()
    clock = Clock(NOW)
    services = build_services(
        settings, clock=clock, client_factory=upstream.client, immediate_jobs=immediate_jobs
    )
    source = services.store.add_source("tm", "tagmango", {"whitelabel_host": "h"}, {"token": "k"})
    return Rig(services, upstream, clock, source.id)


def wait_until(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
