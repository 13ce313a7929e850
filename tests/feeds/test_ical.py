"""feeds.ical: what a feed contains, fixed cases (every feed also passes validate_feed and
equals the icalendar reference path byte for byte)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from feeds.ical import render_feed
from feeds.model import Scope, Status
from tests.feed_samples import (
    MEETING,
    TUESDAY_18,
    events,
    expand,
    lines,
    options,
    render,
    session,
)
from tests.ical_validators import validate_feed

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
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
    ):
        assert text.count(line) == 1, line
    assert sum(line.startswith("PRODID:") for line in text) == 1
    assert not any(line.startswith("METHOD") for line in text)
    assert not any(line.startswith("X-WR-TIMEZONE") for line in text)  # a zoned feed: none
    assert text[0] == "BEGIN:VCALENDAR" and text[-2:] == ["END:VCALENDAR", ""]


def header(data: bytes) -> bytes:
    """The calendar's own properties: everything before its first component (or its end)."""
    for end in (b"BEGIN:VTIMEZONE", b"BEGIN:VEVENT", b"END:VCALENDAR"):
        data = data.split(end)[0]
    return data


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Europe/Berlin", None),
        ("America/New_York", None),
        ("America/Sao_Paulo", None),
        ("UTC", b"X-WR-TIMEZONE:UTC\r\n"),
        ("Etc/UTC", b"X-WR-TIMEZONE:Etc/UTC\r\n"),
    ],
)
def test_the_calendar_properties_depend_on_the_options_alone(
    zone: str, expected: bytes | None
) -> None:
    # One session in New York's repeated hour (written in UTC there), others in Sao Paulo's
    # years without a single DST rule (the whole feed written in UTC).
    repeated = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    plain = [session("1"), session("2", TUESDAY_18 + timedelta(days=1))]
    with_utc_times = [
        *plain,
        session("3", repeated),
        session("4", datetime(2018, 12, 1, 12, tzinfo=UTC)),
        session("5", datetime(2020, 2, 1, 12, tzinfo=UTC)),
    ]
    first = header(render(plain, options(timezone=zone)))
    assert header(render(with_utc_times, options(timezone=zone))) == first
    assert header(render([], options(timezone=zone))) == first
    if expected is None:
        assert b"X-WR-TIMEZONE" not in first
    else:
        assert first.count(b"X-WR-TIMEZONE") == 1 and expected in first


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


def test_the_raw_meeting_url_is_replaced_in_every_text() -> None:
    title = f"Join {MEETING} now"
    data = render([session(title=title)])
    (event,) = events(data)
    assert event["SUMMARY"] == "Join https://bridge.example/j/tagmango-1.calbridge.local now"
    no_links = render([session(title=title)], options(scope=Scope.NO_LINKS))
    assert events(no_links)[0]["SUMMARY"] == "Join [link removed] now"
    assert MEETING.encode() not in data + no_links


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
    text = "A\x00B\x1b\r\nC:\\New\t ok"
    (event,) = events(render([session(title=text, description=text)]))
    assert event["SUMMARY"] == "AB C:\\New ok"  # a title is one line (Session.title)
    assert "AB\nC:\\New\t ok" in event["DESCRIPTION"]


def test_blank_title_gets_a_placeholder() -> None:
    (event,) = events(render([session(title="  ")]))
    assert event["SUMMARY"] == "Untitled session"


def test_long_unicode_text_is_folded_within_75_octets() -> None:
    title = "नमस्ते 🧘 " * 30
    data = render([session(title=title)])
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))
    assert events(data)[0]["SUMMARY"] == title.strip()


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


def test_a_title_with_stray_whitespace_is_written_as_every_client_shows_it() -> None:
    # libical trims a SUMMARY's trailing spaces and others keep them: none are written.
    data = render([session(title="  Yoga \t flow\n", product_title="Morning  Yoga ")])
    assert "SUMMARY:Yoga flow" in lines(data)
    assert "CATEGORIES:Zoom,Morning Yoga" in lines(data)


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
    # X-WR-TIMEZONE would make some readers re-interpret that UTC time in the zone (an hour
    # early: recurring-ical-events does, through the x-wr-timezone package).
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
