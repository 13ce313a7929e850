"""Benchmark: calbridge's feed renderer against the naive icalendar way, and a re-render.

`python -m bench.bench_render [--sessions N] [--repeat R] [--rss N]` renders N sessions
(default 10,000: a mix of single sessions and weekly series, in Europe/Berlin, with join links)
with `feeds.ical.render_feed` from a cold cache, builds the same feed the naive way in the
same run (one `icalendar.Event` per session, `add_missing_timezones()`, `to_ical()`), then
re-renders after one session changed. Targets: full render ≤ 0.25 × naive, re-render ≤ 0.05 ×
full render. `--rss N` also renders N sessions in a fresh process and reports its peak RSS
(target for 100,000 sessions: ≤ 400 MB).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import hmac
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, vCalAddress, vUri

from feeds.ical import FeedOptions, RenderCache, render_feed
from feeds.model import Session, SourceKind, Status

__all__ = ["make_sessions", "naive_feed", "peak_rss_mb", "run"]

FULL_RENDER_TARGET = 0.25
RERENDER_TARGET = 0.05
RSS_TARGET_MB = 400.0
TIMEZONE = "Europe/Berlin"
SERIES_SHARE = 0.3
SERIES_LENGTH = 10
_EPOCH = datetime(2026, 3, 2, 8, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class SignedJoinLinks:
    """A join-link maker like the service's: HMAC of the UID, comparable by value."""

    base: str
    secret: bytes

    def __call__(self, uid: str) -> str:
        digest = hmac.new(self.secret, uid.encode(), hashlib.sha256).digest()[:18]
        return f"{self.base}/j/{base64.urlsafe_b64encode(digest).decode()}"


def make_sessions(n: int, seed: int = 0) -> list[Session]:
    """n deterministic sessions: SERIES_SHARE of them in weekly series, the rest singles."""
    rng = random.Random(seed)
    zone = ZoneInfo(TIMEZONE)
    sessions: list[Session] = []
    series_budget = int(n * SERIES_SHARE)
    series_count = 0
    while len(sessions) < n:
        in_series = len(sessions) + SERIES_LENGTH <= series_budget
        first = (_EPOCH + timedelta(days=rng.randrange(120), hours=rng.randrange(10))).astimezone(
            zone
        )
        minutes = rng.choice((45, 60, 90))
        meeting_url = f"https://zoom.us/j/{rng.randrange(10**10):010d}"
        series_count += in_series
        title = f"Live workshop {len(sessions)}: breathing, posture & focus"
        for week in range(SERIES_LENGTH if in_series else 1):
            start = first + timedelta(weeks=week)  # same wall-clock time every week
            sessions.append(
                Session(
                    source_kind=SourceKind.TAGMANGO,
                    source_name="bench",
                    upstream_id=f"{len(sessions):08d}",
                    title=title,
                    start=start,
                    end=start + timedelta(minutes=minutes),
                    series_key=f"series-{series_count}" if in_series else None,
                    description=(
                        "Bring a mat and water. We will practise the sequences from last week, "
                        "then take questions; recordings are shared afterwards."
                    ),
                    status=Status.CANCELLED if rng.random() < 0.02 else Status.CONFIRMED,
                    meeting_url=meeting_url,
                    organizer_name="Asha Verma",
                    organizer_email="asha@example.com",
                    platform="zoom",
                    product_title="Morning Yoga, level 2",
                    sequence=rng.randrange(3),
                    changed_at=_EPOCH - timedelta(minutes=rng.randrange(100_000)),
                )
            )
    return sessions[:n]


def options() -> FeedOptions:
    return FeedOptions(
        name="Bench feed",
        timezone=TIMEZONE,
        join_url=SignedJoinLinks("https://calbridge.example.com", b"bench-secret"),
        description="Benchmark feed",
    )


