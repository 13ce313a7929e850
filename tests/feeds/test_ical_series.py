"""feeds.ical: recurring series in the feed, determinism, the render cache, plan_feed and
render_event (every feed also passes validate_feed and equals the icalendar path)."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from feeds.ical import (
    PlannedEvent,
    RenderCache,
    iter_feed,
    plan_feed,
    render_event,
    render_feed,
)
from feeds.model import SourceKind, Status
from tests.feed_samples import (
    BERLIN,
    CHANGED,
    TUESDAY_18,
    Links,
    events,
    expand,
    lines,
    mixed_sessions,
    options,
    render,
    session,
    weekly,
    window,
)
from tests.ical_validators import validate_feed

# --- series ---------------------------------------------------------------------------------


def test_weekly_series_across_dst_keeps_local_time() -> None:
    sessions = weekly(8)
    data = render(sessions)
    (event,) = events(data)
    assert str(event["UID"]) == "tagmango-series-yoga@calbridge.local"
    assert "RRULE:FREQ=WEEKLY;UNTIL=20260421T160000Z;BYDAY=TU" in lines(data)
    starts = [o.start for o in expand(data, sessions)]
    assert starts[:4] == [datetime(2026, 3, d, 17, tzinfo=UTC) for d in (3, 10, 17, 24)]
    assert starts[4:] == [datetime(2026, 3, 31, 16, tzinfo=UTC)] + [
        datetime(2026, 4, d, 16, tzinfo=UTC) for d in (7, 14, 21)
    ]


def test_series_gap_and_cancellation_become_exdates_typed_like_dtstart() -> None:
    sessions = weekly(8)
    del sessions[2]
    sessions[4] = replace(sessions[4], status=Status.CANCELLED)
    data = render(sessions)
    assert len(events(data)) == 1
    assert "EXDATE;TZID=Europe/Berlin:20260317T180000,20260407T180000" in lines(data)
    shown = expand(data, sessions)
    assert [o.start for o in shown] == [s.start for s in sessions if not s.cancelled]
    assert all(o.status == "CONFIRMED" for o in shown)


def test_moved_and_retitled_occurrences_become_overrides_with_the_series_stamp() -> None:
    sessions = weekly(8)
    sessions[3] = replace(
        sessions[3],
        start=sessions[3].start + timedelta(hours=2),
        end=sessions[3].end + timedelta(hours=2),
        sequence=5,
    )
    later = CHANGED + timedelta(days=2)
    sessions[5] = replace(sessions[5], title="Guest teacher", changed_at=later)
    data = render(sessions)
    master, moved, retitled = events(data)
    assert {str(e["UID"]) for e in (master, moved, retitled)} == {str(master["UID"])}
    assert "RECURRENCE-ID;TZID=Europe/Berlin:20260324T180000" in lines(data)
    assert moved["DTSTART"].dt == datetime(2026, 3, 24, 20, tzinfo=BERLIN)
    assert retitled["RECURRENCE-ID"].dt == datetime(2026, 4, 7, 18, tzinfo=BERLIN)
    assert retitled["SUMMARY"] == "Guest teacher"
    for event in (master, moved, retitled):
        assert event["SEQUENCE"] == 5
        assert event["DTSTAMP"].to_ical() == b"20260303T070015Z"
        assert event["LOCATION"] == "https://bridge.example/j/tagmango-series-yoga.calbridge.local"
        assert "VALARM" in [c.name for c in event.subcomponents]
    shown = expand(data, sessions)
    assert [(o.start, o.summary) for o in shown] == [(s.start, s.title) for s in sessions]


def test_expand_option_writes_single_events() -> None:
    sessions = weekly(5)
    sessions[1] = replace(sessions[1], status=Status.CANCELLED)
    data = render(sessions, options(expand=True))
    assert not any("RRULE" in e or "RECURRENCE-ID" in e for e in events(data))
    uids = [str(e["UID"]) for e in events(data)]
    assert uids == [f"tagmango-w{i}@calbridge.local" for i in range(5)]
    assert [o.status for o in expand(data, sessions)].count("CANCELLED") == 1


def test_occurrences_of_another_platform_with_the_same_series_key_are_another_series() -> None:
    later = timedelta(hours=3)
    sessions = weekly(4) + [
        replace(s, source_kind=SourceKind.TRAINERCENTRAL, start=s.start + later, end=s.end + later)
        for s in weekly(4)
    ]
    planned = plan_feed(sessions, options())
    assert [p.uid for p in planned] == [
        "tagmango-series-yoga@calbridge.local",
        "trainercentral-series-yoga@calbridge.local",
    ]
    render(sessions)


# --- determinism, cache, selection ----------------------------------------------------------


def test_shuffled_input_gives_the_same_bytes() -> None:
    sessions = mixed_sessions()
    expected = render(sessions)
    for seed in range(5):
        shuffled = list(sessions)
        random.Random(seed).shuffle(shuffled)
        assert render_feed(shuffled, options(), RenderCache()) == expected


def test_events_are_sorted_by_start_then_uid() -> None:
    data = render(mixed_sessions())
    keys = [
        (e["DTSTART"].dt.astimezone(UTC), str(e["UID"]))
        for e in events(data)
        if "RECURRENCE-ID" not in e
    ]
    assert keys == sorted(keys)


def test_a_changed_session_is_rendered_again() -> None:
    sessions, cache = mixed_sessions(), RenderCache()
    before = render_feed(sessions, options(), cache)
    assert before == render(sessions)
    changed = [replace(s, title="Renamed") if s.upstream_id == "c" else s for s in sessions]
    after = render_feed(changed, options(), cache)  # everything else comes from the cache
    assert after != before and b"SUMMARY:Renamed" in after
    assert render(changed) == after  # the same bytes from a fresh cache


def test_a_cache_serves_a_second_render_and_forgets_when_cleared() -> None:
    sessions, cache = mixed_sessions(), RenderCache()
    first = render_feed(sessions, options(), cache)
    hits = cache.single_block.cache_info().hits
    assert render_feed(sessions, options(), cache) == first
    assert cache.single_block.cache_info().hits > hits
    cache.clear()
    assert cache.single_block.cache_info().currsize == 0
    assert render_feed(sessions, options(), cache) == first


def test_other_join_links_are_not_served_from_the_cache() -> None:
    render([session()])
    data = render([session()], options(join_url=Links("https://other.example")))
    assert b"https://other.example/j/" in data and b"https://bridge.example" not in data


def test_iter_feed_streams_the_same_bytes() -> None:
    sessions = mixed_sessions()
    chunks = list(iter_feed(sessions, options()))
    assert len(chunks) > 3 and b"".join(chunks) == render(sessions)


def test_the_latest_version_of_a_duplicated_session_wins() -> None:
    old = session(title="Old", sequence=1)
    new = session(title="New", sequence=3)
    for ordering in ([old, new], [new, old]):
        (event,) = events(render(ordering))
        assert event["SUMMARY"] == "New"


def test_window_limits_the_feed() -> None:
    sessions = [session("1"), session("2", TUESDAY_18 + timedelta(days=10))]
    feed_options = options(
        window_start=TUESDAY_18 + timedelta(days=1), window_end=TUESDAY_18 + timedelta(days=30)
    )
    (event,) = events(render(sessions, feed_options))
    assert str(event["UID"]) == "tagmango-2@calbridge.local"


# --- plan_feed and render_event -------------------------------------------------------------


def test_plan_feed_lists_each_event_with_its_sessions() -> None:
    sessions = mixed_sessions()
    planned = plan_feed(sessions, options())
    series = [p for p in planned if p.is_series]
    assert len(series) == 1 and series[0].uid == "tagmango-series-yoga@calbridge.local"
    assert series[0].sessions == tuple(sorted(sessions[:6], key=lambda s: s.start))
    assert PlannedEvent("tagmango-b@calbridge.local", (sessions[7],), False) in planned
    assert len(planned) == 4


def test_render_event_for_a_single() -> None:
    sessions = mixed_sessions()
    data = render_event(sessions, options(), "tagmango-a@calbridge.local")
    assert data is not None
    (event,) = events(data)
    assert str(event["UID"]) == "tagmango-a@calbridge.local"
    assert data.count(b"BEGIN:VTIMEZONE") == 1
    assert b"X-WR-CALNAME" not in data and b"REFRESH-INTERVAL" not in data
    validate_feed(data, **window(sessions))


def test_render_event_for_a_series_includes_its_overrides() -> None:
    sessions = mixed_sessions()
    data = render_event(sessions, options(), "tagmango-series-yoga@calbridge.local")
    assert data is not None
    assert len(events(data)) == 2 and b"RRULE:" in data and b"RECURRENCE-ID" in data
    shown = validate_feed(data, **window(sessions))
    assert [o.start for o in shown] == sorted(s.start for s in sessions[:6])


def test_render_event_for_an_unknown_uid_is_none() -> None:
    assert render_event(mixed_sessions(), options(), "tagmango-zzz@calbridge.local") is None
    assert render_event([], options(), "tagmango-a@calbridge.local") is None


def test_concurrent_renders_with_different_links_do_not_mix() -> None:
    sessions = mixed_sessions()
    first, second = options(), options(join_url=Links("https://other.example"))
    expected = {first: render(sessions, first), second: render(sessions, second)}
    cache = RenderCache()  # shared by the threads, as the service's is
    jobs = [first, second] * 8
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda o: render_feed(sessions, o, cache), jobs))
    assert results == [expected[o] for o in jobs]
