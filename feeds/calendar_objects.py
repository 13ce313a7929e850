"""A feed split into CalDAV calendar object resources: one per UID, each its own VCALENDAR.

RFC 4791 §4.1 wants each resource to hold one UID: a single event, or a series master with
its overrides. Each object holds the very VEVENT bytes of the `.ics` feed (the same planning
and writing of `feeds.ical`, so also its per-event render cache) plus the VTIMEZONE its own
times need. That VTIMEZONE covers the calendar years of the object's own sessions, not the
feed's window: the window moves every day and would otherwise change every object's bytes,
and so its ETag, twice a year, making every CalDAV client download the whole calendar again.

An object's ETag is a hash of its bytes, so it changes exactly when the bytes do; `spans`
are the instants of its occurrences, for `calendar-query` time ranges (RFC 4791 §9.9: a
recurring event matches when any occurrence does).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from feeds.ical import FeedOptions, RenderCache, _prepare, _Prepared, _render_block
from feeds.ical_events import calendar_component
from feeds.ical_text import serialize
from feeds.model import Session
from feeds.timezones import vtimezone_for

__all__ = [
    "CalendarListing",
    "CalendarObject",
    "calendar_objects",
    "fingerprint",
    "overlaps",
    "timezone_calendar",
]

_END = b"END:VCALENDAR\r\n"


@dataclass(frozen=True, slots=True)
class CalendarObject:
    uid: str
    data: bytes  # a VCALENDAR: VTIMEZONE (when needed) and the UID's VEVENTs, CRLF lines
    etag: str  # hex SHA-256 prefix of `data`
    spans: tuple[tuple[datetime, datetime], ...]  # each occurrence's (start, end)


@dataclass(frozen=True)
class CalendarListing:
    """A collection's objects by UID (in feed order) and the fingerprint of their ETags, which
    tells at once whether anything differs from a state recorded before."""

    objects: dict[str, CalendarObject]
    fingerprint: str

    @classmethod
    def of(cls, objects: Iterable[CalendarObject]) -> CalendarListing:
        by_uid = {obj.uid: obj for obj in objects}
        return cls(by_uid, fingerprint((uid, obj.etag) for uid, obj in by_uid.items()))

    def etags(self) -> list[tuple[str, str]]:
        return [(uid, obj.etag) for uid, obj in self.objects.items()]


def fingerprint(etags: Iterable[tuple[str, str]]) -> str:
    """A digest of (uid, etag) pairs, in any order."""
    digest = hashlib.sha256()
    for uid, etag in sorted(etags):
        digest.update(f"{uid}\x00{etag}\x00".encode())
    return digest.hexdigest()


def calendar_objects(
    sessions: Iterable[Session], options: FeedOptions, cache: RenderCache | None = None
) -> list[CalendarObject]:
    """The feed `render_feed(sessions, options)` writes, as one object per UID, in feed order.

    `options.expand` is honoured like the feed's (each occurrence its own object), though
    CalDAV clients expand series themselves and want the plain feed."""
    prepared = _prepare(sessions, options, cache or RenderCache())
    head = _head()
    objects = []
    for block in prepared.blocks:
        planned = block.planned
        spans = tuple((s.start, s.end) for s in planned.sessions)
        parts = [head]
        if block.uses_zone:
            window = _own_window(prepared, options, spans)
            assert window is not None  # a zoned event implies a window with a VTIMEZONE
            parts.append(prepared.cache.vtimezone_bytes(options.timezone, *window) or b"")
        parts += [_render_block(block, prepared.ctx), _END]
        data = b"".join(parts)
        etag = hashlib.sha256(data).hexdigest()[:32]
        objects.append(CalendarObject(planned.uid, data, etag, spans))
    return objects


def _own_window(
    prepared: _Prepared, options: FeedOptions, spans: tuple[tuple[datetime, datetime], ...]
) -> tuple[datetime, datetime] | None:
    """The span an object's VTIMEZONE covers: its own sessions' (whole years, as
    `feeds.timezones` rounds it), or the feed's window in the rare zone whose rules can be
    written for the feed's years but not for the object's own."""
    # Whole UTC years, as feeds.timezones reads a window: objects of the same years then
    # share one cached VTIMEZONE.
    first = min(start for start, _ in spans).astimezone(UTC).year
    last = max(end for _, end in spans).astimezone(UTC).year
    years = datetime(first, 1, 1, tzinfo=UTC), datetime(last, 12, 31, tzinfo=UTC)
    if prepared.cache.vtimezone_bytes(options.timezone, *years) is None:
        return prepared.window
    return years


def overlaps(obj: CalendarObject, start: datetime | None, end: datetime | None) -> bool:
    """Whether any occurrence of `obj` overlaps [start, end) (None: unbounded), as RFC 4791
    §9.9 defines it for VEVENTs with a DTEND."""
    return any(
        (start is None or occ_end > start) and (end is None or occ_start < end)
        for occ_start, occ_end in obj.spans
    )


def timezone_calendar(tzid: str, at: datetime) -> bytes | None:
    """A VCALENDAR holding just the VTIMEZONE of `tzid` for the year of `at` (the value of a
    collection's CALDAV:calendar-timezone), or None for UTC and zones without one."""
    year = at.astimezone(UTC).year
    vtimezone = vtimezone_for(tzid, datetime(year, 1, 1, tzinfo=UTC), at.astimezone(UTC))
    if vtimezone is None:
        return None
    return _head() + vtimezone.to_ical(sorted=False) + _END


@functools.cache
def _head() -> bytes:
    """The start of every object: what `render_event` writes before its events."""
    header = calendar_component(
        name=None, description=None, timezone_name=None, refresh_interval=None
    )
    return serialize(header)[: -len(_END)]
