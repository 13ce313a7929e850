"""Sessions → a deterministic iCalendar feed (bytes), fast and cached.

`render_feed` writes every session as a single VEVENT or, for occurrences sharing a
`series_key`, one recurring VEVENT with EXDATEs and RECURRENCE-ID overrides (`feeds.series`);
`feeds.ical_events` decides what each event says and `feeds.ical_text` writes it. The same
sessions in any order give the same bytes: no clock, no randomness, events sorted by start
then UID. Rendered events are kept in a `RenderCache`, a bounded LRU keyed by the event's
sessions and the options that affect it, which the caller owns and passes in: re-rendering a
feed in which one session changed then only writes that one event again. `feed_parts` gives
the components before they are written: the tests write them through the icalendar library
too (tests/ical_reference.py) and hold the two byte-identical. `feeds.ical_index` finds one
event of a feed by UID, and writes it alone, without planning the whole feed again.

Calendar properties: VERSION, PRODID, CALSCALE, NAME + X-WR-CALNAME, DESCRIPTION +
X-WR-CALDESC (when given), X-WR-TIMEZONE (in a UTC feed only: see `x_wr_timezone`),
REFRESH-INTERVAL;VALUE=DURATION and X-PUBLISHED-TTL, from the options alone. No METHOD.
Times use the feed zone's TZID with a rule-based VTIMEZONE (`feeds.timezones`), or UTC when
the zone is UTC or cannot be written as such a VTIMEZONE, and for single events in the
repeated hour when clocks go back. DTSTAMP/LAST-MODIFIED come from `Session.changed_at`, or
the fixed `feeds.ical_events.UNKNOWN_CHANGE_TIME` (2000-01-01T00:00:00Z) when it is unknown.

One module over 400 lines: planning and writing share the per-event caches and their keys,
which feeds.ical_index and feeds.calendar_objects reuse.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from icalendar import Timezone

from feeds.ical_events import (
    UNKNOWN_CHANGE_TIME,
    RenderContext,
    calendar_component,
    content_key,
    series_events,
    series_uid,
    single_event,
    single_uid,
    uses_zone,
)
from feeds.ical_text import Component, serialize
from feeds.model import Scope, Session
from feeds.rules import aware_utc, check_alarm_minutes
from feeds.series import Series, plan_group
from feeds.timezones import UTC_TZIDS, load_zone, vtimezone_for

__all__ = [
    "FeedOptions",
    "FeedParts",
    "PlannedEvent",
    "RenderCache",
    "feed_parts",
    "iter_feed",
    "plan_feed",
    "render_event",
    "render_feed",
]

# Rendered events (~1 KB of bytes, ~3 KB with their keys and plans) and series plans kept per
# process: enough for the re-render of a 10,000-session feed, but no more, because feeds with
# join links never share events (each owner's links differ), so a web process serving
# thousands of distinct feeds keeps this cache full: at 50,000 entries that held ~135 MB more
# than the 32 MiB render cache of bridge.rendering (bench worker-memory, docs/benchmarks.md).
RENDER_CACHE_ENTRIES = 12_000


@dataclass(frozen=True)
class FeedOptions:
    """How a feed is written.

    `join_url` maps an event UID to its signed join link (None: no links). The render cache
    compares it by equality, so pass the same callable (or an object that compares equal when
    it makes the same links, such as a frozen dataclass with `__call__`) to reuse cached events.
    `window_start`/`window_end` (aware) limit the feed to sessions overlapping the window and
    are the span the VTIMEZONE is checked over (default: the span of the sessions).
    """

    name: str
    timezone: str = "UTC"
    scope: Scope = Scope.FULL
    alarm_minutes: int | None = 10
    expand: bool = False
    refresh_interval: timedelta = timedelta(hours=1)
    uid_domain: str = "calbridge.local"
    description: str | None = None
    join_url: Callable[[str], str] | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None

    def __post_init__(self) -> None:
        load_zone(self.timezone)  # ValueError for an unknown zone
        if not isinstance(self.scope, Scope):
            raise ValueError(f"scope must be a Scope, not {self.scope!r}")
        check_alarm_minutes(self.alarm_minutes)
        if self.refresh_interval <= timedelta(0) or self.refresh_interval.microseconds:
            raise ValueError(
                f"refresh_interval must be a positive whole number of seconds, "
                f"not {self.refresh_interval!r}"
            )
        if not self.uid_domain or any(c.isspace() or c == "@" for c in self.uid_domain):
            raise ValueError(f"uid_domain must be a host name, not {self.uid_domain!r}")
        for what in ("window_start", "window_end"):
            value = getattr(self, what)
            if value is not None:
                aware_utc(value, what)
        if self.window_start and self.window_end and self.window_end < self.window_start:
            raise ValueError("window_end is before window_start")


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """One event UID of the feed and the sessions it shows (a series: all its occurrences)."""

    uid: str
    sessions: tuple[Session, ...]
    is_series: bool


@dataclass(slots=True)
class _Block:
    """One VEVENT, or one series master with its overrides, as it will be written."""

    order: tuple[datetime, str]  # (start, UID): the feed's event order
    planned: PlannedEvent
    source: Session | Series
    uses_zone: bool  # some time is written with the feed zone's TZID (needs the VTIMEZONE)
    rendered: bytes | None = None  # filled in on first render (shared through the cache)


@dataclass(frozen=True, slots=True)
class _Prepared:
    ctx: RenderContext
    blocks: list[_Block]  # sorted by (start, uid)
    window: tuple[datetime, datetime] | None
    cache: RenderCache


class _ContextKey:
    """A RenderContext with its hash computed once; equal when the contexts are equal."""

    __slots__ = ("_hash", "ctx")

    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx
        self._hash = hash(ctx)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, _ContextKey) and self.ctx == other.ctx)


class RenderCache:
    """Rendered events, series plans and VTIMEZONEs kept from one render to the next.

    Its owner decides how long they live: the service's FeedRenderer keeps one per process, a
    caller passing none renders with a fresh, empty one. functools.lru_cache (C, thread-safe,
    true LRU) over (context, session or group of sessions); the context travels inside the key
    as a `_ContextKey`, interned per context value, so a lookup hashes only the sessions and
    compares the context by identity.
    """

    MAX_INTERNED_CONTEXTS = 1024

    def __init__(self, entries: int = RENDER_CACHE_ENTRIES) -> None:
        self._interned: dict[RenderContext, _ContextKey] = {}
        self._intern_lock = threading.Lock()
        self.single_block = functools.lru_cache(maxsize=entries)(_single_block)
        self.group_blocks = functools.lru_cache(maxsize=entries // 4)(
            functools.partial(_group_blocks, self.single_block)
        )
        self.vtimezone_bytes = functools.lru_cache(maxsize=64)(_vtimezone_bytes)

    def context_key(self, ctx: RenderContext) -> _ContextKey:
        with self._intern_lock:
            key = self._interned.get(ctx)
            if key is None:
                if len(self._interned) >= self.MAX_INTERNED_CONTEXTS:
                    self._interned.clear()  # keys stay correct (compared by value), only slower
                key = self._interned[ctx] = _ContextKey(ctx)
            return key

    def clear(self) -> None:
        """Forget every cached event, plan and VTIMEZONE."""
        self.single_block.cache_clear()
        self.group_blocks.cache_clear()
        self.vtimezone_bytes.cache_clear()
        with self._intern_lock:
            self._interned.clear()


def render_feed(
    sessions: Iterable[Session], options: FeedOptions, cache: RenderCache | None = None
) -> bytes:
    """The whole feed as bytes (CRLF lines, folded at 75 octets)."""
    return b"".join(iter_feed(sessions, options, cache))


def iter_feed(
    sessions: Iterable[Session], options: FeedOptions, cache: RenderCache | None = None
) -> Iterator[bytes]:
    """The feed in chunks (header, VTIMEZONE, one chunk per event, footer), for streaming."""
    prepared = _prepare(sessions, options, cache or RenderCache())
    header = _feed_header(options)
    yield from _iter_calendar(header, prepared, options, prepared.blocks)


def render_event(
    sessions: Iterable[Session], options: FeedOptions, uid: str, cache: RenderCache | None = None
) -> bytes | None:
    """A calendar holding just the event `uid` (with its overrides and VTIMEZONE), or None."""
    prepared = _prepare(sessions, options, cache or RenderCache())
    return _event_calendar(prepared, options, [b for b in prepared.blocks if b.planned.uid == uid])


def _event_calendar(
    prepared: _Prepared, options: FeedOptions, blocks: list[_Block]
) -> bytes | None:
    if not blocks:
        return None
    header = calendar_component(
        name=None, description=None, timezone_name=None, refresh_interval=None
    )
    return b"".join(_iter_calendar(header, prepared, options, blocks))


def plan_feed(
    sessions: Iterable[Session], options: FeedOptions, cache: RenderCache | None = None
) -> list[PlannedEvent]:
    """The feed's events in feed order: each UID with the sessions it shows."""
    return [block.planned for block in _prepare(sessions, options, cache or RenderCache()).blocks]


