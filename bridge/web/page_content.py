"""What the subscribe page shows, computed without Flask: client links, sessions, freshness, QR.

`pages.py` turns HTTP requests into these values and templates into HTML; keeping the
values here makes each one testable on its own (every client's link format, and why, is in
docs/client-compatibility.md, *Subscribe links*).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import segno

from feeds.model import Scope, Session

UPCOMING_LIMIT = 12


@functools.lru_cache(maxsize=256)
def qr_svg(text: str, label: str) -> str:
    """An inline SVG QR code of `text`, dark on white (readable in dark mode too), labelled."""
    code = segno.make(text, error="m")
    svg = code.svg_inline(
        scale=4, border=4, dark="#000", light="#fff", omitsize=True, svgclass="qr", lineclass=None
    )
    # The label is ours, never user data, but escape it anyway: it goes into an attribute.
    safe_label = label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return svg.replace("<svg ", f'<svg role="img" aria-label="{safe_label}" ', 1)


# -- sessions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Occurrence:
    """One upcoming session as the page lists it."""

    uid: str  # the UID of the event it belongs to (a single event or a series)
    title: str
    start: datetime
    end: datetime
    when: str  # date and time in the feed's zone, for pages read without JavaScript
    cancelled: bool
    in_series: bool
    join_url: str | None
    event_url: str


def time_range(start: datetime, end: datetime, zone: ZoneInfo, now: datetime) -> str:
    """ "Tue 5 May, 15:30–16:30"; the end's date too when it is another day, and the year
    when it is not this year's."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    this_year = now.astimezone(zone).year
    text = f"{day(local_start, this_year)}, {local_start:%H:%M}–"
    if local_end.date() != local_start.date():
        text += f"{day(local_end, this_year)}, "
    return text + f"{local_end:%H:%M}"


def day(value: date, this_year: int | None = None) -> str:
    """ "Tue 5 May 2026", or "Tue 5 May" when the date is in `this_year`."""
    text = f"{value:%a} {value.day} {value:%b}"
    return text if value.year == this_year else f"{text} {value.year}"


def display_title(session: Session, scope: Scope) -> str:
    if scope is Scope.BUSY:
        return "Busy"
    return session.title.strip() or "Untitled session"


def upcoming(
    planned_events: Iterable[Any],
    *,
    now: datetime,
    scope: Scope,
    zone: str,
    join_url: Callable[[str], str] | None,
    event_url: Callable[[str], str],
    limit: int = UPCOMING_LIMIT,
) -> list[Occurrence]:
    """The next `limit` occurrences (ongoing ones included) of the planned feed, soonest first."""
    # Pick the occurrences first: signing links for a long horizon would be wasted work.
    candidates = [
        (session, planned)
        for planned in planned_events
        for session in planned.sessions
        if session.end > now
    ]
    candidates.sort(key=lambda pair: (pair[0].start, display_title(pair[0], scope)))
    tz = ZoneInfo(zone)
    return [
        Occurrence(
            uid=planned.uid,
            title=display_title(session, scope),
            start=session.start,
            end=session.end,
            when=time_range(session.start, session.end, tz, now),
            cancelled=session.cancelled,
            in_series=bool(planned.is_series),
            join_url=join_url(planned.uid) if join_url and not session.cancelled else None,
            event_url=event_url(planned.uid),
        )
        for session, planned in candidates[:limit]
    ]


@dataclass(frozen=True)
class Recording:
    """A past session with its replay link, as the page lists it."""

    title: str
    start: datetime
    when: str
    url: str


def recordings(
    sessions: Iterable[Session], *, now: datetime, scope: Scope, zone: str, limit: int = 10
) -> list[Recording]:
    """The latest `limit` ended sessions that have a replay link, newest first (full scope
    only: a share link shows no links)."""
    if scope is not Scope.FULL:
        return []
    ended = [s for s in sessions if s.recording_url and s.end <= now and not s.cancelled]
    ended.sort(key=lambda s: s.start, reverse=True)
    tz = ZoneInfo(zone)
    return [
        Recording(
            title=display_title(session, scope),
            start=session.start,
            when=time_range(session.start, session.end, tz, now),
            url=session.recording_url or "",
        )
        for session in ended[:limit]
    ]


# -- freshness -----------------------------------------------------------------------------


def ago(then: datetime, now: datetime) -> str:
    """ "just now", "5 minutes ago", "3 hours ago", "2 days ago"."""
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"  # unreachable, keeps type checkers calm


@dataclass(frozen=True)
class Freshness:
    """When the page's data was fetched, and whether an upstream is failing."""

    refreshed_at: datetime
    refreshed_text: str  # "Tue 5 May 2026, 15:30 (Europe/Berlin)"
    refreshed_ago: str
    stale_ago: str | None  # set while an upstream fails: how old the data shown is

    @classmethod
    def of(
        cls, refreshed_at: datetime, stale_since: datetime | None, now: datetime, zone: str
    ) -> Freshness:
        tz = ZoneInfo(zone)
        local = refreshed_at.astimezone(tz)
        return cls(
            refreshed_at=refreshed_at,
            refreshed_text=f"{day(local, now.astimezone(tz).year)}, {local:%H:%M} ({zone})",
            refreshed_ago=ago(refreshed_at, now),
            # The data's age, not the outage's: the data may be older than the first failure.
            stale_ago=ago(refreshed_at, now) if stale_since is not None else None,
        )


# -- share links ---------------------------------------------------------------------------

SCOPE_LABELS = {
    Scope.FULL: "Everything, with join links",
    Scope.NO_LINKS: "Titles and times, no join links",
    Scope.BUSY: "Busy times only",
}


@dataclass(frozen=True)
class ShareLine:
    """One share link in the owner's list (its URL can't be shown: only its hash is stored)."""

    id: int
    scope_label: str
    created: str
    expires: str
    state: str  # "active", "expired" or "revoked"

    @classmethod
    def of(cls, share: Any, now: datetime, zone: str) -> ShareLine:
        """From a store ShareRow (id, scope, created_at, expires_at, revoked_at)."""
        tz = ZoneInfo(zone)
        revoked_at: datetime | None = share.revoked_at
        expires_at: datetime | None = share.expires_at
        if revoked_at is not None:  # revocation is immediate, whatever the clocks say
            state = "revoked"
        elif expires_at is not None and expires_at <= now:
            state = "expired"
        else:
            state = "active"
        return cls(
            id=share.id,
            scope_label=SCOPE_LABELS.get(Scope(share.scope), str(share.scope)),
            created=day(share.created_at.astimezone(tz)),
            expires=day(expires_at.astimezone(tz)) if expires_at else "Never",
            state=state,
        )


def share_lines(shares: Iterable[Any], now: datetime, zone: str) -> list[ShareLine]:
    """Active links first, newest first within each state."""
    lines = [ShareLine.of(share, now, zone) for share in shares]
    order = {"active": 0, "expired": 1, "revoked": 2}
    return sorted(lines, key=lambda line: (order[line.state], -line.id))
