"""Tests for feeds.timezones: rule-based VTIMEZONEs checked against zoneinfo."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Timezone

from feeds.timezones import check_vtimezone, vtimezone_for

WINDOW_2026 = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC))

# The VTIMEZONE of REFERENCE_FEED (docs/client-compatibility.md, *Reference feed*): what Outlook
# and ical.js read correctly.
REFERENCE_BERLIN = (
    "BEGIN:VTIMEZONE\r\n"
    "TZID:Europe/Berlin\r\n"
    "BEGIN:STANDARD\r\n"
    "DTSTART:19701025T030000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
    "TZOFFSETFROM:+0200\r\n"
    "TZOFFSETTO:+0100\r\n"
    "TZNAME:CET\r\n"
    "END:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\n"
    "DTSTART:19700329T020000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
    "TZOFFSETFROM:+0100\r\n"
    "TZOFFSETTO:+0200\r\n"
    "TZNAME:CEST\r\n"
    "END:DAYLIGHT\r\n"
    "END:VTIMEZONE\r\n"
)


def observances(vtz: Timezone) -> dict[str, dict[str, str]]:
    """{"STANDARD": {"DTSTART": ..., "RRULE": ..., ...}, ...} as serialized text values."""
    result = {}
    for block in vtz.subcomponents:
        assert block.name not in result, f"two {block.name} blocks"
        result[block.name] = {
            name: _text(value) for name, value in block.property_items(recursive=False)[1:-1]
        }
    return result


def _text(value) -> str:
    serialized = value.to_ical()
    return serialized.decode() if isinstance(serialized, bytes) else serialized


def rrule_parts(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(";"))


def assert_outlook_shape(vtz: Timezone) -> None:
    """1 STANDARD, ≤1 DAYLIGHT, 1970 DTSTART, yearly nth-weekday RRULE, no RDATE/COMMENT."""
    names = [block.name for block in vtz.subcomponents]
    assert names.count("STANDARD") == 1 and names.count("DAYLIGHT") <= 1, names
    assert "COMMENT" not in vtz
    for block in vtz.subcomponents:
        assert "RDATE" not in block and "COMMENT" not in block
        assert block["DTSTART"].dt.year == 1970 and block["DTSTART"].dt.tzinfo is None
        assert {"TZOFFSETFROM", "TZOFFSETTO", "TZNAME"} <= set(block)
        if "DAYLIGHT" in names:
            parts = rrule_parts(block["RRULE"].to_ical().decode())
            assert parts["FREQ"] == "YEARLY"
            assert set(parts) == {"FREQ", "BYMONTH", "BYDAY"}
            assert parts["BYDAY"][:-2] in {"1", "2", "3", "4", "-1"}
        else:
            assert "RRULE" not in block
            assert block["TZOFFSETFROM"].td == block["TZOFFSETTO"].td


def assert_matches_zoneinfo_via_icalendar(vtz: Timezone, tzid: str, start, end) -> None:
    """Second opinion: icalendar's own VTIMEZONE → tzinfo conversion agrees with zoneinfo."""
    converted = vtz.to_tz()
    zone = zoneinfo.ZoneInfo(tzid)
    instant = start
    while instant < end:
        assert instant.astimezone(converted).utcoffset() == instant.astimezone(zone).utcoffset(), (
            instant
        )
        instant += timedelta(hours=7)


def test_europe_berlin_is_the_reference_shape() -> None:
    vtz = vtimezone_for("Europe/Berlin", *WINDOW_2026)
    assert vtz is not None
    assert str(vtz["TZID"]) == "Europe/Berlin"
    reference = Timezone.from_ical(REFERENCE_BERLIN)
    generated, expected = observances(vtz), observances(reference)
    assert set(generated) == set(expected) == {"STANDARD", "DAYLIGHT"}
    for name in expected:
        rrule = generated[name].pop("RRULE")
        assert rrule_parts(rrule) == rrule_parts(expected[name].pop("RRULE"))
        assert generated[name] == expected[name]
    assert check_vtimezone(vtz, "Europe/Berlin", *WINDOW_2026) == []
    assert check_vtimezone(reference, "Europe/Berlin", *WINDOW_2026) == []


