"""How long a feed has been stale: counted from the first failed fetch of the current outage,
stored with the fetch state so every worker and a restart agree (bridge/jobs/fetcher.py,
bridge/store/schedule_queries.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.crypto import CredentialBox
from bridge.feed_views import FeedView
from bridge.rendering import FeedRenderer
from bridge.services import build_services
from bridge.settings import Settings
from bridge.store import Store
from bridge.upstream.base import FetchResult
from bridge.upstream.errors import UpstreamUnavailable
from feeds.model import Session, SourceKind
from tests.stores import BACKENDS, fresh_database_url

T0 = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class SlowUpstream:
    """Lists one session; when `failing`, each fetch takes `retry_seconds` (of the injected
    clock, like retries with backoff) and then fails."""

    clock: Clock
    failing: bool = False
    retry_seconds: float = 0.0
    sessions: list[Session] = field(default_factory=list)

    def client(self, *args: object, **kwargs: object) -> SlowUpstream:
        return self

    def fetch(self, start: datetime, end: datetime) -> FetchResult:
        if self.failing:
            self.clock.advance(self.retry_seconds)
            raise UpstreamUnavailable("tm", "HTTP 502 after 5 attempts")
        return FetchResult(self.sessions)

    def close(self) -> None:
        pass


@dataclass
class Rig:
    settings: Settings
    store: Store
    clock: Clock
    upstream: SlowUpstream
    view: FeedView

    def refresher(self) -> FeedRenderer:
        """Services of their own: another process, or the service after a restart."""
        return build_services(
            self.settings,
            store=self.store,
            clock=self.clock,
            client_factory=self.upstream.client,
            immediate_jobs=True,
        ).feeds


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    # cache_ttl 0: every render fetches again.
    settings = replace(Settings.for_demo(tmp_path, "https://cal.example.com"), cache_ttl=0)
    store = Store(settings.database_url, CredentialBox(settings.secret_key))
    store.migrate()
    clock = Clock()
    start = T0 + timedelta(days=1)
    upstream = SlowUpstream(
        clock,
        sessions=[
            Session(
                source_kind=SourceKind.TAGMANGO,
                source_name="tm",
                upstream_id="a",
                title="Session a",
                start=start,
                end=start + timedelta(hours=1),
            )
        ],
    )
    source = store.add_source("tm", "tagmango", {"whitelabel_host": "h"}, {"token": "k"})
    feed, _ = store.create_feed(name="Feed", source_ids=[source.id], timezone="Europe/Berlin")
    yield Rig(settings, store, clock, upstream, FeedView.of_feed(feed))
    store.close()


def test_the_stale_age_starts_at_the_first_failed_fetch_not_the_last_success(rig: Rig) -> None:
    worker = rig.refresher()
    assert worker.render(rig.view).stale_since is None  # fetched at T0
    rig.upstream.failing, rig.upstream.retry_seconds = True, 30
    rig.clock.advance(700)
    first = worker.render(rig.view)  # the fetch starting at T0 + 700 s fails 30 s later
    outage = T0 + timedelta(seconds=700)
    assert first.stale_since == outage
    assert first.stale_age(rig.clock()) == 30 and first.data_age(rig.clock()) == 730
    rig.clock.advance(100)
    later = worker.render(rig.view)  # another failure: same outage, same start
    assert later.stale_since == outage and later.stale_age(rig.clock()) == 160


def test_every_worker_and_a_restart_agree_on_the_outage(rig: Rig) -> None:
    first_worker = rig.refresher()
    first_worker.render(rig.view)
    rig.upstream.failing, rig.upstream.retry_seconds = True, 5
    rig.clock.advance(600)
    outage = T0 + timedelta(seconds=600)
    assert first_worker.render(rig.view).stale_since == outage
    rig.clock.advance(60)
    second_worker = rig.refresher()  # fails too, later: the outage began earlier all the same
    assert second_worker.render(rig.view).stale_since == outage
    assert rig.store.fetch_state(first_worker.partitions(rig.view.feed)[0]).failing_since == outage


def test_a_success_ends_the_outage_and_the_next_one_counts_afresh(rig: Rig) -> None:
    worker = rig.refresher()
    worker.render(rig.view)
    rig.upstream.failing = True
    rig.clock.advance(600)
    assert worker.render(rig.view).stale_since == T0 + timedelta(seconds=600)
    rig.upstream.failing = False
    rig.clock.advance(600)
    assert worker.render(rig.view).stale_since is None
    partition = worker.partitions(rig.view.feed)[0]
    assert rig.store.fetch_state(partition).failing_since is None
    rig.upstream.failing = True
    rig.clock.advance(600)
    assert worker.render(rig.view).stale_since == T0 + timedelta(seconds=1800)


@pytest.mark.parametrize("backend", BACKENDS)
def test_record_fetch_keeps_the_first_failure_until_a_success(backend: str, tmp_path: Path) -> None:
    with (
        fresh_database_url(backend, tmp_path) as url,
        Store(url, CredentialBox("stale-age-test-secret-key")) as store,
    ):
        store.migrate()
        source = store.add_source("tm", "tagmango", {"whitelabel_host": "h"}, {"token": "k"}).id
        record_an_outage(store, source)


def record_an_outage(store: Store, source: int) -> None:
    at = [T0 + timedelta(minutes=minutes) for minutes in range(5)]
    store.record_fetch(source, ok=True, error=None, at=at[0])
    store.record_fetch(source, ok=False, error="down", at=at[2], started_at=at[1])
    store.record_fetch(source, ok=False, error="down", at=at[3], started_at=at[3])
    state = store.fetch_state(source)
    assert state.failing and state.failing_since == at[1] and state.last_error_at == at[3]
    store.record_fetch(source, ok=True, error=None, at=at[4])
    assert store.fetch_state(source).failing_since is None