# --- planning --------------------------------------------------------------------------------


def _prepare(sessions: Iterable[Session], options: FeedOptions, cache: RenderCache) -> _Prepared:
    chosen = _select(sessions, options)
    window = _window(chosen, options)
    ctx = _render_context(options, window, cache)
    ctx_key = cache.context_key(ctx)
    if options.expand:
        blocks = [cache.single_block(ctx_key, session) for session in chosen]
    else:
        blocks = [cache.single_block(ctx_key, s) for s in chosen if s.series_key is None]
        for group in _series_groups(chosen):
            blocks.extend(cache.group_blocks(ctx_key, group))
    blocks.sort(key=_block_order)
    return _Prepared(ctx, blocks, window, cache)


def _series_groups(sessions: Iterable[Session]) -> list[tuple[Session, ...]]:
    """The sessions of each series (same source and series key), each in start order."""
    groups: dict[str, list[Session]] = {}
    for session in sessions:
        if session.series_key is not None:
            # StrEnum + str concatenates in C (no enum attribute lookups in this hot loop).
            group_key = session.source_kind + "\x00" + session.series_key
            groups.setdefault(group_key, []).append(session)
    return [tuple(sorted(group, key=_order)) for group in groups.values()]


def _render_context(
    options: FeedOptions, window: tuple[datetime, datetime] | None, cache: RenderCache
) -> RenderContext:
    return RenderContext(
        zone=_effective_zone(options.timezone, window, cache),
        scope=options.scope,
        alarm_minutes=options.alarm_minutes,
        uid_domain=options.uid_domain,
        join_url=options.join_url,
    )


