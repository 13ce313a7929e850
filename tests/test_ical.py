"""feeds.ical: what a feed contains, fixed cases (every feed also passes validate_feed and
equals the icalendar reference path byte for byte)."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import icalendar
import pytest

from feeds.ical import (
    FeedOptions,
    PlannedEvent,
    clear_render_cache,
    iter_feed,
    plan_feed,
    render_event,
    render_feed,
    render_feed_icalendar,
)
from feeds.model import Scope, Session, SourceKind, Status
from tests.ical_validators import Occurrence, validate_feed

BERLIN = ZoneInfo("Europe/Berlin")
IST = timezone(timedelta(hours=5, minutes=30))
CHANGED = datetime(2026, 3, 1, 12, 30, 15, 999, tzinfo=IST)
MEETING = "https://zoom.us/j/123456?pwd=secret"
TUESDAY_18 = datetime(2026, 3, 3, 18, tzinfo=BERLIN)  # Berlin: summer time from 2026-03-29


@dataclass(frozen=True)
class Links:
    """A join-link maker comparable by value, like the service's."""

    base: str = "https://bridge.example"

    def __call__(self, uid: str) -> str:
        return f"{self.base}/j/{uid.replace('@', '.')}"


def session(upstream_id: str = "1", start: datetime = TUESDAY_18, **fields: object) -> Session:
    values: dict[str, object] = {
        "series_key": "yoga" if upstream_id.startswith("w") else None,
        "source_kind": SourceKind.TAGMANGO,
        "source_name": "main",
        "upstream_id": upstream_id,
        "title": "Yoga, level 1; live \\ with Ann",
        "start": start,
        "end": start + timedelta(hours=1),
        "description": "Bring a mat.\nLink: " + MEETING,
        "meeting_url": MEETING,
        "organizer_name": "Ann O'Neil",
        "organizer_email": "ann@example.com",
        "platform": "zoom",
        "product_title": "Morning Yoga",
        "sequence": 2,
        "changed_at": CHANGED,
    }
    values.update(fields)
    return Session(**values)  # type: ignore[arg-type]


def weekly(count: int = 8, first: datetime = TUESDAY_18, **fields: object) -> list[Session]:
    """Occurrences at the same wall-clock time every week, sharing a series key."""
    wall = first.replace(tzinfo=None)
    return [
        session(f"w{i}", (wall + timedelta(weeks=i)).replace(tzinfo=first.tzinfo), **fields)
        for i in range(count)
    ]


def options(**fields: object) -> FeedOptions:
    values: dict[str, object] = {"name": "Ann's sessions", "timezone": "Europe/Berlin"}
    values["join_url"] = Links()
    values.update(fields)
    return FeedOptions(**values)  # type: ignore[arg-type]


def render(sessions: list[Session], feed_options: FeedOptions | None = None) -> bytes:
    """Render, check against the icalendar path and every validator; return the bytes."""
    feed_options = feed_options or options()
    data = render_feed(sessions, feed_options)
    assert data == render_feed_icalendar(sessions, feed_options)
    if sessions:
        validate_feed(data, **window(sessions))
    return data


def window(sessions: list[Session]) -> dict[str, datetime]:
    return {
        "start": min(s.start for s in sessions) - timedelta(days=1),
        "end": max(s.end for s in sessions) + timedelta(days=1),
    }


def lines(data: bytes) -> list[str]:
    return data.decode().replace("\r\n ", "").split("\r\n")


def events(data: bytes) -> list[icalendar.Event]:
    return icalendar.Calendar.from_ical(data).walk("VEVENT")


def expand(data: bytes, sessions: list[Session]) -> list[Occurrence]:
    return validate_feed(data, **window(sessions))


# --- the calendar ---------------------------------------------------------------------------


def test_calendar_properties_each_once_and_no_method() -> None:
    data = render([session()], options(description="Live, weekly"))
    text = lines(data)
    for line in (
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "NAME:Ann's sessions",
        "X-WR-CALNAME:Ann's sessions",
        "DESCRIPTION:Live\\, weekly",
        "X-WR-CALDESC:Live\\, weekly",
        "X-WR-TIMEZONE:Europe/Berlin",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
    ):
        assert text.count(line) == 1, line
    assert sum(line.startswith("PRODID:") for line in text) == 1
    assert not any(line.startswith("METHOD") for line in text)
    assert text[0] == "BEGIN:VCALENDAR" and text[-2:] == ["END:VCALENDAR", ""]


