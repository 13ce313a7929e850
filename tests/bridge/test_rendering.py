"""The request path never waits on upstream: stored data is served, refreshes are queued,
a feed's first fetch is waited for only briefly, and the render cache stays bounded."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import bridge.rendering
from bridge.app import create_app
from bridge.feed_views import FeedUnavailable
from bridge.rendering import RETRY_AFTER_NO_DATA
from bridge.upstream.budget import budget_for
from tests.bridge.jobs.support import make_rig, session


def test_a_feed_never_fetched_waits_briefly_then_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bridge.rendering, "FIRST_FETCH_WAIT", 0.3)
    rig = make_rig(tmp_path)  # a queue, and no worker running
    view = rig.feed()
    started = time.monotonic()
    with pytest.raises(FeedUnavailable, match="not fetched yet") as raised:
        rig.services.feeds.render(view)
    assert 0.3 <= time.monotonic() - started < 2
    assert raised.value.retry_after == RETRY_AFTER_NO_DATA
    assert rig.services.queue.depth() == 1  # its first fetch is queued, once
    with pytest.raises(FeedUnavailable):
        rig.services.feeds.render(view)
    assert rig.services.queue.depth() == 1


def test_stale_data_is_served_at_once_and_a_refresh_queued(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    view = rig.feed()
    (partition,) = rig.services.feeds.partitions(view.feed)
    rig.services.feeds.prepare(view.feed)
    rig.services.fetcher.refresh(partition)  # a worker did the first fetch
    rig.services.queue.huey.flush()
    first = rig.services.feeds.render(view)
    rig.upstream.sessions = [session("a", 2), session("b", 3)]
    rig.clock.advance(hours=1)  # past the TTL
    started = time.monotonic()
    again = rig.services.feeds.render(view)
    assert time.monotonic() - started < 0.5
    assert again.body == first.body and rig.upstream.fetches == [""]  # served as stored
    assert rig.services.queue.depth() == 1  # and a refresh is queued
    rig.services.fetcher.refresh(partition)  # a worker runs it
    time.sleep(bridge.rendering.STATE_MAX_AGE)  # what a web process trusts without asking
    assert b"Session b" in rig.services.feeds.render(view).body


def test_reads_are_noted_coarsely(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, immediate_jobs=True)
    view = rig.feed()
    (partition,) = rig.services.feeds.partitions(view.feed)
    rig.services.feeds.render(view)
    noted = rig.services.store.fetch_state(partition).last_polled_at
    assert noted == rig.clock.now
    rig.clock.advance(minutes=5)
    rig.services.feeds._forget_states([partition])
    rig.services.feeds.render(view)
    assert rig.services.store.fetch_state(partition).last_polled_at == noted  # not yet
    rig.clock.advance(minutes=6)
    rig.services.feeds._forget_states([partition])
    rig.services.feeds.render(view)
    assert rig.services.store.fetch_state(partition).last_polled_at == rig.clock.now


def test_the_render_cache_is_bounded_in_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = make_rig(tmp_path, immediate_jobs=True)
    rig.upstream.sessions = [session(f"s{n}", 2 + n) for n in range(20)]
    views = [rig.feed(f"Feed {n}") for n in range(40)]
    one = len(rig.services.feeds.render(views[0]).body)
    bound = 10 * 2 * one  # room for about ten feeds
    monkeypatch.setattr(rig.services.feeds._renders, "_Cache__maxsize", bound)
    for view in views:
        rig.services.feeds.render(view)
    cache = rig.services.feeds._renders
    assert cache.currsize <= bound and 5 <= len(cache) <= 10


def test_the_schedule_is_in_the_metrics(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, immediate_jobs=True)
    rig.services.feeds.render(rig.feed())
    rig.clock.advance(seconds=90)
    app = create_app(rig.services.settings, clock=rig.clock, immediate_jobs=True)
    metrics = app.extensions["calbridge"].metrics.render().decode()
    assert "calbridge_queue_depth 0.0" in metrics
    assert "calbridge_partitions 1.0" in metrics
    assert "calbridge_partition_data_age_seconds 90.0" in metrics
    assert "calbridge_upstream_budget_grants" in metrics


def test_budget_grants_are_counted(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    budget_for("test:metrics", 5, 1.0).acquire()
    value = rig.services.metrics.registry.get_sample_value(
        "calbridge_upstream_budget_grants_total", {"budget": "test:metrics"}
    )
    assert value == 1
