"""The renderer's hot path: what a request for an already rendered feed costs.

A cached feed is served without database queries (the source kinds are kept, and the fetch
states for up to STATE_MAX_AGE), concurrent requests that miss the cache share one
render, a re-render after the TTL reuses the per-event render cache because the join
links of a view compare equal from one render to the next, and a join click or event download
looks its UID up in an index kept with the rendered feed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

import bridge.rendering
import feeds.ical
from bridge.crypto import CredentialBox
from bridge.feed_views import FeedView
from bridge.links import JoinLinks
from bridge.rendering import FeedRenderer
from bridge.services import build_services
from bridge.settings import Settings
from bridge.store import Store
from bridge.upstream.base import FetchResult
from bridge.upstream.errors import UpstreamUnavailable
from feeds.model import Scope, Session
from tests.bridge.jobs import support
from tests.ical_reference import render_feed_icalendar

NOW = datetime.now(UTC).replace(microsecond=0)


def session(upstream_id: str, hours_from_now: float) -> Session:
    return support.session(upstream_id, hours_from_now, now=NOW)


@dataclass
class Upstream:
    sessions: list[Session] = field(default_factory=list)
    error: Exception | None = None
    fetches: int = 0

    def client(self, *args: object, **kwargs: object) -> Upstream:
        return self

    def fetch(self, start: datetime, end: datetime) -> FetchResult:
        self.fetches += 1
        if self.error is not None:
            raise self.error
        return FetchResult([s for s in self.sessions if start <= s.start < end])

    def close(self) -> None:
        pass


@dataclass
class Rig:
    refresher: FeedRenderer
    upstream: Upstream
    view: FeedView
    statements: list[str]  # SQL run since the test began (or last cleared it)
    clock: list[datetime]  # the refresher's "now", which the tests move on


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    settings = Settings.for_demo(tmp_path, "https://cal.example.com")
    store = Store(settings.database_url, CredentialBox(settings.secret_key))
    store.migrate()
    upstream = Upstream([session(f"s{i}", 2 + i) for i in range(30)])
    now = [NOW]  # the tests move it on
    refresher = build_services(
        settings,
        store=store,
        clock=lambda: now[0],
        client_factory=upstream.client,
        immediate_jobs=True,
    ).feeds
    source = store.add_source("tm", "tagmango", {"whitelabel_host": "h"}, {"token": "k"})
    feed, _ = store.create_feed(name="Feed", source_ids=[source.id], timezone="Europe/Berlin")
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(store._engine, "before_cursor_execute", record)
    yield Rig(
        refresher,
        upstream,
        FeedView.of_feed(feed),
        statements,
        now,
    )
    store.close()


def test_a_cached_feed_is_served_without_database_queries(rig: Rig) -> None:
    refresher, upstream, view, statements = rig.refresher, rig.upstream, rig.view, rig.statements
    first = refresher.render(view)
    statements.clear()
    again = refresher.render(view)
    assert statements == []
    assert again.body == first.body and upstream.fetches == 1


def test_fetch_state_is_read_again_after_each_fetch(rig: Rig) -> None:
    refresher, upstream, view = rig.refresher, rig.upstream, rig.view
    assert refresher.render(view).stale_since is None
    upstream.error = UpstreamUnavailable("tm", "HTTP 502 after 5 attempts")
    rig.clock[0] += timedelta(minutes=20)
    stale = refresher.render(view)
    outage = NOW + timedelta(minutes=20)
    assert stale.stale_since == outage
    assert refresher.render(view).stale_since == outage  # remembered until the next fetch
    upstream.error = None
    rig.clock[0] += timedelta(minutes=20)
    assert refresher.render(view).stale_since is None


def test_concurrent_misses_share_one_render(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    refresher, view = rig.refresher, rig.view
    refresher.render(view)  # fetched and rendered once
    renders = []
    real_render_feed = bridge.rendering.render_feed

    def slow_render_feed(*args: Any, **kwargs: Any) -> bytes:
        renders.append(threading.get_ident())
        time.sleep(0.2)
        return real_render_feed(*args, **kwargs)

    monkeypatch.setattr(bridge.rendering, "render_feed", slow_render_feed)
    refresher._renders.clear()  # as when the rendered feed's TTL has passed
    bodies: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: bodies.append(refresher.render(view).body))
        for _ in range(12)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(renders) == 1
    assert len(bodies) == 12 and len(set(bodies)) == 1


def test_join_links_of_one_view_compare_equal(rig: Rig) -> None:
    refresher, view = rig.refresher, rig.view
    first = refresher.options(view, expand=False, now=NOW).join_url
    second = refresher.options(view, expand=False, now=NOW + timedelta(hours=1)).join_url
    assert isinstance(first, JoinLinks) and first == second and hash(first) == hash(second)
    other = FeedView(view.feed, Scope.FULL, "s99", view.generation)
    assert refresher.options(other, expand=False, now=NOW).join_url != first
    link = first("tagmango-s1@cal.example.com")
    assert link.startswith("https://cal.example.com/j/")
    assert refresher.signer.verify(link.rsplit("/", 1)[1]).owner == view.owner


def test_rerender_after_the_ttl_gives_the_same_bytes_as_icalendar(rig: Rig) -> None:
    refresher, view = rig.refresher, rig.view
    first = refresher.render(view)
    refresher._renders.clear()  # re-rendered from the per-event cache
    second = refresher.render(view)
    assert second.body == first.body
    sessions = refresher.sessions(view.feed, refresher.partitions(view.feed), NOW)
    options = refresher.options(view, expand=False, now=NOW)
    assert render_feed_icalendar(sessions, options) == second.body


def test_an_unknown_source_is_a_clear_error(rig: Rig) -> None:
    refresher, view = rig.refresher, rig.view
    broken = FeedView(
        type(view.feed)(**{**vars(view.feed), "source_ids": (999,)}),
        Scope.FULL,
        "f1",
        view.generation,
    )
    with pytest.raises(LookupError, match="feed source 999 does not exist"):
        refresher.partitions(broken.feed)


def test_join_lookups_and_event_downloads_do_not_plan_the_feed(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A join click or a single-event download, for a known UID or not, is a lookup in the
    index kept with the rendered feed: no planning of the feed, no database query."""
    refresher, view = rig.refresher, rig.view
    rig.upstream.sessions = [session(f"m{i}", 2 + i / 2) for i in range(3000)]
    refresher.render(view)
    known = "tagmango-m1234@cal.example.com"
    assert refresher.occurrences_for(view, known)  # the first lookup builds the index
    plans: list[object] = []
    real_prepare = feeds.ical._prepare

    def counting_prepare(*args: Any, **kwargs: Any) -> Any:
        plans.append(args)
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(feeds.ical, "_prepare", counting_prepare)
    rig.statements.clear()
    started = time.monotonic()
    for n in range(100):
        unknown = f"tagmango-nothing-{n}@cal.example.com"
        assert refresher.occurrences_for(view, unknown) == []
        assert refresher.render_event(view, unknown) is None
    (found,) = refresher.occurrences_for(view, known)
    assert found.upstream_id == "m1234"
    download = refresher.render_event(view, known)
    assert download is not None and download.count(b"BEGIN:VEVENT") == 1
    assert plans == []
    # No query per lookup: only the fetch states, read again once per STATE_MAX_AGE.
    reads = (time.monotonic() - started) / bridge.rendering.STATE_MAX_AGE + 1
    assert all("fetch_states" in s or s == "BEGIN" for s in rig.statements)
    assert sum("fetch_states" in s for s in rig.statements) <= reads
    assert refresher.event_index(view) is refresher.event_index(view)


def test_a_lookup_refreshes_like_a_feed_request_and_finds_new_sessions(rig: Rig) -> None:
    refresher, view = rig.refresher, rig.view
    added = "tagmango-added@cal.example.com"
    assert refresher.occurrences_for(view, added) == []
    rig.upstream.sessions.append(session("added", 5))
    rig.clock[0] += timedelta(minutes=20)  # the TTL has passed: the next lookup refreshes first
    (found,) = refresher.occurrences_for(view, added)
    assert found.upstream_id == "added"