def test_no_calendar_description_unless_given_and_refresh_interval_as_a_duration() -> None:
    text = lines(render([session()], options(refresh_interval=timedelta(minutes=90))))
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H30M" in text
    assert "X-PUBLISHED-TTL:PT1H30M" in text
    assert not any(line.startswith(("X-WR-CALDESC", "DESCRIPTION:Live")) for line in text)


def test_an_empty_feed_is_still_a_valid_calendar() -> None:
    data = render([])
    assert b"BEGIN:VEVENT" not in data and b"BEGIN:VTIMEZONE" not in data
    assert validate_feed(data, start=TUESDAY_18, end=TUESDAY_18 + timedelta(days=1)) == []


# --- one event ------------------------------------------------------------------------------


def test_every_property_of_a_full_scope_event() -> None:
    data = render([session()])
    (event,) = events(data)
    link = "https://bridge.example/j/tagmango-1.calbridge.local"
    assert str(event["UID"]) == "tagmango-1@calbridge.local"
    assert event["DTSTAMP"].to_ical() == b"20260301T070015Z"  # changed_at in UTC, whole seconds
    assert event["LAST-MODIFIED"].to_ical() == b"20260301T070015Z"
    assert event["SEQUENCE"] == 2
    assert event["DTSTART"].dt == TUESDAY_18 and event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event["DTEND"].dt == TUESDAY_18 + timedelta(hours=1)
    assert event["SUMMARY"] == "Yoga, level 1; live \\ with Ann"
    assert event["STATUS"] == "CONFIRMED"
    assert event["DESCRIPTION"] == (
        f"Join: {link}\n\nBring a mat.\nLink: {link}\n\nProduct: Morning Yoga\n\n"
        "Organizer: Ann O'Neil"
    )
    assert event["LOCATION"] == link
    assert event["URL"] == link
    assert f"CONFERENCE;VALUE=URI;FEATURE=VIDEO;LABEL=Join:{link}" in lines(data)
    assert 'ORGANIZER;CN="Ann O\'Neil":mailto:ann@example.com' in lines(data)
    assert "CATEGORIES:Zoom,Morning Yoga" in lines(data)
    (alarm,) = event.walk("VALARM")
    assert alarm["ACTION"] == "DISPLAY" and alarm["DESCRIPTION"] == event["SUMMARY"]
    assert "TRIGGER:-PT10M" in lines(data)
    assert MEETING.encode() not in data  # the raw meeting URL never leaves calbridge


def test_unknown_change_time_uses_the_fixed_fallback_not_the_clock() -> None:
    (event,) = events(render([session(changed_at=None)]))
    assert event["DTSTAMP"].to_ical() == b"20000101T000000Z"
    assert event["LAST-MODIFIED"].to_ical() == b"20000101T000000Z"


def test_without_a_link_location_is_the_platform_and_no_url_or_conference() -> None:
    for sessions, feed_options in (
        ([session(meeting_url=None, description="")], options()),
        ([session(description="")], options(join_url=None)),
    ):
        data = render(sessions, feed_options)
        (event,) = events(data)
        assert event["LOCATION"] == "Zoom"
        assert "URL" not in event and "CONFERENCE" not in event
        assert not str(event["DESCRIPTION"]).startswith("Join")


def test_platform_falls_back_to_the_source() -> None:
    (event,) = events(render([session(platform=None, meeting_url=None)]))
    assert event["LOCATION"] == "TagMango"
    assert event["CATEGORIES"].cats == ["TagMango", "Morning Yoga"]


def test_organizer_without_usable_email_keeps_only_the_name_in_the_description() -> None:
    for email in (None, "not an address"):
        (event,) = events(render([session(organizer_email=email)]))
        assert "ORGANIZER" not in event
        assert str(event["DESCRIPTION"]).endswith("Organizer: Ann O'Neil")


def test_alarm_is_optional() -> None:
    assert b"VALARM" not in render([session()], options(alarm_minutes=None))
    assert "TRIGGER:-PT1H30M" in lines(render([session()], options(alarm_minutes=90)))


