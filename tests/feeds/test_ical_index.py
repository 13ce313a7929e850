"""feeds.ical_index: one event of a feed by UID says and writes what planning the whole feed
would (in series mode, or in expand mode for a series' own occurrences), for any sessions."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.ical import FeedOptions, plan_feed, render_event
from feeds.ical_index import FeedIndex
from feeds.model import Scope, Session
from tests.feed_samples import Links, events, mixed_sessions, options, window
from tests.ical_validators import validate_feed
from tests.strategies import feeds

SERIES_UID = "tagmango-series-yoga@calbridge.local"


def planned_by_uid(sessions: list[Session], feed_options: FeedOptions) -> dict[str, tuple]:
    """What today's double plan finds for each UID: (sessions, expand), series mode first."""
    found: dict[str, tuple] = {}
    for expand in (True, False):  # series mode last, so it wins where a UID is in both
        for planned in plan_feed(sessions, replace(feed_options, expand=expand)):
            found[planned.uid] = (planned.sessions, expand)
    return found


def assert_index_matches_planning(sessions: list[Session], feed_options: FeedOptions) -> None:
    index = FeedIndex(sessions, feed_options)
    expected = planned_by_uid(sessions, feed_options)
    assert len(index) == len(expected)
    for uid, (planned_sessions, expand) in expected.items():
        assert uid in index
        assert index.occurrences(uid) == planned_sessions
        whole = render_event(sessions, replace(feed_options, expand=expand), uid)
        assert whole is not None and index.render_event(uid) == whole
    assert index.occurrences("tagmango-unknown@calbridge.local") == ()
    assert index.render_event("tagmango-unknown@calbridge.local") is None


def test_series_singles_and_expanded_occurrences_are_found() -> None:
    sessions = mixed_sessions()
    assert_index_matches_planning(sessions, options())
    index = FeedIndex(sessions, options())
    assert index.occurrences(SERIES_UID) == tuple(sorted(sessions[:6], key=lambda s: s.start))
    # One occurrence of the series, by the UID it has in the expanded feed.
    moved = sessions[2]
    (event,) = events(index.render_event(f"tagmango-{moved.upstream_id}@calbridge.local") or b"")
    assert event["SUMMARY"] == "Moved"
    series = index.render_event(SERIES_UID)
    assert series is not None and series.count(b"BEGIN:VEVENT") == 2  # master and its override
    validate_feed(series, **window(sessions))


def test_a_window_and_a_scope_are_taken_into_account() -> None:
    sessions = mixed_sessions()
    start = sessions[2].start
    windowed = options(window_start=start, window_end=start + timedelta(days=60))
    assert_index_matches_planning(sessions, windowed)
    assert "tagmango-w0@calbridge.local" not in FeedIndex(sessions, windowed)  # before the window
    assert_index_matches_planning(sessions, options(scope=Scope.BUSY))


def test_an_empty_feed_has_no_events() -> None:
    index = FeedIndex([], options())
    assert len(index) == 0 and index.render_event(SERIES_UID) is None


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(feed=feeds(), scope=st.sampled_from(Scope))
def test_any_feed_is_indexed_as_it_is_planned(
    feed: tuple[str, list[Session]], scope: Scope
) -> None:
    zone, sessions = feed
    assert_index_matches_planning(
        sessions, FeedOptions(name="Indexed", timezone=zone, scope=scope, join_url=Links())
    )
