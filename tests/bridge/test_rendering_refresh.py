"""Rendering with refresh jobs run as they are queued: TTL reuse, one fetch for
concurrent readers, stale-on-error, never-fetched 503, tombstones, horizons.

A scripted upstream client stands in for the platforms here (the whole-process tests in
tests/e2e use the real simulators over HTTP); the store is a real SQLite database.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.crypto import CredentialBox
from bridge.feed_views import FeedUnavailable, FeedView
from bridge.services import build_services
from bridge.settings import Settings
from bridge.store import Store
from bridge.upstream.base import FetchResult
from bridge.upstream.errors import UpstreamUnavailable
from bridge.web.join import pick_occurrence
from feeds.model import Session, SourceKind, Status
from tests.ical_validators import validate_feed

NOW = datetime.now(UTC).replace(microsecond=0)


def session(upstream_id: str, hours_from_now: float, **changes: object) -> Session:
    start = NOW + timedelta(hours=hours_from_now)
    fields: dict = {
        "source_kind": SourceKind.TAGMANGO,
        "source_name": "tm",
        "upstream_id": upstream_id,
        "title": f"Session {upstream_id}",
        "start": start,
        "end": start + timedelta(hours=1),
        "meeting_url": f"https://meet.example.com/{upstream_id}",
    }
    fields.update(changes)
    return Session(**fields)


@dataclass
class ScriptedUpstream:
    """Answers every fetch with `sessions`, or raises `error`; counts fetches."""

    sessions: list[Session] = field(default_factory=list)
    error: Exception | None = None
    delay: float = 0.0
    fetches: int = 0

    def client(self, *args: object, **kwargs: object) -> ScriptedUpstream:
        return self

    def fetch(self, start: datetime, end: datetime) -> FetchResult:
        self.fetches += 1
        time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return FetchResult([s for s in self.sessions if start <= s.start < end])

    def close(self) -> None:
        pass


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = Settings.for_demo(tmp_path, "https://cal.example.com")
    store = Store(settings.database_url, CredentialBox(settings.secret_key))
    store.migrate()
    upstream = ScriptedUpstream([session("a", 2), session("b", 30)])
    clock = [NOW]
    refresher = build_services(
        settings,
        store=store,
        clock=lambda: clock[0],
        client_factory=upstream.client,
        immediate_jobs=True,
    ).feeds
    refresher.advance = lambda seconds: clock.__setitem__(0, clock[0] + timedelta(seconds=seconds))
    source = store.add_source("tm", "tagmango", {"whitelabel_host": "h"}, {"token": "k"})
    feed, _ = store.create_feed(name="Feed", source_ids=[source.id], timezone="Europe/Berlin")
    view = FeedView.of_feed(feed)
    yield refresher, upstream, view
    store.close()


def uids(body: bytes) -> list[str]:
    return [
        o.uid
        for o in validate_feed(body, start=NOW - timedelta(days=40), end=NOW + timedelta(days=200))
    ]


def test_results_are_reused_for_the_ttl(setup) -> None:  # type: ignore[no-untyped-def]
    refresher, upstream, view = setup
    first = refresher.render(view)
    second = refresher.render(view)
    assert upstream.fetches == 1
    assert first.body == second.body and first.etag == second.etag
    assert first.stale_since is None
    assert len(uids(first.body)) == 2


def test_concurrent_renders_share_one_fetch(setup) -> None:  # type: ignore[no-untyped-def]
    refresher, upstream, view = setup
    upstream.delay = 0.3
    threads = [threading.Thread(target=refresher.render, args=(view,)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert upstream.fetches == 1


def test_failing_upstream_serves_last_good_data_marked_stale(setup) -> None:  # type: ignore[no-untyped-def]
    refresher, upstream, view = setup
    good = refresher.render(view)
    upstream.error = UpstreamUnavailable("tm", "HTTP 500 after 5 attempts")
    refresher.advance(700)
    stale = refresher.render(view)
    assert stale.body == good.body
    outage = NOW + timedelta(seconds=700)  # the first failed fetch
    assert stale.stale_since == outage and stale.stale_age(outage + timedelta(seconds=5)) == 5
    assert stale.data_age(outage) == 700
    assert "calbridge_stale_serves_total 1.0" in refresher.metrics.render().decode()


def test_never_fetched_feed_is_unavailable_with_the_reason(setup) -> None:  # type: ignore[no-untyped-def]
    refresher, upstream, view = setup
    upstream.error = UpstreamUnavailable("tm", "HTTP 503 after 5 attempts")
    with pytest.raises(FeedUnavailable, match="HTTP 503 after 5 attempts") as raised:
        refresher.render(view)
    assert raised.value.retry_after > 0


def test_vanished_upcoming_session_becomes_a_cancelled_tombstone(setup) -> None:  # type: ignore[no-untyped-def]
    refresher, upstream, view = setup
    refresher.render(view)
    upstream.sessions = [session("b", 30)]
    refresher.advance(700)  # the TTL has passed
    occurrences = validate_feed(
        refresher.render(view).body, start=NOW - timedelta(days=1), end=NOW + timedelta(days=10)
    )
    assert [(o.summary, o.status) for o in occurrences] == [
        ("Cancelled: Session a", "CANCELLED"),
        ("Session b", "CONFIRMED"),
    ]


def test_old_cancelled_sessions_leave_the_feed(setup) -> None:  # type: ignore[no-untyped-def]
    refresher, upstream, view = setup
    upstream.sessions = [session("old", -40, status=Status.CANCELLED), session("b", 30)]
    body = refresher.render(view).body
    assert [uid.split("@")[0] for uid in uids(body)] == ["tagmango-b"]


def test_join_target_is_the_current_or_next_live_occurrence() -> None:
    over = session("over", -30)
    cancelled = session("cancelled", 1, status=Status.CANCELLED)
    running = session("running", -0.5)
    later = session("later", 24)
    assert pick_occurrence([later, running, cancelled, over], NOW) == running
    assert pick_occurrence([over, cancelled], NOW) is None
    assert pick_occurrence([session("just-over", -10)], NOW) is not None  # within 24 h


def test_feeds_sharing_a_source_each_get_their_whole_horizon(setup) -> None:  # type: ignore[no-untyped-def]
    refresher, upstream, view = setup
    store = refresher.store
    upstream.sessions = [session("soon", 2), session("later", 24 * 20)]
    short, _ = store.create_feed(
        name="Short", source_ids=list(view.feed.source_ids), horizon_days=1
    )
    refresher.render(FeedView.of_feed(short))
    long_body = refresher.render(view).body  # horizon 180 days, same partition, within the TTL
    assert [uid.split("@")[0] for uid in uids(long_body)] == ["tagmango-soon", "tagmango-later"]
    assert upstream.fetches == 2  # the wider horizon was read at once, whatever the TTL
    refresher.render(FeedView.of_feed(short))
    refresher.render(view)
    assert upstream.fetches == 2  # and serves both feeds from then on


def test_an_unexpected_fetch_failure_serves_stale_data_not_a_500(setup) -> None:  # type: ignore[no-untyped-def]
    refresher, upstream, view = setup
    good = refresher.render(view)
    upstream.error = RuntimeError("credentials sealed with a retired key")
    refresher.advance(700)
    stale = refresher.render(view)
    assert stale.body == good.body and stale.stale_since == NOW + timedelta(seconds=700)
    state = refresher.store.fetch_state(refresher.partitions(view.feed)[0])
    assert "RuntimeError: credentials sealed with a retired key" in state.last_error


def test_a_new_body_never_gets_an_older_last_modified(setup) -> None:  # type: ignore[no-untyped-def]
    refresher, upstream, view = setup
    upstream.sessions = [session("past", -20), session("b", 30)]
    feed, _ = refresher.store.create_feed(
        name="Recent", source_ids=list(view.feed.source_ids), history_days=1
    )
    recent = FeedView.of_feed(feed)
    first = refresher.render(recent)
    for cached in refresher._renders.values():
        cached.rendered_at = float("-inf")  # the rendered feed's TTL has passed
    refresher.advance(10 * 3600)  # "past" slides out of the one-day history window
    second = refresher.render(recent)
    assert second.etag != first.etag
    assert second.last_modified > first.last_modified
