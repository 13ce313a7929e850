"""feeds.calendar_objects: a feed split into one CalDAV object per UID."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import icalendar

from feeds.calendar_objects import calendar_objects, overlaps
from tests.feed_samples import expand, mixed_sessions, options, render, session, window
from tests.ical_validators import validate_feed


def test_objects_hold_the_feeds_events_one_uid_each() -> None:
    sessions = mixed_sessions()
    feed = render(sessions)
    objects = calendar_objects(sessions, options())
    feed_uids = [str(e["UID"]) for e in icalendar.Calendar.from_ical(feed).walk("VEVENT")]
    assert [o.uid for o in objects] == list(dict.fromkeys(feed_uids))
    for obj in objects:
        calendar = icalendar.Calendar.from_ical(obj.data)
        assert {str(e["UID"]) for e in calendar.walk("VEVENT")} == {obj.uid}
        # the VEVENT bytes are the feed's own
        vevents = obj.data[obj.data.index(b"BEGIN:VEVENT") : obj.data.rindex(b"END:VEVENT")]
        assert vevents in feed
    expected = sorted((o.uid, o.start, o.end) for o in expand(feed, sessions))
    found = sorted(
        (o.uid, o.start, o.end)
        for obj in objects
        for o in validate_feed(obj.data, **window(sessions))
    )
    assert found == expected


def test_an_etag_changes_exactly_with_its_objects_bytes() -> None:
    sessions = mixed_sessions()
    before = {o.uid: o for o in calendar_objects(sessions, options())}
    changed = [replace(s, title="Renamed") if s.upstream_id == "a" else s for s in sessions]
    after = {o.uid: o for o in calendar_objects(changed, options())}
    differing = {uid for uid in before if before[uid].etag != after[uid].etag}
    assert len(differing) == 1 and "tagmango-a@" in differing.pop()
    assert all(
        (before[u].data == after[u].data) == (before[u].etag == after[u].etag) for u in after
    )


def test_a_moving_window_leaves_the_objects_alone() -> None:
    """The feed window moves every day; an object's VTIMEZONE covers its own years only, so
    its bytes stay the same when the window's span crosses a new year."""
    sessions = mixed_sessions()
    start = min(s.start for s in sessions)
    narrow = options(window_start=start - timedelta(days=30), window_end=start + timedelta(90))
    wide = options(window_start=start - timedelta(days=400), window_end=start + timedelta(800))
    assert [(o.uid, o.data) for o in calendar_objects(sessions, narrow)] == [
        (o.uid, o.data) for o in calendar_objects(sessions, wide)
    ]


def test_utc_feeds_have_no_vtimezone() -> None:
    objects = calendar_objects([session("a")], options(timezone="UTC"))
    assert b"VTIMEZONE" not in objects[0].data


def test_a_series_overlaps_a_range_when_any_occurrence_does() -> None:
    sessions = mixed_sessions()
    series = next(o for o in calendar_objects(sessions, options()) if "series" in o.uid)
    last_start, last_end = series.spans[-1]
    assert overlaps(series, last_start, last_end)
    assert overlaps(series, None, None)
    assert not overlaps(series, last_end, last_end + timedelta(days=1))
    assert not overlaps(series, None, series.spans[0][0])
    assert overlaps(series, last_end - timedelta(seconds=1), None)


def test_no_sessions_no_objects() -> None:
    assert calendar_objects([], options()) == []
