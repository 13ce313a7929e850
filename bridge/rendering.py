"""Feeds rendered from the archive, for the web and the CLI: never waiting on upstream.

A request reads the fetch states of the feed's partitions (kept up to STATE_MAX_AGE in a
small per-process cache) and renders what the archive holds. Data older than the TTL is
served as it is while a refresh is queued (stale-while-revalidate); a partition that never
had a good fetch waits at most FIRST_FETCH_WAIT for its first one, then the feed answers 503
with Retry-After. While an upstream fails the feed says since when (`stale_since`).

Rendered bodies are cached per (owner, scope, expand) and keyed on the partitions' data
versions, in an LRU bounded in bytes (RENDER_CACHE_BYTES), so a web process's memory does
not grow with the number of distinct feeds it serves.

One module over 400 lines: the states, the render cache and what is derived from a render
(the event index, the CalDAV objects) share one cache entry and its locks.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cachetools import LRUCache, TTLCache

from bridge.feed_views import FeedUnavailable, FeedView, RenderedFeed
from bridge.jobs.requests import Priority, RefreshRequests
from bridge.jobs.schedule import TOMBSTONE_GRACE, wants_refresh
from bridge.links import JoinLinks
from bridge.metrics import Metrics
from bridge.partitions import Partition, feed_partitions, holder_sees, split_held
from bridge.settings import Settings
from bridge.signing import JoinSigner
from bridge.store import FeedRow, FetchState, Store
from bridge.store.schedule_queries import QUEUED_MAX_AGE
from feeds.calendar_objects import CalendarListing, calendar_objects
from feeds.fitting import fit_feed
from feeds.ical import FeedOptions, RenderCache, render_feed
from feeds.ical_index import FeedIndex
from feeds.model import Scope, Session

log = logging.getLogger(__name__)

# How long a fetch state read from the database is trusted before it is read again: how soon
# a web process sees what a worker (in any process) merged.
STATE_MAX_AGE = 1.0
STATE_CACHE_SIZE = 4096
# The longest a request waits for a partition's first fetch before answering 503.
FIRST_FETCH_WAIT = 5.0
FIRST_FETCH_POLL = 0.1
# Retry-After of a feed with no data yet, and of one whose first fetches failed.
RETRY_AFTER_NO_DATA = 10
RETRY_AFTER_FAILING = 60
# A subscriber's read is written to the partition's fetch state at most this often.
POLL_NOTE_EVERY = timedelta(minutes=10)
# The bytes of rendered feeds a process keeps (an entry counts its body twice, as the body and
# its event index, built on the first join click, are of about the same size, plus the bytes
# of its CalDAV objects once a CalDAV client asked for them).
RENDER_CACHE_BYTES = 32 * 1024 * 1024
RENDER_LOCK_STRIPES = 64

RenderKey = tuple[str, Scope, bool]


@dataclass
class _CachedRender:
    generation: tuple[str | int, ...]  # the view's token generation, then its data versions
    rendered_at: float
    feed: RenderedFeed
    index: FeedIndex | None = None  # its events by UID, built on the first lookup (event_index)
    listing: CalendarListing | None = None  # its CalDAV objects, built on the first request

    def weight(self) -> int:
        """Its bytes, as the render cache counts them (the index about equals the body)."""
        objects = self.listing.objects.values() if self.listing else ()
        return 2 * len(self.feed.body) + sum(len(o.data) for o in objects)


class FeedRenderer:
    """Renders feeds from the archive and asks for refreshes of stale partitions."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        metrics: Metrics,
        refreshes: RefreshRequests,
        signer: JoinSigner,
        *,
        clock: Callable[[], datetime],
        uid_domain: str,
    ) -> None:
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.refreshes = refreshes
        self.signer = signer
        self.clock = clock
        self.uid_domain = uid_domain  # stored at the first start (bridge.services.uid_domain)
        self._guard = threading.Lock()
        self._render_locks = [threading.Lock() for _ in range(RENDER_LOCK_STRIPES)]
        self._renders: LRUCache[RenderKey, _CachedRender] = LRUCache(
            RENDER_CACHE_BYTES, getsizeof=_CachedRender.weight
        )
        self._states: TTLCache[Partition, FetchState] = TTLCache(
            STATE_CACHE_SIZE, STATE_MAX_AGE, timer=time.monotonic
        )
        # The per-event render cache of feeds.ical, for every feed this process renders.
        self.render_cache = RenderCache()
        self._source_kinds: dict[int, str] = {}  # a source's kind never changes

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.cache_ttl)

    # -- partitions and their states ---------------------------------------------------------

    def partitions(self, feed: FeedRow) -> list[Partition]:
        return [
            partition
            for source_id in feed.source_ids
            for partition in feed_partitions(source_id, self._source_kind(source_id), feed.filters)
        ]

    def _source_kind(self, source_id: int) -> str:
        kind = self._source_kinds.get(source_id)
        if kind is None:
            source = self.store.source(source_id)
            if source is None:
                raise LookupError(f"feed source {source_id} does not exist")
            kind = self._source_kinds[source_id] = source.kind
        return kind

    def fetch_states(
        self, partitions: Sequence[Partition], *, fresh: bool = False
    ) -> list[FetchState]:
        """The partitions' fetch states, from the cache unless `fresh` or older than
        STATE_MAX_AGE."""
        with self._guard:
            cached = {} if fresh else {p: self._states.get(p) for p in partitions}
        missing = [p for p in partitions if cached.get(p) is None]
        if missing:
            for partition, state in zip(missing, self.store.fetch_states(missing), strict=True):
                cached[partition] = state
            with self._guard:
                for partition in missing:
                    self._states[partition] = cached[partition]
        return [cached[p] for p in partitions]  # type: ignore[misc]

    def _remember(self, states: Iterable[tuple[Partition, FetchState]]) -> None:
        with self._guard:
            for partition, state in states:
                self._states[partition] = state

    def _forget_states(self, partitions: Iterable[Partition]) -> None:
        with self._guard:
            for partition in partitions:
                self._states.pop(partition, None)

    def prepare(self, feed: FeedRow, *, priority: int = Priority.READER) -> None:
        """Schedule the feed's partitions for its horizon and queue the fetches they need
        (`feed create` calls this so the first subscriber normally finds data)."""
        now = self.clock()
        partitions = self.partitions(feed)
        before = self.store.fetch_states(partitions)
        for partition, known in zip(partitions, before, strict=True):
            state = self.store.register_partition(partition, feed.horizon_days, now)
            widened = known.registered and known.horizon_days < state.horizon_days
            if state.last_success_at is None or widened:
                # A wider horizon is read at once, whatever the TTL.
                self.refreshes.request(partition, priority=priority, force=widened)
        self._forget_states(partitions)

    def _current_states(self, feed: FeedRow, partitions: list[Partition]) -> list[FetchState]:
        """The states to serve the feed from, after queueing what is due (see the module
        docstring); raises FeedUnavailable when some partition has no good data."""
        now = self.clock()
        states = self.fetch_states(partitions)
        unready = [
            p
            for p, state in zip(partitions, states, strict=True)
            if not state.registered or state.horizon_days < feed.horizon_days
        ]
        if unready:
            self.prepare(feed)
            states = self.fetch_states(partitions, fresh=True)
        queued = [
            partition
            for partition, state in zip(partitions, states, strict=True)
            if wants_refresh(state, now, self.ttl)
            and (state.queued_at is None or now - state.queued_at >= QUEUED_MAX_AGE)
            and self.refreshes.request(partition)
        ]
        if queued:  # a job may have run already (an immediate queue, an idle worker)
            states = self.fetch_states(partitions, fresh=True)
        polled = [
            p
            for p, state in zip(partitions, states, strict=True)
            if state.last_polled_at is None or now - state.last_polled_at >= POLL_NOTE_EVERY
        ]
        if polled:
            self.store.note_polls(polled, now)
            states = [
                replace(state, last_polled_at=now) if p in polled else state
                for p, state in zip(partitions, states, strict=True)
            ]
            self._remember(zip(partitions, states, strict=True))
        if any(state.last_success_at is None for state in states):
            states = self._wait_for_first_fetch(partitions, states)
        return states

    def _wait_for_first_fetch(
        self, partitions: list[Partition], states: list[FetchState]
    ) -> list[FetchState]:
        """Wait (at most FIRST_FETCH_WAIT) while partitions that were never fetched, and never
        failed yet, get their first fetch; raise FeedUnavailable if some have no data then."""
        deadline = time.monotonic() + FIRST_FETCH_WAIT
        while any(s.last_success_at is None and s.last_error_at is None for s in states):
            if time.monotonic() >= deadline:
                break
            time.sleep(FIRST_FETCH_POLL)
            states = self.fetch_states(partitions, fresh=True)
        never = [state for state in states if state.last_success_at is None]
        if not never:
            return states
        reasons = "; ".join(state.last_error or "not fetched yet" for state in never)
        failed = all(state.last_error is not None for state in never)
        raise FeedUnavailable(
            f"This calendar has no data yet: {reasons}",
            retry_after=RETRY_AFTER_FAILING if failed else RETRY_AFTER_NO_DATA,
        )

    # -- rendering --------------------------------------------------------------------------

    def options(self, view: FeedView, *, expand: bool, now: datetime) -> FeedOptions:
        feed = view.feed
        join_url = None
        if view.scope is Scope.FULL:
            join_url = JoinLinks(self.signer, self.settings.public_url, view.owner, view.generation)
        return FeedOptions(
            name=feed.name,
            timezone=feed.timezone,
            scope=view.scope,
            alarm_minutes=feed.alarm_minutes,
            expand=expand,
            uid_domain=self.uid_domain,
            join_url=join_url,
            window_start=now - timedelta(days=feed.history_days),
            window_end=now + timedelta(days=feed.horizon_days),
        )

    def sessions(
        self, feed: FeedRow, partitions: Iterable[Partition], now: datetime
    ) -> list[Session]:
        start = now - timedelta(days=feed.history_days)
        end = now + timedelta(days=feed.horizon_days)
        own, held = split_held(feed.filters, list(partitions))
        found = self.store.archived_sessions(own, start, end)
        if held:  # a participant's feed (bridge/partitions.py)
            own_ids = {session.upstream_id for session in found}
            shared = self.store.archived_sessions(held, start, end)
            found += [session for session in shared if holder_sees(session, own_ids)]
            found.sort(key=lambda session: (session.start, session.upstream_id))
        return [
            session
            for session in found
            if not (session.cancelled and session.end < now - TOMBSTONE_GRACE)
        ]

    def render(self, view: FeedView, *, expand: bool = False) -> RenderedFeed:
        """The feed's bytes from the archive (raises FeedUnavailable when it has no data)."""
        entry, refreshed_at, stale_since = self._current_render(view, expand)
        if stale_since is not None:
            self.metrics.stale_serves.inc()
        return replace(entry.feed, refreshed_at=refreshed_at, stale_since=stale_since)

    def _lock_for(self, key: RenderKey) -> threading.Lock:
        return self._render_locks[hash(key) % RENDER_LOCK_STRIPES]

    def _current_render(
        self, view: FeedView, expand: bool
    ) -> tuple[_CachedRender, datetime, datetime | None]:
        """The render cache entry for the view's current data (rendered now if it is missing
        or out of date), when its data was fetched, and since when it is stale (if it is)."""
        now = self.clock()
        partitions = self.partitions(view.feed)
        states = self._current_states(view.feed, partitions)
        failing = [state for state in states if state.failing]
        stale_since = min(
            (state.failing_since or state.last_error_at for state in failing), default=None
        )
        refreshed_at = min(state.last_success_at for state in states)  # type: ignore[type-var]

        key = (view.owner, view.scope, expand)
        generation = (view.generation, *(state.data_version for state in states))
        entry = self._cached_render(key, generation)
        if entry is None:
            with self._lock_for(key):  # single-flight: concurrent requests share one render
                entry = self._cached_render(key, generation)
                if entry is None:
                    with self._guard:
                        previous = self._renders.get(key)
                    rendered = self._render(view, partitions, expand, now, refreshed_at)
                    rendered = _keep_last_modified_honest(rendered, previous, now)
                    entry = _CachedRender(generation, time.monotonic(), rendered)
                    with self._guard:
                        self._renders[key] = entry
        return entry, refreshed_at, stale_since

    def size_warnings(self, view: FeedView, plain: RenderedFeed | None = None) -> tuple[str, ...]:
        """What keeping the view's feed under Google's size limit took, as served: the notes of
        the plain feed (`plain` if the caller has just rendered it, else `render`, cached when
        current; raises FeedUnavailable) and, when the expanded feed (?recurrence=expand) has
        been rendered, those of its last render that differ, marked as its own. The expanded
        feed is never rendered just for this."""
        notes = (plain or self.render(view)).size_warnings
        with self._guard:
            expanded = self._renders.get((view.owner, view.scope, True))
        if expanded is None:
            return notes
        own = [n for n in expanded.feed.size_warnings if n not in notes]
        return (*notes, *(f"the expanded feed (?recurrence=expand): {n}" for n in own))

    def _cached_render(
        self, key: RenderKey, generation: tuple[str | int, ...]
    ) -> _CachedRender | None:
        with self._guard:
            cached = self._renders.get(key)
        if (
            cached is not None
            and cached.generation == generation
            and time.monotonic() - cached.rendered_at < self.settings.cache_ttl
        ):
            return cached
        return None

    def _render(
        self,
        view: FeedView,
        partitions: list[Partition],
        expand: bool,
        now: datetime,
        refreshed_at: datetime,
    ) -> RenderedFeed:
        sessions = self.sessions(view.feed, partitions, now)
        options = self.options(view, expand=expand, now=now)
        render = functools.partial(render_feed, cache=self.render_cache)
        fitted = fit_feed(sessions, options, now=now, render=render)
        body = fitted.body
        if fitted.notes:
            log.warning("feed %s (%s): %s", view.feed.id, view.owner, "; ".join(fitted.notes))
        last_modified = max(
            (s.changed_at for s in sessions if s.changed_at), default=view.feed.created_at
        )
        return RenderedFeed(
            body=body,
            etag=hashlib.sha256(body).hexdigest()[:32],
            last_modified=last_modified,
            refreshed_at=refreshed_at,
            stale_since=None,
            size_warnings=fitted.notes,
        )

    def event_index(self, view: FeedView) -> FeedIndex:
        """The view's events by UID, for a join click or an event download: built once per
        rendered feed and kept in its cache entry, so a lookup never plans the whole feed.
        Raises FeedUnavailable like `render`."""
        entry, _, _ = self._current_render(view, expand=False)
        if entry.index is None:
            with self._lock_for((view.owner, view.scope, False)):  # single-flight
                if entry.index is None:
                    entry.index = self._build_index(view)
        return entry.index

    def calendar_objects(self, view: FeedView) -> CalendarListing:
        """The view's plain feed as CalDAV objects, one per UID: built once per rendered feed
        and kept in its cache entry (which then weighs their bytes too). Raises
        FeedUnavailable like `render`."""
        key = (view.owner, view.scope, False)
        entry, _, _ = self._current_render(view, expand=False)
        if entry.listing is None:
            with self._lock_for(key):  # single-flight
                if entry.listing is None:
                    now = self.clock()
                    sessions = self.sessions(view.feed, self.partitions(view.feed), now)
                    options = self.options(view, expand=False, now=now)
                    objects = calendar_objects(sessions, options, self.render_cache)
                    entry.listing = CalendarListing.of(objects)
                    with self._guard:
                        if self._renders.get(key) is entry:
                            self._renders[key] = entry  # weighed again, with its objects
        return entry.listing

    def _build_index(self, view: FeedView) -> FeedIndex:
        now = self.clock()
        sessions = self.sessions(view.feed, self.partitions(view.feed), now)
        return FeedIndex(sessions, self.options(view, expand=False, now=now), self.render_cache)

    def render_event(self, view: FeedView, uid: str) -> bytes | None:
        """One event (or series) of the feed as its own calendar, for download. A UID of the
        expanded feed (one occurrence of a series) is found too."""
        return self.event_index(view).render_event(uid)

    def occurrences_for(self, view: FeedView, uid: str) -> list[Session]:
        """The archived occurrences behind one event UID (a single session or a series)."""
        return list(self.event_index(view).occurrences(uid))


def _keep_last_modified_honest(
    rendered: RenderedFeed, previous: _CachedRender | None, now: datetime
) -> RenderedFeed:
    """Last-Modified is the newest change among the feed's sessions, but the body also changes
    when a session slides out of the history window or a tombstone expires. Such a new body
    must not carry an older (or equal) Last-Modified than the body it replaces, or clients
    revalidating with If-Modified-Since only would be told 304."""
    if previous is None:
        return rendered
    before = previous.feed
    if before.etag == rendered.etag:
        return replace(rendered, last_modified=before.last_modified)
    if rendered.last_modified <= before.last_modified:
        return replace(rendered, last_modified=max(now, before.last_modified))
    return rendered