def naive_feed(sessions: list[Session], join_url: Callable[[str], str]) -> bytes:
    """The straightforward way: one icalendar.Event per session, then add_missing_timezones."""
    zone = ZoneInfo(TIMEZONE)
    calendar = Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", "-//naive//EN")
    calendar.add("NAME", "Bench feed")
    calendar.add("X-WR-CALNAME", "Bench feed")
    for session in sessions:
        uid = f"{session.key}@calbridge.local"
        link = join_url(uid)
        event = Event()
        event.add("UID", uid)
        event.add("DTSTAMP", session.changed_at)
        event.add("LAST-MODIFIED", session.changed_at)
        event.add("SEQUENCE", session.sequence)
        event.add("DTSTART", session.start.astimezone(zone))
        event.add("DTEND", session.end.astimezone(zone))
        event.add("STATUS", session.status.value.upper())
        event.add("SUMMARY", session.title)
        event.add("DESCRIPTION", f"Join: {link}\n\n{session.description}")
        event.add("LOCATION", link)
        event.add("URL", vUri(link))
        event.add(
            "CONFERENCE",
            vUri(link),
            parameters={"VALUE": "URI", "FEATURE": "VIDEO", "LABEL": "Join"},
        )
        organizer = vCalAddress(f"mailto:{session.organizer_email}")
        organizer.params["CN"] = session.organizer_name
        event.add("ORGANIZER", organizer)
        event.add("CATEGORIES", ["Zoom", session.product_title])
        alarm = Alarm()
        alarm.add("ACTION", "DISPLAY")
        alarm.add("DESCRIPTION", session.title)
        alarm.add("TRIGGER", timedelta(minutes=-10))
        event.add_component(alarm)
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _with_one_change(sessions: list[Session], index: int) -> list[Session]:
    changed = list(sessions)
    victim = changed[index]
    changed[index] = dataclasses.replace(
        victim, title=victim.title + " (updated)", sequence=victim.sequence + 1
    )
    return changed


def run(n: int = 10_000, repeat: int = 3, rss_sessions: int = 0) -> dict[str, float]:
    """Time the renders (best of `repeat`, naive and calbridge interleaved so that both see the
    same machine load); return the timings, both ratios and, if asked, the peak RSS."""
    sessions = make_sessions(n)
    feed_options = options()
    cache = RenderCache()

    def cold() -> bytes:
        cache.clear()
        return render_feed(sessions, feed_options, cache)

    naive_times, full_times, rerender_times = [], [], []
    for attempt in range(repeat):
        naive_times.append(_timed(lambda: naive_feed(sessions, feed_options.join_url)))
        full_times.append(_timed(cold))  # leaves a warm cache for the re-render
        changed = _with_one_change(sessions, (attempt * 7919) % n)
        rerender_times.append(
            _timed(lambda changed=changed: render_feed(changed, feed_options, cache))
        )
    naive, full, rerender = min(naive_times), min(full_times), min(rerender_times)
    result: dict[str, float] = {
        "sessions": n,
        "naive_seconds": round(naive, 4),
        "full_seconds": round(full, 4),
        "rerender_seconds": round(rerender, 4),
        "full_ratio": round(full / naive, 4),
        "rerender_ratio": round(rerender / full, 4),
    }
    if rss_sessions:
        result["rss_sessions"] = rss_sessions
        result["peak_rss_mb"] = round(peak_rss_mb(rss_sessions), 1)
    return result


def peak_rss_mb(n: int) -> float:
    """Peak RSS (MB) of a fresh process that builds n sessions and renders them once."""
    code = (
        "import resource, bench.bench_render as b, feeds.ical as f;"
        f"s = b.make_sessions({n}); data = f.render_feed(s, b.options());"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return int(output.strip()) / 1024  # ru_maxrss is in KiB on Linux


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rss", type=int, default=0, help="also measure peak RSS for N sessions")
    args = parser.parse_args(argv)
    result = run(args.sessions, args.repeat, args.rss)
    print(json.dumps(result, indent=2))
    print(
        f"full render {result['full_ratio']:.3f} × naive (target ≤ {FULL_RENDER_TARGET}); "
        f"re-render {result['rerender_ratio']:.3f} × full (target ≤ {RERENDER_TARGET})"
        + (
            f"; peak RSS {result['peak_rss_mb']:.0f} MB for {args.rss} sessions "
            f"(target ≤ {RSS_TARGET_MB:.0f})"
            if args.rss
            else ""
        )
    )


if __name__ == "__main__":
    main()