@pytest.mark.parametrize(
    ("tzid", "standard", "daylight"),
    [
        ("America/New_York", ("19701101T020000", "1SU", "11", "-0400", "-0500", "EST"),
         ("19700308T020000", "2SU", "3", "-0500", "-0400", "EDT")),
        ("Europe/London", ("19701025T020000", "-1SU", "10", "+0100", "+0000", "GMT"),
         ("19700329T010000", "-1SU", "3", "+0000", "+0100", "BST")),
        # Southern hemisphere: daylight time starts in October, ends in April.
        ("Australia/Sydney", ("19700405T030000", "1SU", "4", "+1100", "+1000", "AEST"),
         ("19701004T020000", "1SU", "10", "+1000", "+1100", "AEDT")),
        # 30-minute DST still fits the rule shape.
        ("Australia/Lord_Howe", ("19700405T020000", "1SU", "4", "+1100", "+1030", "+1030"),
         ("19701004T020000", "1SU", "10", "+1030", "+1100", "+11")),
    ],
)  # fmt: skip
def test_dst_zones(tzid: str, standard: tuple, daylight: tuple) -> None:
    vtz = vtimezone_for(tzid, *WINDOW_2026)
    assert vtz is not None
    assert_outlook_shape(vtz)
    blocks = observances(vtz)
    for name, (dtstart, byday, bymonth, offset_from, offset_to, tzname) in (
        ("STANDARD", standard),
        ("DAYLIGHT", daylight),
    ):
        block = blocks[name]
        assert block["DTSTART"] == dtstart
        assert rrule_parts(block["RRULE"]) == {"FREQ": "YEARLY", "BYMONTH": bymonth, "BYDAY": byday}
        assert (block["TZOFFSETFROM"], block["TZOFFSETTO"], block["TZNAME"]) == (
            offset_from,
            offset_to,
            tzname,
        )
    assert check_vtimezone(vtz, tzid, *WINDOW_2026) == []
    assert_matches_zoneinfo_via_icalendar(vtz, tzid, *WINDOW_2026)


@pytest.mark.parametrize(
    ("tzid", "offset", "tzname"),
    [
        ("Asia/Kolkata", "+0530", "IST"),
        ("America/Sao_Paulo", "-0300", "-03"),  # no DST since 2019
        ("Pacific/Apia", "+1300", "+13"),  # no DST since 2021
    ],
)
def test_zones_without_dst_get_one_standard_without_rrule(
    tzid: str, offset: str, tzname: str
) -> None:
    vtz = vtimezone_for(tzid, *WINDOW_2026)
    assert vtz is not None
    assert_outlook_shape(vtz)
    assert observances(vtz) == {
        "STANDARD": {
            "DTSTART": "19700101T000000",
            "TZOFFSETFROM": offset,
            "TZOFFSETTO": offset,
            "TZNAME": tzname,
        }
    }


def test_pacific_apia_while_it_still_had_dst() -> None:
    vtz = vtimezone_for(
        "Pacific/Apia", datetime(2020, 2, 1, tzinfo=UTC), datetime(2020, 11, 1, tzinfo=UTC)
    )
    assert vtz is not None
    assert_outlook_shape(vtz)
    blocks = observances(vtz)
    assert rrule_parts(blocks["DAYLIGHT"]["RRULE"])["BYDAY"] == "-1SU"
    assert blocks["DAYLIGHT"]["TZOFFSETTO"] == "+1400"


@pytest.mark.parametrize(
    ("tzid", "start", "end"),
    [
        ("Pacific/Apia", datetime(2021, 2, 1, tzinfo=UTC), datetime(2021, 11, 1, tzinfo=UTC)),
        ("America/Sao_Paulo", datetime(2018, 6, 1, tzinfo=UTC), datetime(2019, 6, 1, tzinfo=UTC)),
    ],
)
def test_rules_changing_inside_the_window_give_none(tzid: str, start, end) -> None:
    assert vtimezone_for(tzid, start, end) is None


def test_irregular_zone_gives_none() -> None:
    # Morocco leaves its +01 offset for Ramadan, on dates no yearly nth-weekday rule describes.
    window = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC))
    assert vtimezone_for("Africa/Casablanca", *window) is None


def test_irregular_zone_that_happens_to_fit_one_year_is_checked() -> None:
    # In 2026 alone both Ramadan changes fall on Sundays (3rd Sunday of February, 4th of
    # March), so a rule exists that is right for every instant of 2026, and it is verified.
    vtz = vtimezone_for("Africa/Casablanca", *WINDOW_2026)
    if vtz is not None:
        assert_outlook_shape(vtz)
        assert check_vtimezone(vtz, "Africa/Casablanca", *WINDOW_2026) == []
        assert_matches_zoneinfo_via_icalendar(vtz, "Africa/Casablanca", *WINDOW_2026)


@pytest.mark.parametrize("tzid", ["UTC", "Etc/UTC"])
def test_utc_needs_no_vtimezone(tzid: str) -> None:
    assert vtimezone_for(tzid, *WINDOW_2026) is None


