"""One event of a feed by UID, without planning the whole feed again (`FeedIndex`).

A join click or a single-event download names one UID; planning the feed to find it costs as
much as rendering the feed, on every request. A `FeedIndex` is built once for a set of sessions
and options (the caller keeps it as long as the rendered feed it belongs to) and then answers
for any UID, known or not, in constant time. It uses the planning and writing of `feeds.ical`,
so what it finds and writes is what the feed says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from feeds.ical import (
    FeedOptions,
    PlannedEvent,
    RenderCache,
    _event_calendar,
    _Prepared,
    _render_context,
    _select,
    _series_groups,
    _window,
)
from feeds.ical_events import single_uid
from feeds.model import Session

__all__ = ["FeedIndex"]


@dataclass(frozen=True, slots=True)
class _IndexedSeries:
    planned: PlannedEvent
    group: tuple[Session, ...]  # the sessions planned together with it (the series' input)


class FeedIndex:
    """The events of one feed by UID, to answer for one event without planning the feed again.

    It knows every UID the feed has with `options`, and also the UID each occurrence of a
    series has in the expanded feed (`expand`, where each occurrence is its own event); a UID
    in both names the feed's own event. Building it costs about one plan of the feed (mostly
    served by the render cache when the caller passes the one the feed was rendered with); a
    lookup is one dict access, and writing an event plans at most the sessions of its series.
    `render_event(uid)` gives the same bytes as the module's `render_event` over all of the
    feed's sessions, with `options` or the expanded options, whichever has the UID.
    """

    __slots__ = ("_cache", "_ctx_key", "_events", "_options", "_window")

    def __init__(
        self, sessions: Iterable[Session], options: FeedOptions, cache: RenderCache | None = None
    ) -> None:
        chosen = _select(sessions, options)
        self._cache = cache = cache or RenderCache()
        self._options = options
        self._window = _window(chosen, options)
        ctx = _render_context(options, self._window, cache)
        self._ctx_key = cache.context_key(ctx)
        # Every session as a single event, or as an occurrence of the expanded feed.
        events: dict[str, Session | _IndexedSeries] = {
            single_uid(session, ctx): session for session in chosen
        }
        for members in _series_groups(chosen):
            for block in cache.group_blocks(self._ctx_key, members):
                if block.planned.is_series:
                    events[block.planned.uid] = _IndexedSeries(block.planned, members)
        self._events = events

    def __len__(self) -> int:
        return len(self._events)

    def __contains__(self, uid: object) -> bool:
        return uid in self._events

    def occurrences(self, uid: str) -> tuple[Session, ...]:
        """The sessions behind event `uid` (a series: all its occurrences); () if unknown."""
        found = self._events.get(uid)
        if found is None:
            return ()
        return found.planned.sessions if isinstance(found, _IndexedSeries) else (found,)

    def render_event(self, uid: str) -> bytes | None:
        """A calendar holding just the event `uid` (with its overrides and VTIMEZONE), or None."""
        found = self._events.get(uid)
        if found is None:
            return None
        if isinstance(found, _IndexedSeries):
            group = self._cache.group_blocks(self._ctx_key, found.group)
            blocks = [b for b in group if b.planned.uid == uid]
        else:
            blocks = [self._cache.single_block(self._ctx_key, found)]
        prepared = _Prepared(self._ctx_key.ctx, blocks, self._window, self._cache)
        return _event_calendar(prepared, self._options, blocks)