def _select(sessions: Iterable[Session], options: FeedOptions) -> list[Session]:
    """Sessions in the window, whole seconds, one per identity (the latest version wins)."""
    by_key: dict[str, Session] = {}
    start, end = options.window_start, options.window_end
    for session in sessions:
        if (start is not None and session.end <= start) or (
            end is not None and session.start >= end
        ):
            continue
        if session.start.microsecond or session.end.microsecond:
            session = _whole_seconds(session)
        key = session.source_kind + "-" + session.upstream_id  # Session.key, without enum lookups
        known = by_key.get(key)
        if known is None or _preference(session) > _preference(known):
            by_key[key] = session
    return list(by_key.values())


def _whole_seconds(session: Session) -> Session:
    start = session.start.replace(microsecond=0)
    end = max(session.end.replace(microsecond=0), start + timedelta(seconds=1))
    return dataclasses.replace(session, start=start, end=end)


def _preference(session: Session) -> tuple[object, ...]:
    """Total order between two versions of one session: newest first, then any fixed order."""
    return (
        session.sequence,
        session.changed_at or UNKNOWN_CHANGE_TIME,
        session.start,
        session.end,
        repr(session),
    )


def _order(session: Session) -> tuple[datetime, datetime, str]:
    return (session.start, session.end, session.upstream_id)


def _window(chosen: list[Session], options: FeedOptions) -> tuple[datetime, datetime] | None:
    if not chosen:
        return None
    start = options.window_start or min(s.start for s in chosen)
    end = options.window_end or max(s.end for s in chosen)
    return start.astimezone(UTC), end.astimezone(UTC)


def _effective_zone(
    tzid: str, window: tuple[datetime, datetime] | None, cache: RenderCache
) -> tzinfo:
    if tzid in UTC_TZIDS or window is None or cache.vtimezone_bytes(tzid, *window) is None:
        return UTC
    return load_zone(tzid)


# The uncached work of RenderCache's three caches.


def _vtimezone_bytes(tzid: str, start: datetime, end: datetime) -> bytes | None:
    vtimezone = vtimezone_for(tzid, start, end)
    # sorted=False: the order feeds.timezones built, as the reference path writes it too.
    return None if vtimezone is None else vtimezone.to_ical(sorted=False)


