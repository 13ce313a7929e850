"""Hypothesis strategies for Sessions and whole feeds' worth of them (reusable by any test).

- `texts()`: titles/descriptions with unicode, long runs, and the characters iCalendar
  escapes or folds around (`,` `;` `\\` newline, `\\N`, `^`, quotes, multi-byte characters);
- `zones()`: the feed zones worth testing (with and without DST, half-hour DST, abolished DST);
- `sessions()`: one Session near a DST transition of the zone;
- `series()`: the occurrences of a regular daily/weekly series (same wall-clock time in the
  zone) with gaps, moves, retitles, duration changes and cancellations;
- `feeds()`: (zone, sessions) mixing singles and series, with unique upstream ids.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from feeds.model import Session, SourceKind, Status

__all__ = [
    "DST_ZONES",
    "ZONES",
    "feeds",
    "near_transition",
    "series",
    "sessions",
    "texts",
    "zones",
]

DST_ZONES = (
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Lord_Howe",  # 30-minute DST
)
ZONES = ("UTC", "Asia/Kolkata", "America/Sao_Paulo", *DST_ZONES)  # Sao Paulo: DST abolished

# Days around which clocks change in the zones above (2026), plus ordinary days.
_INTERESTING_DAYS = (
    date(2026, 3, 8),  # New York springs forward
    date(2026, 3, 29),  # London and Berlin spring forward
    date(2026, 4, 5),  # Lord Howe falls back
    date(2026, 10, 4),  # Lord Howe springs forward
    date(2026, 10, 25),  # London and Berlin fall back
    date(2026, 11, 1),  # New York falls back
    date(2026, 6, 15),
    date(2027, 1, 10),
)
# Characters escaping and folding must get right ("\\" + "N" is the literal that icalendar's own
# escaper would turn into a line break), plus any printable unicode.
_ALPHABET = st.one_of(
    st.sampled_from([",", ";", "\\", "\n", ":", '"', "^", "N", " ", "é", "𝄞", "न", "\u2028"]),
    st.characters(blacklist_categories=("Cs", "Cc")),
)
_DURATIONS = st.sampled_from([15, 30, 45, 60, 90, 120, 180]).map(lambda m: timedelta(minutes=m))


def texts(min_size: int = 0, max_size: int = 30) -> st.SearchStrategy[str]:
    """Text with the characters that escaping and folding must get right (≥ min_size chars)."""
    short = st.text(_ALPHABET, min_size=min_size, max_size=max(min_size, max_size))
    long = st.text(_ALPHABET, min_size=max(min_size, 80), max_size=200)
    return st.one_of(short, short, short, short, short, long)


def titles() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["Weekly Q&A", "Yoga, level 1; live"]), texts(min_size=1))


def zones() -> st.SearchStrategy[str]:
    return st.sampled_from(ZONES)


def near_transition(zone: str) -> st.SearchStrategy[datetime]:
    """A wall-clock time in `zone` (as a UTC instant) within a few days of a DST change,
    on a 15-minute grid so that times inside the repeated or skipped hour come up."""
    tz = ZoneInfo(zone)
    return st.builds(
        lambda day, quarter: (
            datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
            + timedelta(minutes=15 * quarter)
        ),
        st.sampled_from(_INTERESTING_DAYS),
        # Often within the first hours of the day, when clocks change; else within ±3 days.
        st.one_of(st.integers(0, 4 * 4), st.integers(-4 * 24 * 3, 4 * 24 * 3)),
    )


@st.composite
def _details(draw: st.DrawFn) -> dict[str, object]:
    """Everything of a Session but identity and times."""
    organizer_name = draw(st.none() | texts(min_size=1, max_size=6))
    return {
        "source_kind": draw(st.sampled_from(SourceKind)),
        "title": draw(titles()),
        "description": draw(texts()),
        "meeting_url": draw(
            st.none() | st.sampled_from(["https://zoom.us/j/1?pwd=a,b;c", "https://meet/x"])
        ),
        "organizer_name": organizer_name,
        "organizer_email": draw(st.none() | st.sampled_from(["ann@example.com", "not an email"])),
        "platform": draw(st.none() | st.sampled_from(["zoom", "tagmango", "Custom; room"])),
        "product_title": draw(st.none() | texts(min_size=1, max_size=6)),
        "sequence": draw(st.integers(0, 5)),
        "changed_at": draw(
            st.none()
            | st.datetimes(datetime(2025, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC))
        ),
    }


@st.composite
def sessions(draw: st.DrawFn, zone: str = "UTC", upstream_id: str = "s0") -> Session:
    """One session starting near a DST change of `zone`."""
    start = draw(near_transition(zone))
    return Session(
        source_name="main",
        upstream_id=upstream_id,
        start=start,
        end=start + draw(_DURATIONS),
        status=draw(st.sampled_from(Status)),
        **draw(_details()),  # type: ignore[arg-type]
    )


@st.composite
def series(draw: st.DrawFn, zone: str = "UTC", key: str = "k0", first_id: int = 0) -> list[Session]:
    """A daily or weekly series at one wall-clock time in `zone`, then perturbed."""
    tz = ZoneInfo(zone)
    anchor = draw(near_transition(zone)).astimezone(tz)
    weekly = draw(st.booleans())
    interval = draw(st.integers(1, 2))
    count = draw(st.integers(3, 10))
    step = timedelta(weeks=interval) if weekly else timedelta(days=interval)
    second_day = draw(st.none() | st.integers(1, 6)) if weekly else None
    duration = draw(_DURATIONS)
    details = draw(_details())
    walls = []
    for index in range(count):
        wall = anchor.replace(tzinfo=None) + step * index
        walls.append(wall)
        if second_day is not None:
            walls.append(wall + timedelta(days=second_day))
    result = []
    for index, wall in enumerate(walls):
        start = wall.replace(tzinfo=tz).astimezone(UTC)  # same wall-clock time, DST or not
        session = Session(
            source_name="main",
            upstream_id=f"s{first_id + index}",
            start=start,
            end=start + duration,
            series_key=key,
            **details,  # type: ignore[arg-type]
        )
        result.append(draw(_perturbed(session)))
    gaps = draw(st.sets(st.integers(0, len(result) - 1), max_size=len(result) // 5))
    return [session for index, session in enumerate(result) if index not in gaps]


@st.composite
def _perturbed(draw: st.DrawFn, session: Session) -> Session:
    """Usually the session as scheduled; sometimes moved, retitled, resized or cancelled."""
    change = draw(
        st.sampled_from(["none"] * 14 + ["move", "retitle", "resize", "cancel", "describe"])
    )
    if change == "move":
        shift = timedelta(minutes=15 * draw(st.integers(-4 * 36, 4 * 36).filter(bool)))
        return replace(session, start=session.start + shift, end=session.end + shift)
    if change == "retitle":
        return replace(session, title=draw(titles()))
    if change == "resize":
        return replace(session, end=session.start + draw(_DURATIONS))
    if change == "cancel":
        return replace(session, status=Status.CANCELLED)
    if change == "describe":
        return replace(session, description=draw(texts()))
    return session


@st.composite
def feeds(draw: st.DrawFn, max_singles: int = 5, max_series: int = 2) -> tuple[str, list[Session]]:
    """(zone, sessions): singles and series near DST changes, unique upstream ids."""
    zone = draw(zones())
    result: list[Session] = []
    for index in range(draw(st.integers(0, max_series))):
        result += draw(series(zone, key=f"k{index}", first_id=1000 * (index + 1)))
    for index in range(draw(st.integers(0 if result else 1, max_singles))):
        result.append(draw(sessions(zone, upstream_id=f"single{index}")))
    return zone, draw(st.permutations(result))