def test_cancelled_single_is_a_tombstone() -> None:
    data = render([session(status=Status.CANCELLED)])
    (event,) = events(data)
    assert event["STATUS"] == "CANCELLED"
    assert event["SUMMARY"] == "Cancelled: Yoga, level 1; live \\ with Ann"
    assert "VALARM" not in data.decode()
    (occurrence,) = expand(data, [session()])
    assert occurrence.status == "CANCELLED" and occurrence.summary.startswith("Cancelled: ")


def test_text_is_cleaned_of_control_characters_and_keeps_a_literal_backslash_n() -> None:
    title = "A\x00B\x1b\r\nC:\\New\t ok"
    (event,) = events(render([session(title=title)]))
    assert event["SUMMARY"] == "AB\nC:\\New\t ok"


def test_blank_title_gets_a_placeholder() -> None:
    (event,) = events(render([session(title="  ")]))
    assert event["SUMMARY"] == "Untitled session"


def test_long_unicode_text_is_folded_within_75_octets() -> None:
    title = "नमस्ते 🧘 " * 30
    data = render([session(title=title)])
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))
    assert events(data)[0]["SUMMARY"] == title


def test_join_url_must_give_a_uri() -> None:
    with pytest.raises(ValueError, match="not a usable URI"):
        render_feed([session()], options(join_url=lambda uid: "https://x/\nInjected:1"))


# --- scopes ---------------------------------------------------------------------------------


def test_no_links_scope_hides_links_and_email_addresses() -> None:
    data = render([session()], options(scope=Scope.NO_LINKS))
    (event,) = events(data)
    assert event["SUMMARY"] == "Yoga, level 1; live \\ with Ann"
    assert b"bridge.example" not in data and MEETING.encode() not in data
    assert b"mailto:" not in data and b"ann@example.com" not in data
    assert "URL" not in event and "CONFERENCE" not in event and "ORGANIZER" not in event
    assert event["LOCATION"] == "Zoom"
    assert "[link removed]" in str(event["DESCRIPTION"])
    assert "Organizer: Ann O'Neil" in str(event["DESCRIPTION"])


def test_busy_scope_shows_only_busy_and_the_platform() -> None:
    feed_options = options(scope=Scope.BUSY, name="Team")
    data = render([session(), session("2", status=Status.CANCELLED)], feed_options)
    first, second = events(data)
    assert first["SUMMARY"] == "Busy" and second["SUMMARY"] == "Cancelled: Busy"
    for forbidden in (b"Yoga", b"Ann", b"mat", b"bridge.example", b"zoom.us", b"mailto"):
        assert forbidden not in data
    assert "DESCRIPTION" not in first and "ORGANIZER" not in first and "URL" not in first
    assert first["CATEGORIES"].cats == ["Zoom"]


# --- times ----------------------------------------------------------------------------------


def test_one_vtimezone_for_the_feed_zone_and_no_floating_times() -> None:
    data = render([session(), session("2", TUESDAY_18 + timedelta(days=40))])
    text = lines(data)
    assert text.count("BEGIN:VTIMEZONE") == 1 and "TZID:Europe/Berlin" in text
    for line in text:
        if line.startswith(("DTSTART", "DTEND")) and "TZID" not in line:
            assert line.endswith("Z") or line.startswith("DTSTART:1970"), line


def test_utc_feed_writes_z_times_and_no_vtimezone() -> None:
    data = render([session()], options(timezone="UTC"))
    assert b"VTIMEZONE" not in data and b"TZID" not in data
    assert "DTSTART:20260303T170000Z" in lines(data)


def test_zone_without_dst_gets_a_single_standard_observance() -> None:
    data = render([session()], options(timezone="Asia/Kolkata"))
    assert "DTSTART;TZID=Asia/Kolkata:20260303T223000" in lines(data)
    assert data.count(b"BEGIN:STANDARD") == 1 and b"DAYLIGHT" not in data


