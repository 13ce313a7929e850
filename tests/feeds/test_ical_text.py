"""feeds.ical_text writes what icalendar writes: escaping, parameter quoting, folding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Event
from icalendar.parser import Contentline
from icalendar.prop import vDDDTypes, vText

from feeds.ical_text import Component, Kind, Prop, escape_text, fold, format_datetime, serialize
from tests.ical_reference import to_icalendar
from tests.strategies import texts

LINE_CHARACTERS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n")


@settings(max_examples=300, deadline=None)
@given(line=st.text(LINE_CHARACTERS, max_size=400) | st.text("ab\\^é𝄞", max_size=400))
def test_folding_matches_icalendar(line: str) -> None:
    assert fold(line.encode()) == Contentline(line).to_ical()


@given(line=st.text(LINE_CHARACTERS, min_size=75, max_size=400))
def test_folded_lines_are_short_and_split_between_characters(line: str) -> None:
    for physical in fold(line.encode()).split(b"\r\n"):
        assert len(physical) <= 75
        physical.decode()  # no UTF-8 sequence is cut


@settings(max_examples=300, deadline=None)
@given(text=texts(max_size=60))
def test_text_escaping_matches_icalendar_except_for_backslash_n(text: str) -> None:
    if "\\N" not in text:
        assert escape_text(text) == vText(text).to_ical().decode()
    assert Event.from_ical(_event_with_summary(text))["SUMMARY"] == text.replace("\r", "\n")


def _event_with_summary(text: str) -> bytes:
    return serialize(Component("VEVENT", [Prop("SUMMARY", Kind.TEXT, text)]))


def test_a_literal_backslash_n_is_kept_not_turned_into_a_line_break() -> None:
    assert escape_text("C:\\New") == "C:\\\\New"
    reference = to_icalendar(Component("VEVENT", [Prop("SUMMARY", Kind.TEXT, "C:\\New")]))
    assert reference.to_ical(sorted=False) == _event_with_summary("C:\\New")


@given(
    moment=st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1)),
    zone=st.sampled_from([UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Kolkata")]),
)
def test_datetimes_match_icalendar(moment: datetime, zone: object) -> None:
    aware = moment.replace(tzinfo=zone, microsecond=0)  # type: ignore[arg-type]
    assert format_datetime(aware) == vDDDTypes(aware).to_ical().decode()


@settings(max_examples=200, deadline=None)
@given(
    name=texts(min_size=1, max_size=20),
    link=st.sampled_from(["https://x.example/j/a?b=1,2;3", "https://x/j/é"]),
    minutes=st.integers(0, 3000),
)
def test_components_serialise_like_icalendar(name: str, link: str, minutes: int) -> None:
    berlin = datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    component = Component(
        "VEVENT",
        [
            Prop("UID", Kind.TEXT, f"{name}@x"),
            Prop("DTSTAMP", Kind.DATETIME, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
            Prop("DTSTART", Kind.DATETIME, berlin),
            Prop(
                "RRULE",
                Kind.RECUR,
                (
                    ("FREQ", "WEEKLY"),
                    ("UNTIL", datetime(2026, 6, 1, tzinfo=UTC)),
                    ("INTERVAL", 2),
                    ("BYDAY", ("MO", "TH")),
                ),
            ),
            Prop("EXDATE", Kind.DATETIMES, (berlin + timedelta(weeks=2), berlin)),
            Prop("SEQUENCE", Kind.INTEGER, minutes),
            Prop("URL", Kind.URI, link),
            Prop("CONFERENCE", Kind.URI, link, (("VALUE", "URI"), ("LABEL", name))),
            Prop("ORGANIZER", Kind.ADDRESS, "mailto:a@b.example", (("CN", name),)),
            Prop("CATEGORIES", Kind.CATEGORIES, (name, "Zoom, meetings")),
        ],
        [Component("VALARM", [Prop("TRIGGER", Kind.DURATION, timedelta(minutes=-minutes))])],
    )
    assert serialize(component) == to_icalendar(component).to_ical(sorted=False)