def _single_block(ctx_key: _ContextKey, session: Session) -> _Block:
    ctx = ctx_key.ctx
    uid = single_uid(session, ctx)
    planned = PlannedEvent(uid, (session,), False)
    zoned = uses_zone(ctx, session.start, session.end)
    return _Block((session.start, uid), planned, session, zoned)


def _group_blocks(
    single_block: Callable[[_ContextKey, Session], _Block],
    ctx_key: _ContextKey,
    group: tuple[Session, ...],
) -> list[_Block]:
    ctx = ctx_key.ctx
    plan = plan_group(group, ctx.zone, functools.partial(content_key, ctx=ctx))
    blocks = [single_block(ctx_key, s) for s in plan.singles]
    if plan.series is not None:
        first = plan.series.template
        uid = series_uid(first.source_kind, first.series_key or "", ctx)
        planned = PlannedEvent(uid, plan.series.occurrences, True)
        zoned = ctx.zone is not UTC
        blocks.append(_Block((plan.series.start, uid), planned, plan.series, zoned))
    return blocks


def _block_order(block: _Block) -> tuple[datetime, str]:
    return block.order


# --- writing ---------------------------------------------------------------------------------


def _feed_header(options: FeedOptions) -> Component:
    """The calendar's own properties: they depend on the options only, never on the sessions,
    so adding or removing one session never changes them."""
    return calendar_component(
        name=options.name,
        description=options.description,
        timezone_name=x_wr_timezone(options.timezone),
        refresh_interval=options.refresh_interval,
    )


def x_wr_timezone(tzid: str) -> str | None:
    """The feed's X-WR-TIMEZONE: its zone when that is UTC, else none.

    Every time in a feed is absolute (UTC or a TZID with its VTIMEZONE), so a client that
    follows RFC 5545 has no use for X-WR-TIMEZONE. Readers such as the x-wr-timezone package
    (used by recurring-ical-events) rewrite every UTC time into that zone, and then read a time
    in the repeated hour when clocks go back as its first occurrence (an hour early), and a
    zoned feed writes such times, and all times of a zone it cannot write as a VTIMEZONE, in
    UTC. Rewriting UTC times into UTC changes nothing, so only a UTC feed names its zone.
    """
    return tzid if tzid in UTC_TZIDS else None


def _iter_calendar(
    header: Component, prepared: _Prepared, options: FeedOptions, blocks: list[_Block]
) -> Iterator[bytes]:
    head = serialize(header)
    yield head[: -len(b"END:VCALENDAR\r\n")]
    if prepared.window is not None and any(b.uses_zone for b in blocks):
        vtimezone = prepared.cache.vtimezone_bytes(options.timezone, *prepared.window)
        assert vtimezone is not None  # a zoned event implies the zone has a VTIMEZONE
        yield vtimezone
    for block in blocks:
        yield _render_block(block, prepared.ctx)
    yield b"END:VCALENDAR\r\n"


def _render_block(block: _Block, ctx: RenderContext) -> bytes:
    if block.rendered is None:
        block.rendered = b"".join(serialize(c) for c in block_components(block, ctx))
    return block.rendered


def block_components(block: _Block, ctx: RenderContext) -> list[Component]:
    """The VEVENT components of one block (shared with the icalendar reference path)."""
    if isinstance(block.source, Series):
        return series_events(block.planned.uid, block.source, ctx)
    return [single_event(block.source, ctx)]


@dataclass(frozen=True)
class FeedParts:
    """The components of a whole feed before they are written: the calendar's own properties,
    its VTIMEZONE (None when the feed needs none) and its events, in feed order."""

    header: Component
    vtimezone: Timezone | None
    events: list[Component]


def feed_parts(sessions: Iterable[Session], options: FeedOptions) -> FeedParts:
    """What `render_feed` writes, as components (the tests write them through icalendar too
    and require the same bytes)."""
    prepared = _prepare(sessions, options, RenderCache())
    vtimezone = None
    if prepared.window is not None and any(b.uses_zone for b in prepared.blocks):
        vtimezone = vtimezone_for(options.timezone, *prepared.window)
    events = [c for block in prepared.blocks for c in block_components(block, prepared.ctx)]
    return FeedParts(_feed_header(options), vtimezone, events)