def test_zone_that_cannot_be_written_as_a_vtimezone_falls_back_to_utc() -> None:
    # Sao Paulo abolished DST in 2019: no single yearly rule covers 2018-2020.
    sessions = [
        session("1", datetime(2018, 12, 1, 12, tzinfo=UTC)),
        session("2", datetime(2020, 2, 1, 12, tzinfo=UTC)),
    ]
    data = render(sessions, options(timezone="America/Sao_Paulo"))
    assert b"VTIMEZONE" not in data and b"TZID" not in data and b"X-WR-TIMEZONE" not in data
    assert "DTSTART:20181201T120000Z" in lines(data)


def test_a_time_in_the_repeated_hour_is_written_in_utc() -> None:
    # 2026-11-01 01:30 happens twice in New York; this is the second one (EST).
    second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    sessions = [session("1", second), session("2", second + timedelta(days=1))]
    data = render(sessions, options(timezone="America/New_York"))
    assert "DTSTART:20261101T063000Z" in lines(data)
    # X-WR-TIMEZONE would make some readers re-interpret that UTC time in the zone.
    assert b"X-WR-TIMEZONE" not in data
    assert "DTSTART;TZID=America/New_York:20261102T013000" in lines(data)
    assert [o.start for o in expand(data, sessions)] == [s.start for s in sessions]


def test_only_utc_events_means_no_vtimezone() -> None:
    second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    data = render([session("1", second)], options(timezone="America/New_York"))
    assert b"VTIMEZONE" not in data


def test_sub_second_times_are_written_in_whole_seconds() -> None:
    start = datetime(2026, 3, 3, 17, 0, 0, 500_000, tzinfo=UTC)
    data = render([session(start=start, end=start + timedelta(microseconds=100))])
    (occurrence,) = expand(data, [session()])
    assert occurrence.start == start.replace(microsecond=0)
    assert occurrence.end == occurrence.start + timedelta(seconds=1)


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


def mixed_sessions() -> list[Session]:
    sessions = weekly(6)
    hour = timedelta(hours=1)
    moved = sessions[2]
    sessions[2] = replace(moved, title="Moved", start=moved.start + hour, end=moved.end + hour)
    return [*sessions, session("a"), session("b", status=Status.CANCELLED), session("c")]


def test_shuffled_input_gives_the_same_bytes() -> None:
    sessions = mixed_sessions()
    expected = render(sessions)
    for seed in range(5):
        shuffled = list(sessions)
        random.Random(seed).shuffle(shuffled)
        clear_render_cache()
        assert render_feed(shuffled, options()) == expected


def test_events_are_sorted_by_start_then_uid() -> None:
    data = render(mixed_sessions())
    keys = [
        (e["DTSTART"].dt.astimezone(UTC), str(e["UID"]))
        for e in events(data)
        if "RECURRENCE-ID" not in e
    ]
    assert keys == sorted(keys)


def test_a_changed_session_is_rendered_again() -> None:
    sessions = mixed_sessions()
    before = render_feed(sessions, options())
    changed = [replace(s, title="Renamed") if s.upstream_id == "c" else s for s in sessions]
    after = render_feed(changed, options())  # everything else comes from the cache
    assert after != before and b"SUMMARY:Renamed" in after
    clear_render_cache()
    assert render(changed) == after


def test_other_join_links_are_not_served_from_the_cache() -> None:
    render_feed([session()], options())
    data = render([session()], options(join_url=Links("https://other.example")))
    assert b"https://other.example/j/" in data and b"https://bridge.example" not in data


def test_iter_feed_streams_the_same_bytes() -> None:
    sessions = mixed_sessions()
    chunks = list(iter_feed(sessions, options()))
    assert len(chunks) > 3 and b"".join(chunks) == render_feed(sessions, options())


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


# --- options --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"alarm_minutes": -5}, "alarm_minutes"),
        ({"refresh_interval": timedelta(0)}, "refresh_interval"),
        ({"refresh_interval": timedelta(seconds=1.5)}, "refresh_interval"),
        ({"uid_domain": "a b"}, "uid_domain"),
        ({"uid_domain": "x@y"}, "uid_domain"),
        ({"window_start": datetime(2026, 1, 1)}, "has no timezone"),
        (
            {
                "window_start": datetime(2026, 2, 1, tzinfo=UTC),
                "window_end": datetime(2026, 1, 1, tzinfo=UTC),
            },
            "before",
        ),
        ({"scope": "busy"}, "scope"),
    ],
)
def test_bad_options_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        options(**fields)
