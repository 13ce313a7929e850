"""Fetch → archive → render → cache, with single-flight refreshes and stale-on-error.

Every feed reads from one or more partitions (a source plus the feed's narrowing
filters). A partition is fetched at most once per `cache_ttl` seconds and by one
thread at a time: concurrent requests wait for the refresh in progress and then
reuse its result. A failing upstream leaves the archive as it was, so the feed is
rendered from the last good data and marked stale; a partition that has never been
fetched successfully makes the feed unavailable (503), never empty.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from bridge.feed_views import FeedUnavailable, FeedView, JoinLinks, RenderedFeed
from bridge.metrics import Metrics
from bridge.settings import Settings
from bridge.signing import JoinSigner
from bridge.sources import Partition, build_client, partition_for
from bridge.store import FeedRow, FetchState, Store
from bridge.upstream.errors import UpstreamError
from feeds.fitting import fit_feed
from feeds.ical import FeedOptions, render_feed
from feeds.ical_index import FeedIndex
from feeds.model import Scope, Session

log = logging.getLogger(__name__)

# A cancelled occurrence stays in the feed (as a tombstone or EXDATE) until this long after its end.
TOMBSTONE_GRACE = timedelta(days=1)
# After a failed fetch, the next attempt waits at least this long (or the TTL, if shorter).
FAILURE_BACKOFF = timedelta(seconds=60)
# How far into the past each fetch reaches.
RECENT_PAST = timedelta(days=2)
# How long a fetch state read from the database is trusted before it is read again.
STATE_MAX_AGE = 60.0
# How often the archive is pruned of sessions older than every feed's history.
PRUNE_EVERY = timedelta(hours=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _CachedRender:
    generation: tuple[str | int, ...]  # the view's token generation, then its partitions'
    rendered_at: float
    feed: RenderedFeed
    index: FeedIndex | None = None  # its events by UID, built on the first lookup (event_index)


class Refresher:
    """Keeps partitions fresh and renders feeds from the archive."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] = utcnow,
        client_factory: Callable[..., object] = build_client,
    ) -> None:
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.client_factory = client_factory
        self.signer = JoinSigner(settings.secret_key, settings.secret_key_fallbacks)
        self.uid_domain = urlsplit(settings.public_url).hostname or "calbridge.local"
        self._guard = threading.Lock()
        self._locks: dict[Partition, threading.Lock] = {}
        self._next_fetch: dict[Partition, float] = {}
        self._generation: dict[Partition, int] = {}
        self._next_prune = 0.0
        self._renders: dict[tuple[str, Scope, bool], _CachedRender] = {}
        self._render_locks: dict[tuple[str, Scope, bool], threading.Lock] = {}
        # Read on every request, changed only by a fetch: kept here between this process's
        # fetches (a source's kind never changes; a fetch state is re-read after each fetch).
        self._source_kinds: dict[int, str] = {}
        self._states: dict[Partition, tuple[float, FetchState]] = {}
        # The horizon (days) each partition was last fetched for, and whether that fetch failed.
        self._fetched_horizon: dict[Partition, int] = {}
        self._failed: dict[Partition, bool] = {}

    # -- partitions -------------------------------------------------------------------------

    def partitions(self, feed: FeedRow) -> list[Partition]:
        return [
            partition_for(source_id, self._source_kind(source_id), feed.filters)
            for source_id in feed.source_ids
        ]

    def _source_kind(self, source_id: int) -> str:
        kind = self._source_kinds.get(source_id)
        if kind is None:
            source = self.store.source(source_id)
            if source is None:
                raise LookupError(f"feed source {source_id} does not exist")
            kind = self._source_kinds[source_id] = source.kind
        return kind

    def fetch_state(self, partition: Partition) -> FetchState:
        """The partition's fetch state, re-read after this process's fetches and at least every
        STATE_MAX_AGE (another worker may have fetched it meanwhile)."""
        cached = self._states.get(partition)
        if cached is not None and time.monotonic() - cached[0] < STATE_MAX_AGE:
            return cached[1]
        state = self.store.fetch_state(partition)
        self._states[partition] = (time.monotonic(), state)
        return state

    def refresh(self, partition: Partition, horizon_days: int) -> None:
        """Fetch `partition` unless a fetch within the TTL covered `horizon_days` (or failed
        recently: the backoff holds whatever the horizon); one thread at a time."""
        with self._guard:
            lock = self._locks.setdefault(partition, threading.Lock())
        with lock:
            recent = time.monotonic() < self._next_fetch.get(partition, 0.0)
            covered = self._fetched_horizon.get(partition, -1) >= horizon_days
            if recent and (covered or self._failed.get(partition, False)):
                return
            self._fetch(partition, horizon_days)

    def _widest_horizon(self, partition: Partition, at_least: int) -> int:
        """The longest horizon of the feeds reading `partition`, so feeds sharing a source
        never see each other's narrower fetch."""
        horizons = [
            feed.horizon_days
            for feed in self.store.list_feeds()
            if feed.revoked_at is None
            and partition.source_id in feed.source_ids
            and partition_for(
                partition.source_id, self._source_kind(partition.source_id), feed.filters
            )
            == partition
        ]
        return max([at_least, *horizons])

    def _fetch(self, partition: Partition, horizon_days: int) -> None:
        started = time.monotonic()
        started_at = self.clock()  # a failure opening an outage is dated from here
        name = str(partition.source_id)
        try:
            source = self.store.source(partition.source_id)
            if source is None:
                raise LookupError(f"feed source {partition.source_id} does not exist")
            name = source.name
            horizon_days = self._widest_horizon(partition, horizon_days)
            now = self.clock()
            # Fetch the recent past too, so sessions that just ended are archived as they were
            # (not as vanished) and their join links can say "over" rather than "unknown".
            window = (now - RECENT_PAST, now + timedelta(days=horizon_days))
            client = self.client_factory(
                source.kind,
                source.name,
                source.settings,
                self.store.source_credentials(source),
                partition,
                token_store=self.store,
            )
            try:
                result = client.fetch(*window)
            finally:
                client.close()
            for warning in result.warnings:
                log.warning("%s: %s", source.name, warning)
            merged = self.store.merge_sessions(
                partition,
                result.sessions,
                *window,
                now=now,
                skipped_ids=result.skipped_ids,
                unidentified=result.unidentified,
            )
        except UpstreamError as error:
            log.warning("refresh of %s failed: %s", name, error)
            self._fetch_failed(partition, name, str(error), started_at)
            return
        except Exception as error:
            # A bug or unusable stored settings (say, credentials sealed with a retired key)
            # must not become a 500: the archive still holds the last good data.
            log.exception("refresh of %s failed unexpectedly", name)
            self._fetch_failed(
                partition, name, f"{name}: {type(error).__name__}: {error}", started_at
            )
            return
        self.store.record_fetch(partition, ok=True, error=None, at=now)
        self._states.pop(partition, None)
        self._failed[partition] = False
        self._fetched_horizon[partition] = horizon_days
        if merged.changed_anything:
            self._generation[partition] = self._generation.get(partition, 0) + 1
        self._prune(now)
        next_fetch_in = float(self.settings.cache_ttl)
        if merged.holds_started:  # each hold once, when it starts, however long it lasts
            self.metrics.cancellation_holds.labels(name).inc(merged.holds_started)
            log.warning(
                "%s: upstream stopped listing %d upcoming sessions; their cancellation is "
                "held as a likely upstream glitch until a later read confirms it",
                name,
                merged.holds_started,
            )
        if merged.confirm_at is not None:  # read again soon to confirm or undo the hold
            next_fetch_in = min(next_fetch_in, max(1.0, (merged.confirm_at - now).total_seconds()))
        self._next_fetch[partition] = time.monotonic() + next_fetch_in
        self.metrics.refresh_seconds.labels(name).observe(time.monotonic() - started)

    def _fetch_failed(
        self, partition: Partition, name: str, error: str, started_at: datetime
    ) -> None:
        self.metrics.upstream_errors.labels(name).inc()
        self.store.record_fetch(
            partition, ok=False, error=error, at=self.clock(), started_at=started_at
        )
        self._states.pop(partition, None)
        self._failed[partition] = True
        retry_in = min(self.settings.cache_ttl, FAILURE_BACKOFF.total_seconds())
        self._next_fetch[partition] = time.monotonic() + retry_in

    def _prune(self, now: datetime) -> None:
        """Forget archived sessions no feed can show any more (at most once per PRUNE_EVERY)."""
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + PRUNE_EVERY.total_seconds()
        longest = max((feed.history_days for feed in self.store.list_feeds()), default=0)
        self.store.prune_archive(now - timedelta(days=longest) - RECENT_PAST)

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
        return [
            session
            for session in self.store.archived_sessions(list(partitions), start, end)
            if not (session.cancelled and session.end < now - TOMBSTONE_GRACE)
        ]

    def render(self, view: FeedView, *, expand: bool = False) -> RenderedFeed:
        """The feed's bytes, refreshing stale partitions first (raises FeedUnavailable)."""
        entry, refreshed_at, stale_since = self._current_render(view, expand)
        if stale_since is not None:
            self.metrics.stale_serves.inc()
        return replace(entry.feed, refreshed_at=refreshed_at, stale_since=stale_since)

    def _current_render(
        self, view: FeedView, expand: bool
    ) -> tuple[_CachedRender, datetime, datetime | None]:
        """The render cache entry for the view's current data (rendered now if it is missing
        or out of date), when its data was fetched, and since when it is stale (if it is)."""
        now = self.clock()
        partitions = self.partitions(view.feed)
        for partition in partitions:
            self.refresh(partition, view.feed.horizon_days)
        states = [self.fetch_state(partition) for partition in partitions]
        never = [state for state in states if state.last_success_at is None]
        if never:
            reasons = "; ".join(state.last_error or "not fetched yet" for state in never)
            raise FeedUnavailable(f"This calendar has no data yet: {reasons}", retry_after=60)
        failing = [state for state in states if state.failing]
        stale_since = min(
            (state.failing_since or state.last_error_at for state in failing), default=None
        )
        refreshed_at = min(state.last_success_at for state in states)

        key = (view.owner, view.scope, expand)
        generation = (view.generation, *(self._generation.get(p, 0) for p in partitions))
        entry = self._cached_render(key, generation)
        if entry is None:
            with self._guard:
                lock = self._render_locks.setdefault(key, threading.Lock())
            with lock:  # single-flight: concurrent requests wait for one render and share it
                entry = self._cached_render(key, generation)
                if entry is None:
                    previous = self._renders.get(key)
                    rendered = self._render(view, partitions, expand, now, refreshed_at)
                    rendered = _keep_last_modified_honest(rendered, previous, now)
                    entry = _CachedRender(generation, time.monotonic(), rendered)
                    self._renders[key] = entry
        return entry, refreshed_at, stale_since

    def size_warnings(self, view: FeedView, plain: RenderedFeed | None = None) -> tuple[str, ...]:
        """What keeping the view's feed under Google's size limit took, as served: the notes of
        the plain feed (`plain` if the caller has just rendered it, else `render`, cached when
        current; raises FeedUnavailable) and, when the expanded feed (?recurrence=expand) has
        been rendered, those of its last render that differ, marked as its own. The expanded
        feed is never rendered just for this."""
        notes = (plain or self.render(view)).size_warnings
        expanded = self._renders.get((view.owner, view.scope, True))
        if expanded is None:
            return notes
        own = [n for n in expanded.feed.size_warnings if n not in notes]
        return (*notes, *(f"the expanded feed (?recurrence=expand): {n}" for n in own))

    def _cached_render(
        self, key: tuple[str, Scope, bool], generation: tuple[str | int, ...]
    ) -> _CachedRender | None:
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
        fitted = fit_feed(sessions, options, now=now, render=render_feed)
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
        Refreshes like `render` (raises FeedUnavailable)."""
        entry, _, _ = self._current_render(view, expand=False)
        if entry.index is None:
            with self._guard:
                lock = self._render_locks.setdefault(
                    (view.owner, view.scope, False), threading.Lock()
                )
            with lock:  # single-flight, like the render itself
                if entry.index is None:
                    entry.index = self._build_index(view)
        return entry.index

    def _build_index(self, view: FeedView) -> FeedIndex:
        now = self.clock()
        sessions = self.sessions(view.feed, self.partitions(view.feed), now)
        return FeedIndex(sessions, self.options(view, expand=False, now=now))

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