@pytest.mark.parametrize(
    "tzid", ["Mars/Olympus_Mons", "", "../etc/passwd", "W. Europe Standard Time"]
)
def test_unknown_zone_is_a_clear_value_error(tzid: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        vtimezone_for(tzid, *WINDOW_2026)


def test_naive_or_inverted_window_is_refused() -> None:
    with pytest.raises(ValueError, match="has no timezone"):
        vtimezone_for("Europe/Berlin", datetime(2026, 1, 1), datetime(2026, 2, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="before window_start"):
        vtimezone_for("Europe/Berlin", WINDOW_2026[1], WINDOW_2026[0])


def test_results_are_cached_but_independent_objects() -> None:
    first = vtimezone_for("Europe/Berlin", *WINDOW_2026)
    second = vtimezone_for(
        "Europe/Berlin", datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    )
    assert first is not None and second is not None
    assert first.to_ical() == second.to_ical()
    first.add("COMMENT", "changed by a caller")
    assert "COMMENT" not in second


def test_check_vtimezone_reports_a_wrong_zone() -> None:
    reference = Timezone.from_ical(REFERENCE_BERLIN)
    problems = check_vtimezone(reference, "America/New_York", *WINDOW_2026)
    assert problems
    assert "zoneinfo gives UTC-05:00" in problems[0]


def test_check_vtimezone_reports_a_rule_one_week_off() -> None:
    wrong = REFERENCE_BERLIN.replace("BYMONTH=3;BYDAY=-1SU", "BYMONTH=3;BYDAY=3SU").replace(
        "19700329T020000", "19700315T020000"
    )
    problems = check_vtimezone(Timezone.from_ical(wrong), "Europe/Berlin", *WINDOW_2026)
    assert any("2026-03-15T01:00:00Z" in problem for problem in problems)


def test_check_vtimezone_reads_rdate_lists_and_finds_icalendars_onset_hour() -> None:
    # icalendar's generated VTIMEZONE (RDATE lists) writes each onset in the local time *after*
    # the change, so for the hour after each transition it is one hour off by RFC 5545 rules.
    generated = Timezone.from_tzid("Europe/Berlin")
    problems = check_vtimezone(generated, "Europe/Berlin", *WINDOW_2026)
    assert problems
    assert all("2026-03-29T01:" in p or "2026-10-25T01:" in p for p in problems), problems


def test_check_vtimezone_of_an_empty_vtimezone() -> None:
    empty = Timezone.from_ical("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nEND:VTIMEZONE\r\n")
    assert check_vtimezone(empty, "Europe/Berlin", *WINDOW_2026) == [
        "VTIMEZONE Europe/Berlin: has no STANDARD or DAYLIGHT observance"
    ]


_ZONES = sorted(zoneinfo.available_timezones())


@settings(max_examples=60, deadline=None)
@given(tzid=st.sampled_from(_ZONES), year=st.integers(2000, 2037), months=st.integers(0, 30))
def test_any_zone_either_none_or_agrees_with_zoneinfo(tzid: str, year: int, months: int) -> None:
    start = datetime(year, 1 + months % 12, 1, tzinfo=UTC)
    end = start + timedelta(days=31 * months + 1)
    vtz = vtimezone_for(tzid, start, end)
    if vtz is None:
        return
    assert_outlook_shape(vtz)
    assert check_vtimezone(vtz, tzid, start, end) == []
    assert_matches_zoneinfo_via_icalendar(vtz, tzid, start, end)


@pytest.mark.parametrize(
    "tzid",
    [
        "America/New_York",
        "Europe/Berlin",
        "Australia/Sydney",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "America/Santiago",
        "Asia/Kolkata",
    ],
)
def test_generated_vtimezone_is_read_right_by_every_validator(tzid: str) -> None:
    """A daily 12:00 series through 2026 expands (r-i-e and ical.js alike) as zoneinfo says."""
    from tests.ical_validators import validate_feed

    zone = zoneinfo.ZoneInfo(tzid)
    vtz = vtimezone_for(tzid, *WINDOW_2026)
    assert vtz is not None
    calendar = icalendar.Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", "-//calbridge tests//EN")
    calendar.add_component(vtz)
    event = icalendar.Event()
    event.add("UID", "daily@test")
    event.add("DTSTAMP", datetime(2026, 1, 1, tzinfo=UTC))
    event.add("SUMMARY", "Daily")
    event.add("DTSTART", datetime(2026, 1, 1, 12, tzinfo=zone))
    event.add("DTEND", datetime(2026, 1, 1, 13, tzinfo=zone))
    event.add("RRULE", {"FREQ": "DAILY", "COUNT": 365})
    calendar.add_component(event)

    occurrences = validate_feed(
        calendar.to_ical(),
        start=datetime(2025, 12, 1, tzinfo=UTC),
        end=datetime(2027, 1, 2, tzinfo=UTC),
    )
    expected = [
        (datetime(2026, 1, 1, 12) + timedelta(days=n)).replace(tzinfo=zone).astimezone(UTC)
        for n in range(365)
    ]
    assert [o.start for o in occurrences] == expected
