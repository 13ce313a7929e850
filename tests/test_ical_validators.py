"""Tests of the shared validator helper itself (tests/ical_validators.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from feeds.lint import lint
from tests import ical_validators
from tests.ical_validators import REFERENCE_FEED, IcalJsUnavailable, Occurrence, validate_feed

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 5, 1, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def icaljs_required() -> None:
    """Tests about what only ical.js catches need node (CI always has it)."""
    problem = ical_validators._icaljs_missing()
    if problem is not None:
        pytest.skip(f"ical.js unavailable: {problem}")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekly_berlin_feed(*, with_vtimezone: bool) -> bytes:
    """A weekly 18:00 Europe/Berlin series across the 2026-03-29 DST change."""
    calendar = icalendar.Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", "-//calbridge tests//EN")
    event = icalendar.Event()
    event.add("UID", "weekly@test")
    event.add("DTSTAMP", utc(2026, 3, 1))
    event.add("SUMMARY", "Weekly")
    event.add("DTSTART", datetime(2026, 3, 17, 18, tzinfo=BERLIN))
    event.add("DTEND", datetime(2026, 3, 17, 19, tzinfo=BERLIN))
    event.add("RRULE", {"FREQ": "WEEKLY", "COUNT": 4})
    calendar.add_component(event)
    if with_vtimezone:
        calendar.add_missing_timezones()  # icalendar's RDATE-list VTIMEZONE
    return calendar.to_ical()


def failure(data: bytes, start: datetime = START, end: datetime = END) -> str:
    with pytest.raises(AssertionError) as raised:
        validate_feed(data, start=start, end=end)
    return str(raised.value)


def test_reference_feed_passes_and_expands_to_the_right_instants() -> None:
    occurrences = validate_feed(REFERENCE_FEED, start=START, end=END)
    series = [o for o in occurrences if o.uid == "series-42@live.example.com"]
    assert [o.start for o in series] == [
        utc(2026, 3, 3, 17),  # 18:00 CET
        utc(2026, 3, 10, 17),
        # 03-17 is an EXDATE
        utc(2026, 3, 24, 18),  # the override, moved to 19:00 CET
        utc(2026, 3, 31, 16),  # 18:00 CEST, after the 2026-03-29 change
        utc(2026, 4, 7, 16),
        utc(2026, 4, 14, 16),
        utc(2026, 4, 21, 16),
    ]
    assert series[2].summary == "Weekly Q&A (moved to 19:00)"
    assert all(o.end - o.start == timedelta(hours=1) for o in series)
    assert (
        Occurrence(
            utc(2026, 4, 9, 14),
            utc(2026, 4, 9, 15),
            "Cancelled: Office hours",
            "CANCELLED",
            "session-8@live.example.com",
        )
        in occurrences
    )
    assert occurrences == sorted(occurrences)
    assert len(occurrences) == 9


def test_only_occurrences_overlapping_the_window_are_returned() -> None:
    occurrences = validate_feed(REFERENCE_FEED, start=utc(2026, 3, 31, 16, 30), end=utc(2026, 4, 3))
    assert [(o.start, o.uid) for o in occurrences] == [
        (utc(2026, 3, 31, 16), "series-42@live.example.com"),  # still running at 16:30
        (utc(2026, 4, 2, 14), "session-7@live.example.com"),
    ]


def test_rdate_list_vtimezone_is_caught_thunderbird_gets_the_wrong_offset(
    icaljs_required: None,
) -> None:
    message = failure(weekly_berlin_feed(with_vtimezone=True))
    assert "[expansion] recurring-ical-events and ical.js (Thunderbird) disagree" in message
    # ical.js reads only the first RDATE: 18:00 CEST comes out as 17:00Z instead of 16:00Z.
    assert "only in ical.js:               2026-03-31T17:00Z" in message
    assert "only in recurring-ical-events: 2026-03-31T16:00Z" in message
    assert "[lint]" in message and "RDATE" in message


def test_tzid_without_vtimezone_fails() -> None:
    message = failure(weekly_berlin_feed(with_vtimezone=False))
    assert "[icalendar] TZIDs without VTIMEZONE: Europe/Berlin" in message
    assert "[lint]" in message and "missing-vtimezone" in message


def test_tzid_without_vtimezone_is_also_reported_by_icaljs(icaljs_required: None) -> None:
    message = failure(weekly_berlin_feed(with_vtimezone=False))
    assert "[ical.js] DTSTART;TZID=Europe/Berlin has no VTIMEZONE" in message


def test_missing_uid_fails() -> None:
    data = REFERENCE_FEED.replace(b"UID:session-7@live.example.com\r\n", b"")
    message = failure(data)
    assert "[icalendar] VEVENT 'Kick-off' has no UID" in message
    assert "[vobject]" in message
    assert "[lint] line" in message and "uid: VEVENT without UID" in message


def test_missing_dtstamp_fails() -> None:
    data = REFERENCE_FEED.replace(b"DTSTAMP:20260302T090000Z\r\n", b"")
    assert "[icalendar] VEVENT 'Kick-off' has no DTSTAMP" in failure(data)


def test_broken_fold_fails() -> None:
    # The continuation line lost its leading space.
    data = REFERENCE_FEED.replace(
        b"DESCRIPTION:Join: https://video.example.com/j/7\r\n",
        b"DESCRIPTION:Join: https://video.example.com/j/7 and a long\r\nline that\r\n",
    )
    message = failure(data)
    assert "[lint]" in message and "syntax" in message
    assert "[ical.js] cannot parse" in message or "[icalendar]" in message or "[ical]" in message


@pytest.mark.parametrize(
    "body", [b"", b"<html><body>502 Bad Gateway</body></html>\r\n"], ids=["empty", "html"]
)
def test_not_a_calendar_fails(body: bytes) -> None:
    message = failure(body)
    assert "[lint]" in message and "vcalendar" in message


def test_warnings_do_not_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("feeds.lint.MAX_FEED_EVENTS", 3)  # 4 events: a size warning
    assert [p.rule for p in lint(REFERENCE_FEED)] == ["size"]
    assert len(validate_feed(REFERENCE_FEED, start=START, end=END)) == 9


def test_naive_window_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_feed(REFERENCE_FEED, start=datetime(2026, 3, 1), end=END)


def test_dead_node_worker_is_restarted(icaljs_required: None) -> None:
    validate_feed(REFERENCE_FEED, start=START, end=END)
    process = ical_validators._WORKER._process
    assert process is not None
    process.kill()
    process.wait()
    assert len(validate_feed(REFERENCE_FEED, start=START, end=END)) == 9
    assert ical_validators._WORKER._process is not process


def test_without_node_the_icaljs_part_is_skipped_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ical_validators.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.warns(IcalJsUnavailable, match="`node` is not on PATH"):
        assert len(validate_feed(REFERENCE_FEED, start=START, end=END)) == 9


def test_without_node_in_ci_it_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ical_validators.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    assert "[ical.js] cannot run in CI: `node` is not on PATH" in failure(REFERENCE_FEED)
