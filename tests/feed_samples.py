"""Sample sessions and helpers for the feed tests: every feed rendered through `render` is
checked against the icalendar reference path and run through validate_feed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import icalendar

from feeds.ical import FeedOptions, render_feed
from feeds.model import Session, SourceKind, Status
from tests.ical_reference import render_feed_icalendar
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
    """A fully filled-in session; ids starting with "w" belong to the weekly series "yoga"."""
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


def mixed_sessions() -> list[Session]:
    """A weekly series with one moved occurrence, two singles and a cancelled single."""
    sessions = weekly(6)
    hour = timedelta(hours=1)
    moved = sessions[2]
    sessions[2] = replace(moved, title="Moved", start=moved.start + hour, end=moved.end + hour)
    return [*sessions, session("a"), session("b", status=Status.CANCELLED), session("c")]
