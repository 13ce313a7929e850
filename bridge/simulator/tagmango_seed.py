"""Seed data for the TagMango simulator: realistic calls around a given `now`.

Deterministic for a given `now` (ids and times derive from its UTC date), and built to
exercise the feed: a weekly series crossing a DST change at a fixed local time, a daily
series, cancellations, calls without join links, two mangoes, titles full of commas,
semicolons, backslashes, emoji and Devanagari, and enough calls for many pages.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bridge.simulator.tagmango import MANGOES, SimCall

TITLES = (
    "Office hours: pricing, plans; Q&A",
    "Paths like C:\\Users\\demo and \\n are not newlines",
    "🎉 Launch party 🚀 — bring friends!",
    "हिंदी कार्यशाला: शुरुआत, अभ्यास; प्रश्न",
    "Quotes \"double\" & 'single', <angle> brackets",
    "A very long title that goes on and on, well past seventy-five octets, so that "
    "calendar lines must be folded — twice, maybe; thrice?",
)


def _call_id(anchor: datetime, kind: str, index: int) -> str:
    return hashlib.sha1(f"{anchor.isoformat()}/{kind}/{index}".encode()).hexdigest()[:24]


def _wall_clock_series(
    first_day: date, count: int, every: timedelta, at: tuple[int, int], zone: str
) -> list[datetime]:
    """Occurrences at the same local wall-clock time (so UTC shifts across DST changes)."""
    tz = ZoneInfo(zone)
    return [
        datetime.combine(first_day + every * i, datetime.min.time(), tz).replace(
            hour=at[0], minute=at[1]
        )
        for i in range(count)
    ]


def seed_calls(
    now: datetime, *, weekly: int = 36, daily: int = 60, singles: int = 30
) -> list[SimCall]:
    """Realistic calls around `now` (deterministic for a given `now`).

    * a weekly series, Tuesdays 10:00 America/New_York from six weeks ago: 36 weeks is
      longer than US summer time, so it always crosses a DST change;
    * a daily series at 07:00 Asia/Kolkata for the second mango;
    * one-off calls with punctuation-heavy and non-Latin titles, some without a join link;
    * cancelled and deleted calls (one inside the weekly series).
    """
    anchor = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(anchor.toordinal())
    calls: list[SimCall] = []
    york_start = (anchor - timedelta(weeks=6)).date()
    york_start += timedelta(days=(1 - york_start.weekday()) % 7)  # next Tuesday
    weekly_group = _call_id(anchor, "weekly-group", 0)
    for i, start in enumerate(
        _wall_clock_series(york_start, weekly, timedelta(weeks=1), (10, 0), "America/New_York")
    ):
        calls.append(
            SimCall(
                id=_call_id(anchor, "weekly", i),
                title="Weekly strategy call, live; bring questions",
                start=start.astimezone(UTC),
                end=start.astimezone(UTC) + timedelta(hours=1),
                status="cancelled" if i == 8 else "available",
                meeting_url="https://zoom.us/j/5550001111",
                group_id=weekly_group,
                participants=("user-alice", "user-bob"),
                timezone_name="America/New_York",
            )
        )
    daily_group = _call_id(anchor, "daily-group", 0)
    daily_start = (anchor - timedelta(days=10)).date()
    for i, start in enumerate(
        _wall_clock_series(daily_start, daily, timedelta(days=1), (7, 0), "Asia/Kolkata")
    ):
        calls.append(
            SimCall(
                id=_call_id(anchor, "daily", i),
                title="सुबह का योग 🧘 Morning yoga",
                start=start.astimezone(UTC),
                end=start.astimezone(UTC) + timedelta(minutes=45),
                mango_id=MANGOES[1].id,
                meeting_url=None if i == 3 else "https://meet.google.com/abc-defg-hij",
                platform="google-meet",
                group_id=daily_group,
                participants=("user-carol",),
            )
        )
    for i in range(singles):
        start = anchor + timedelta(days=rng.randint(-20, 150), minutes=30 * rng.randint(0, 47))
        calls.append(
            SimCall(
                id=_call_id(anchor, "single", i),
                title=f"{TITLES[i % len(TITLES)]} #{i + 1}",
                start=start,
                end=start + timedelta(minutes=30 * rng.randint(1, 6)),
                mango_id=MANGOES[i % 2].id,
                status={4: "canceled", 9: "deleted"}.get(i, "available"),
                meeting_url={2: None, 5: ""}.get(i, f"https://zoom.us/j/{7000000000 + i}"),
                participants=("user-alice",) if i % 3 == 0 else ("user-dave",),
            )
        )
    return sorted(calls, key=lambda c: (c.start, c.id))
