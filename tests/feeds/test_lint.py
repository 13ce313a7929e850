"""Tests for feeds.lint: one minimal broken fixture per rule, and a clean reference feed."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.lint import LintProblem, lint
from tests.ical_validators import REFERENCE_FEED

CLEAN = REFERENCE_FEED.decode()


def line_of(text: str, prefix: str, occurrence: int = 1) -> int:
    """Physical line number (1-based) of the n-th line starting with `prefix`."""
    found = 0
    for number, line in enumerate(text.split("\r\n"), 1):
        if line.startswith(prefix):
            found += 1
            if found == occurrence:
                return number
    raise AssertionError(f"no line {prefix!r}")


def mutate(old: str, new: str, text: str = CLEAN) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def findings(text: str | bytes) -> list[tuple[str, int | None]]:
    data = text.encode() if isinstance(text, str) else text
    return [(p.rule, p.line) for p in lint(data)]


KICK_OFF = "SUMMARY:Kick-off\r\n"
SERIES_RRULE = "RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=8\r\n"
SERIES_EXDATE = "EXDATE;TZID=Europe/Berlin:20260317T180000\r\n"
OVERRIDE_ID = "RECURRENCE-ID;TZID=Europe/Berlin:20260324T180000\r\n"
SESSION_7_START = "DTSTART:20260402T140000Z\r\n"


def test_reference_skeleton_is_clean() -> None:
    assert lint(REFERENCE_FEED) == []


def test_problem_is_a_frozen_value() -> None:
    problem = LintProblem("rule", "message")
    assert (problem.line, problem.severity) == (None, "error")
    with pytest.raises(AttributeError):
        problem.rule = "other"  # type: ignore[misc]


# --- bytes, lines, folding -----------------------------------------------------------------


def test_bom() -> None:
    assert findings(b"\xef\xbb\xbf" + REFERENCE_FEED) == [("bom", 1)]


def test_invalid_utf8() -> None:
    data = REFERENCE_FEED.replace(b"SUMMARY:Kick-off", b"SUMMARY:Kick\xff-off")
    assert findings(data) == [("utf8", line_of(CLEAN, "SUMMARY:Kick-off"))]


@pytest.mark.parametrize(("ending", "kind"), [("\n", "bare LF"), ("\r", "bare CR")])
def test_bare_line_ending(ending: str, kind: str) -> None:
    text = mutate("PRODID:-//Example Live//Session Feed 1.0//EN\r\n", f"PRODID:x{ending}")
    problems = lint(text.encode())
    assert [(p.rule, p.line) for p in problems] == [("crlf", 3)]
    assert kind in problems[0].message


def test_missing_final_crlf() -> None:
    data = REFERENCE_FEED.removesuffix(b"\r\n")
    assert findings(data) == [("crlf", CLEAN.count("\r\n"))]


def test_lf_everywhere_is_reported_once_per_line_up_to_a_cap() -> None:
    problems = lint(REFERENCE_FEED.replace(b"\r\n", b"\n"))
    assert {p.rule for p in problems} == {"crlf"}
    assert len(problems) == 21
    assert problems[-1].message.startswith("... and ")


def test_blank_line() -> None:
    text = mutate("CALSCALE:GREGORIAN\r\n", "CALSCALE:GREGORIAN\r\n\r\n")
    assert findings(text) == [("blank-line", 5)]


def test_line_longer_than_75_octets() -> None:
    # 76 octets with a 3-octet character: too long although only 74 characters.
    text = mutate(KICK_OFF, "SUMMARY:" + "x" * 65 + "…\r\n")
    assert findings(text) == [("line-length", line_of(CLEAN, "SUMMARY:Kick-off"))]


def test_a_properly_folded_long_line_is_fine() -> None:
    text = mutate(KICK_OFF, "SUMMARY:" + "x" * 67 + "\r\n " + "y" * 60 + "\r\n\tz\r\n")
    assert findings(text) == []


def test_continuation_line_with_nothing_to_continue() -> None:
    assert findings(b" " + REFERENCE_FEED)[0] == ("fold", 1)


def test_fold_without_leading_space() -> None:
    text = mutate(KICK_OFF, "SUMMARY:Kick\r\noff\r\n")
    line = line_of(CLEAN, "SUMMARY:Kick-off") + 1
    assert findings(text) == [("syntax", line)]


def test_fold_splitting_a_utf8_character() -> None:
    data = REFERENCE_FEED.replace(b"SUMMARY:Kick-off", "SUMMARY:Kick…off".encode())
    data = data.replace(b"Kick\xe2\x80\xa6off", b"Kick\xe2\x80\r\n \xa6off")
    assert findings(data) == [("fold-utf8", line_of(CLEAN, "SUMMARY:Kick-off") + 1)]


def test_junk_line() -> None:
    text = mutate(KICK_OFF, KICK_OFF + "this is not a content line\r\n")
    assert findings(text) == [("syntax", line_of(CLEAN, "SUMMARY:Kick-off") + 1)]


# --- structure and calendar properties -----------------------------------------------------


def test_unclosed_component() -> None:
    text = mutate("END:VEVENT\r\nEND:VCALENDAR\r\n", "END:VCALENDAR\r\n")
    rules = findings(text)
    assert ("structure", line_of(text, "END:VCALENDAR")) in rules
    assert ("structure", line_of(text, "BEGIN:VCALENDAR")) in rules  # never closed


def test_two_calendars() -> None:
    text = CLEAN + "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nEND:VCALENDAR\r\n"
    assert ("vcalendar", None) in findings(text)


def test_not_a_calendar_at_all() -> None:
    assert findings(b"<html>\r\n") == [
        ("syntax", 1),
        ("vcalendar", None),
    ]
    assert findings(b"") == [("vcalendar", None)]


def test_first_and_last_lines() -> None:
    text = "X-JUNK:1\r\n" + CLEAN + "X-MORE:2\r\n"
    assert findings(text) == [
        ("vcalendar", 1),
        ("vcalendar", 1),
        ("vcalendar", CLEAN.count("\r\n") + 2),
        ("vcalendar", CLEAN.count("\r\n") + 2),
    ]


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        ("VERSION:2.0\r\n", "", "version"),
        ("VERSION:2.0\r\n", "VERSION:1.0\r\n", "version"),
        ("PRODID:-//Example Live//Session Feed 1.0//EN\r\n", "", "prodid"),
    ],
)
def test_version_and_prodid(old: str, new: str, rule: str) -> None:
    assert findings(mutate(old, new)) == [(rule, 1)]


def test_method_request() -> None:
    text = mutate("CALSCALE:GREGORIAN\r\n", "CALSCALE:GREGORIAN\r\nMETHOD:REQUEST\r\n")
    assert findings(text)[0] == ("method", 5)


def test_method_publish_needs_organizer_on_every_event() -> None:
    text = mutate("CALSCALE:GREGORIAN\r\n", "CALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\n")
    assert {rule for rule, _ in findings(text)} == {"method"}
    assert len(findings(text)) == 4  # one per VEVENT
    with_organizer = text.replace("END:VEVENT", "ORGANIZER:mailto:host@example.com\r\nEND:VEVENT")
    assert findings(with_organizer) == []


def test_duplicated_single_valued_property() -> None:
    text = mutate("X-WR-CALNAME:Live sessions\r\n", "X-WR-CALNAME:Live sessions\r\n" * 2)
    assert findings(text) == [("single-value", line_of(CLEAN, "X-WR-CALNAME"))]
    text = mutate(KICK_OFF, KICK_OFF * 2)
    assert findings(text) == [("single-value", line_of(CLEAN, "SUMMARY:Kick-off"))]


def test_refresh_interval_without_value_duration() -> None:
    text = mutate("REFRESH-INTERVAL;VALUE=DURATION:PT1H", "REFRESH-INTERVAL:PT1H")
    assert findings(text) == [("refresh-interval", line_of(CLEAN, "REFRESH-INTERVAL"))]


@pytest.mark.parametrize("value", ["1:00:00", "PT", "P1H", "3600"])
def test_bad_duration(value: str) -> None:
    text = mutate("X-PUBLISHED-TTL:PT1H", f"X-PUBLISHED-TTL:{value}")
    assert findings(text) == [("duration", line_of(CLEAN, "X-PUBLISHED-TTL"))]


@pytest.mark.parametrize("value", ["PT1H", "-PT10M", "+P1D", "P2W", "P1DT2H3M4S"])
def test_good_durations(value: str) -> None:
    assert findings(mutate("X-PUBLISHED-TTL:PT1H", f"X-PUBLISHED-TTL:{value}")) == []


# --- events --------------------------------------------------------------------------------


def test_rrule_must_begin_with_freq() -> None:
    text = mutate(SERIES_RRULE, "RRULE:BYDAY=TU;FREQ=WEEKLY;COUNT=8\r\n")
    assert findings(text) == [("rrule", line_of(CLEAN, "RRULE:FREQ=WEEKLY"))]


def test_rrule_until_and_count() -> None:
    text = mutate(SERIES_RRULE, "RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=8;UNTIL=20260501T000000Z\r\n")
    assert findings(text) == [("rrule", line_of(CLEAN, "RRULE:FREQ=WEEKLY"))]


def test_rrule_local_until_with_tzid_dtstart() -> None:
    text = mutate(SERIES_RRULE, "RRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20260501T000000\r\n")
    assert findings(text) == [("rrule", line_of(CLEAN, "RRULE:FREQ=WEEKLY"))]
    utc_until = mutate(SERIES_RRULE, "RRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20260501T000000Z\r\n")
    assert findings(utc_until) == []


def test_exdate_typed_unlike_dtstart() -> None:
    line = line_of(CLEAN, "EXDATE")
    for wrong in ("EXDATE;VALUE=DATE:20260317", "EXDATE:20260317T170000Z"):
        problems = lint(mutate(SERIES_EXDATE, wrong + "\r\n").encode())
        assert [(p.rule, p.line) for p in problems] == [("exdate", line)]
    other_zone = mutate(SERIES_EXDATE, "EXDATE;TZID=Europe/London:20260317T170000\r\n")
    assert ("exdate", line) in findings(other_zone)


def test_recurrence_id_typed_unlike_master_dtstart() -> None:
    text = mutate(OVERRIDE_ID, "RECURRENCE-ID:20260324T170000Z\r\n")
    assert findings(text) == [("recurrence-id", line_of(CLEAN, "RECURRENCE-ID"))]


def test_override_without_master() -> None:
    text = mutate(OVERRIDE_ID, OVERRIDE_ID).replace(
        "UID:series-42@live.example.com\r\nRECURRENCE-ID",
        "UID:other@live.example.com\r\nRECURRENCE-ID",
    )
    assert findings(text) == [("orphan-override", line_of(CLEAN, "RECURRENCE-ID"))]


def test_floating_time() -> None:
    text = mutate(SESSION_7_START, "DTSTART:20260402T140000\r\n")
    assert findings(text) == [("floating", line_of(CLEAN, "DTSTART:20260402"))]


def test_tzid_on_a_utc_value() -> None:
    text = mutate(SESSION_7_START, "DTSTART;TZID=Europe/Berlin:20260402T140000Z\r\n")
    assert ("tzid-utc", line_of(CLEAN, "DTSTART:20260402")) in findings(text)


def test_malformed_date_value() -> None:
    text = mutate(SESSION_7_START, "DTSTART:2026-04-02T14:00:00Z\r\n")
    assert findings(text) == [("value", line_of(CLEAN, "DTSTART:20260402"))]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("DTSTAMP:20260302T090000Z", "DTSTAMP:20260302T090000"),
        ("LAST-MODIFIED:20260302T090000Z", "LAST-MODIFIED;TZID=Europe/Berlin:20260302T090000"),
        ("LAST-MODIFIED:20260302T090000Z", "CREATED;VALUE=DATE:20260302"),
    ],
)
def test_stamps_must_be_utc(old: str, new: str) -> None:
    prefix = old.split(":", 1)[0]
    assert findings(mutate(old, new)) == [("utc-required", line_of(CLEAN, old[: len(prefix) + 9]))]


@pytest.mark.parametrize(("prop", "rule"), [("UID", "uid"), ("DTSTAMP", "dtstamp")])
def test_required_event_properties(prop: str, rule: str) -> None:
    line = "UID:session-7@live.example.com\r\n" if prop == "UID" else "DTSTAMP:20260302T090000Z\r\n"
    text = mutate(line, "")
    assert findings(text) == [(rule, line_of(CLEAN, "UID:session-7") - 1)]


def test_duplicate_uid() -> None:
    text = mutate("UID:session-8@live.example.com", "UID:session-7@live.example.com")
    assert findings(text) == [("duplicate-uid", line_of(CLEAN, "UID:session-8") - 1)]


def test_duplicate_override() -> None:
    override_start = CLEAN.index("BEGIN:VEVENT\r\nUID:series-42@live.example.com\r\nRECURRENCE-ID")
    override = CLEAN[override_start : CLEAN.index("END:VEVENT\r\n", override_start) + 12]
    text = mutate(override, override * 2)
    second = line_of(text, "BEGIN:VEVENT", 3)
    assert findings(text) == [("duplicate-uid", second)]


def test_dtend_and_duration() -> None:
    text = mutate(SESSION_7_START, SESSION_7_START + "DURATION:PT1H\r\n")
    assert findings(text) == [("dtend-duration", line_of(CLEAN, "UID:session-7") - 1)]


# --- time zones ----------------------------------------------------------------------------


def test_tzid_without_vtimezone() -> None:
    text = mutate(SESSION_7_START, "DTSTART;TZID=America/New_York:20260402T100000\r\n")
    text = mutate("DTEND:20260402T153000Z", "DTEND;TZID=America/New_York:20260402T113000", text)
    assert findings(text) == [("missing-vtimezone", line_of(CLEAN, "DTSTART:20260402"))]


def _vtimezone(text: str = CLEAN) -> str:
    start = text.index("BEGIN:VTIMEZONE")
    return text[start : text.index("END:VTIMEZONE\r\n") + 15]


def test_two_vtimezones_for_one_tzid() -> None:
    text = mutate(_vtimezone(), _vtimezone() * 2)
    assert findings(text) == [("duplicate-vtimezone", line_of(CLEAN, "END:VTIMEZONE") + 1)]


def test_unused_vtimezone() -> None:
    london = _vtimezone().replace("Europe/Berlin", "Europe/London")
    text = mutate(_vtimezone(), _vtimezone() + london)
    rules = findings(text)
    assert ("unused-vtimezone", line_of(CLEAN, "END:VTIMEZONE") + 1) in rules


def test_tzid_that_is_not_an_iana_name() -> None:
    text = CLEAN.replace("Europe/Berlin", "W. Europe Standard Time")
    assert findings(text) == [("tzid-iana", line_of(CLEAN, "BEGIN:VTIMEZONE"))]


def test_vtimezone_with_rdate() -> None:
    text = mutate(
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n",
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nRDATE:19800406T020000\r\n",
    )
    assert findings(text) == [
        ("vtimezone-shape", line_of(CLEAN, "RRULE:FREQ=YEARLY;BYMONTH=3") + 1)
    ]


def test_vtimezone_with_two_standard_blocks() -> None:
    standard_start = CLEAN.index("BEGIN:STANDARD")
    standard = CLEAN[standard_start : CLEAN.index("END:STANDARD\r\n") + 14]
    text = mutate(standard, standard * 2)
    assert findings(text)[0] == ("vtimezone-shape", line_of(CLEAN, "BEGIN:VTIMEZONE"))


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=MONTHLY;BYMONTH=3;BYDAY=-1SU",
        "FREQ=YEARLY;BYMONTH=3;BYDAY=SU",
        "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU,1SU",
        "FREQ=YEARLY;BYMONTH=3;BYDAY=5SU",
        "FREQ=YEARLY;BYMONTH=3,4;BYDAY=-1SU",
    ],
)
def test_vtimezone_rrule_shape(rule: str) -> None:
    text = mutate("RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", f"RRULE:{rule}")
    assert findings(text) == [("vtimezone-shape", line_of(CLEAN, "RRULE:FREQ=YEARLY;BYMONTH=3"))]


def test_vtimezone_offsets_disagreeing_with_zoneinfo() -> None:
    # The DAYLIGHT rule one week early: wrong for 2026-03-22..29 (the EXDATE/override weeks).
    text = mutate("19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "x")
    text = mutate(
        "DTSTART:x",
        "DTSTART:19700322T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=4SU",
        text,
    )
    problems = lint(text.encode())
    assert {p.rule for p in problems} == {"vtimezone-offsets"}
    assert problems[0].line == line_of(CLEAN, "BEGIN:VTIMEZONE")
    assert "2026-03-22T01:00:00Z" in problems[0].message


# --- size ----------------------------------------------------------------------------------


def _feed_with_events(count: int, description: str = "") -> bytes:
    event = (
        "BEGIN:VEVENT\r\nUID:s{n}@t\r\nDTSTAMP:20260301T000000Z\r\n"
        "DTSTART:20260302T100000Z\r\nDTEND:20260302T110000Z\r\nSUMMARY:S{n}\r\n"
        f"{description}END:VEVENT\r\n"
    )
    body = "".join(event.format(n=n) for n in range(count))
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n{body}END:VCALENDAR\r\n".encode()


def test_too_many_events_is_a_warning() -> None:
    assert lint(_feed_with_events(1000)) == []
    problems = lint(_feed_with_events(1001))
    assert [(p.rule, p.severity) for p in problems] == [("size", "warning")]
    assert "1001 VEVENTs" in problems[0].message


def test_too_many_bytes_is_a_warning() -> None:
    description = ("DESCRIPTION:" + "x" * 60 + "\r\n ") * 30 + "end\r\n"
    data = _feed_with_events(500, description)
    assert len(data) > 900_000
    assert [(p.rule, p.severity) for p in lint(data)] == [("size", "warning")]


# --- property: what icalendar writes for any text is clean -----------------------------------

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x7f"),
    max_size=300,
)


@settings(max_examples=150, deadline=None)
@given(summary=_TEXT, description=_TEXT, location=_TEXT)
def test_icalendar_output_with_any_text_is_clean(
    summary: str, description: str, location: str
) -> None:
    calendar = icalendar.Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", "-//calbridge tests//EN")
    event = icalendar.Event()
    event.add("UID", "any@test")
    event.add("DTSTAMP", datetime(2026, 3, 1, tzinfo=UTC))
    event.add("DTSTART", datetime(2026, 3, 2, 10, tzinfo=UTC))
    event.add("DTEND", datetime(2026, 3, 2, 11, tzinfo=UTC))
    event.add("SUMMARY", summary)
    event.add("DESCRIPTION", description + "\n" + description)
    event.add("LOCATION", location)
    calendar.add_component(event)
    assert lint(calendar.to_ical()) == []
