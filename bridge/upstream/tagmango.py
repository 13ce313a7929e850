"""TagMango client: every video call in a window, read completely or not at all.

The list endpoint pages, but its docs leave open what `total` counts (calls or date
groups), what `limit`/`page` count, and whether `limit` is capped server-side. The
client therefore reads page 1, then plans further pages from what it has seen
(`plan_next_round`, re-run as each page arrives): the pages `total` implies are fetched
concurrently (`concurrency` in flight), and reading goes on while the last page may be
full, until an empty or short page. Calls are de-duplicated by `_id`; a list that changed
mid-read is read again. Hitting `max_pages` is an error, never a silent truncation, and so is
a list that ends with fewer calls and fewer dates than its own `total` (say `{"total": 1,
"data": []}`): such an answer contradicts itself, so the last good data is kept instead.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bridge.logs import WarnOnce
from bridge.upstream.base import FetchResult, SourceClient
from bridge.upstream.budget import SharedBudget, budget_for
from bridge.upstream.errors import UpstreamProtocolError, UpstreamUnavailable
from bridge.upstream.http import UpstreamHTTP
from feeds.model import Session
from feeds.tagmango import MalformedResponse, ParsedPage, parse_page
from feeds.timezones import load_zone

VIDEO_CALLS_PATH = "/api/v1/external/workshops/video-calls"
log = logging.getLogger(__name__)
# An unknown call status is reported once per process, not at every refresh of every source.
_warn_once = WarnOnce(log)

# Requests per seconds, per API key (docs/upstream-apis.md, *TagMango: errors and rate limit*).
UPSTREAM_RATE_LIMIT = (120, 10.0)
# What calbridge allows itself: 10 % under TagMango's limit, shared by every process using the
# key (bridge.upstream.budget), leaving room for clock skew between hosts and for requests
# still in flight when their window closes.
RATE_LIMIT = (108, 10.0)
MAX_REREADS = 3  # a list that keeps changing while it is read ends in UpstreamUnavailable


@dataclass(frozen=True)
class TagMangoConfig:
    name: str
    token: str = field(repr=False)  # a secret: keep it out of logs and tracebacks
    whitelabel_host: str
    api_base: str = "https://api-prod-new.tagmango.com"
    timezone: str = "Asia/Kolkata"
    mangoes: tuple[str, ...] = ()
    user: str | None = None
    page_size: int = 100
    max_pages: int = 200
    concurrency: int = 4

    def __post_init__(self) -> None:
        if self.page_size < 1 or self.max_pages < 1 or self.concurrency < 1:
            raise ValueError("page_size, max_pages and concurrency must all be at least 1")
        load_zone(self.timezone)  # an unknown zone fails here, not at the first refresh


@dataclass(frozen=True)
class PageCounts:
    """Raw sizes of one page: calls (malformed ones included) and date groups."""

    calls: int
    groups: int


def api_key_budget(token: str) -> SharedBudget:
    """The rate budget every request with this API key spends (named by a hash of the key)."""
    return budget_for("tagmango:" + hashlib.sha256(token.encode()).hexdigest()[:24], *RATE_LIMIT)


def timezone_offset_minutes(zone: str, at: datetime) -> int:
    """`x-timezone-offset`: minutes east of UTC of `zone` at the instant `at` (330 for IST)."""
    offset = at.astimezone(ZoneInfo(zone)).utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


def iso_utc(instant: datetime) -> str:
    """2026-01-01T00:00:00.000Z"""
    utc = instant.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def plan_next_round(
    pages: Sequence[PageCounts],
    total: int | None,
    *,
    calls_seen: int,
    dates_seen: int,
    limit: int,
    max_groups: int,
) -> int:
    """How many further pages to fetch now (together); 0 when everything has been read.

    Four readings of the API stay possible: pages count calls or groups (`unit`), and
    `total` counts calls or groups. A reading drops out when the pages contradict it:
    a unit whose full pages differ in size, or whose page exceeds `limit`; a total
    smaller than what was already seen, or (for groups) larger than the number of dates
    in the window. Page 1 defines the page size in both units (a server cap makes it
    smaller than `limit`, so fewer than `limit` does not mean "last page").

    A short page (fewer than `limit` calls) with `total` equal to the calls read ends the
    read. Then: stop when the last page is empty or short in every remaining unit. Otherwise
    each remaining reading estimates the pages still to come; when every one says none,
    stop; when some do and some don't, probe one page; else fetch the smallest estimate,
    so a wrong reading costs extra rounds, not wasted requests.
    """
    last, first = pages[-1], pages[0]
    if last.calls == 0:
        return 0
    if total == calls_seen and last.calls < limit:
        # A short page whose `total` agrees with the calls read ends the read: only a server
        # cap below `limit`, a `total` counting date groups and a count that happens to equal
        # the calls seen together could hide more. This saves a participant's feed (a few
        # calls) its second, empty page (docs/upstream-apis.md, *TagMango: paging and `total`*).
        return 0
    sizes: dict[str, Callable[[PageCounts], int]] = {
        "calls": lambda p: p.calls,
        "groups": lambda p: p.groups,
    }
    consistent = [
        unit
        for unit, size in sizes.items()
        if size(first) <= limit
        and all(size(p) == size(first) for p in pages[:-1])
        and size(last) <= size(first)
    ]
    if not consistent:
        return 1  # the data changed under us or the server pages oddly: read to an empty page
    full = [unit for unit in consistent if sizes[unit](last) == sizes[unit](first)]
    if not full:
        return 0
    if total is None:
        return 1
    readings = [
        reading
        for reading, seen in (("calls", calls_seen), ("groups", dates_seen))
        if seen <= total and (reading == "calls" or total <= max_groups)
    ]
    if not readings:
        return 1  # `total` fits neither reading: ignore it and read to an empty page
    calls_per_group = calls_seen / max(dates_seen, 1)
    estimates = []
    for unit in full:
        page_size = sizes[unit](first)
        for reading in readings:
            left = total - (calls_seen if reading == "calls" else dates_seen)
            if unit == reading:
                estimates.append(math.ceil(left / page_size) if left > 0 else 0)
            elif unit == "calls":  # pages of calls, total of groups
                # With no group left the last one may still go on over the next page.
                estimates.append(max(1, math.ceil(left * calls_per_group / page_size)))
            else:  # pages of groups, total of calls
                groups_left = math.ceil(left / calls_per_group) if left > 0 else 0
                estimates.append(math.ceil(groups_left / page_size))
    if all(estimate == 0 for estimate in estimates):
        return 0
    if any(estimate == 0 for estimate in estimates):
        return 1
    return min(estimates)


class TagMangoClient(SourceClient):
    """Reads a creator's (or a participant's) TagMango video calls for a window."""

    def __init__(
        self,
        config: TagMangoConfig,
        *,
        http: UpstreamHTTP | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self._now = now or (lambda: datetime.now(UTC))
        self._owns_http = http is None
        if http is None:
            http = UpstreamHTTP(config.name, budget=api_key_budget(config.token))
        self.http = http
        self.url = config.api_base.rstrip("/") + VIDEO_CALLS_PATH
        self.auth_error_message = (
            f"the TagMango API key was rejected (check the key and that it belongs to "
            f"{config.whitelabel_host})"
        )

    def fetch(self, window_start: datetime, window_end: datetime) -> FetchResult:
        """Every call starting in [window_start, window_end), or raise UpstreamError."""
        if window_end <= window_start:
            raise ValueError("the window must end after it starts")
        offset = timezone_offset_minutes(self.config.timezone, self._now())
        headers = {
            "Authorization": f"Bearer {self.config.token}",
            "x-whitelabel-host": self.config.whitelabel_host,
            "x-timezone-offset": str(offset),
            "Accept": "application/json",
        }
        params: dict[str, str] = {
            "startDate": iso_utc(window_start),
            "endDate": iso_utc(window_end),
            "limit": str(self.config.page_size),
        }
        if self.config.mangoes:
            params["mangoes"] = ",".join(self.config.mangoes)
        if self.config.user:
            params["user"] = self.config.user
        local = timedelta(minutes=offset)
        max_groups = ((window_end + local).date() - (window_start + local).date()).days + 1

        def get(page: int) -> ParsedPage:
            body = self.http.get_json(
                self.url,
                headers=headers,
                params={**params, "page": str(page)},
                auth_error_message=self.auth_error_message,
            )
            try:
                parsed = parse_page(body, self.config.name)
            except MalformedResponse as exc:
                raise UpstreamProtocolError(
                    self.config.name, f"page {page} of the video-call list: {exc}"
                ) from exc
            for status in sorted(parsed.unknown_statuses):
                _warn_once(
                    status, "TagMango call status %r is unknown; treating it as confirmed", status
                )
            return parsed

        pages = self._read_all(get, max_groups)
        for _ in range(MAX_REREADS):
            if not _total_moved(pages):
                break
            # The list changed while it was read, so offset paging may have skipped or
            # repeated a call: read it again rather than pass off a partial list.
            log.info("%s: 'total' changed mid-read; reading the list again", self.config.name)
            pages = self._read_all(get, max_groups)
        else:
            if moved := _total_moved(pages):
                raise UpstreamUnavailable(
                    self.config.name,
                    f"{moved}, {MAX_REREADS + 1} times in a row; try again later",
                )
        if missing := _fewer_than_total(pages):
            raise UpstreamProtocolError(
                self.config.name,
                f"the video-call list contradicts itself: {missing}; keeping the last good data",
            )
        result = self._combine(pages, window_start, window_end)
        # The walk ended on an empty or short page, so the list is complete by its paging;
        # a smaller `total` that counts neither calls nor dates only says it counts something
        # else.
        if problem := _count_mismatch(pages):
            return replace(result, warnings=[*result.warnings, f"TagMango: {problem}"])
        return result

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def _read_all(self, get: Callable[[int], ParsedPage], max_groups: int) -> list[ParsedPage]:
        """Page 1, then keep up to `concurrency` pages in flight while the plan wants more.

        The plan is remade from the contiguous pages read so far each time a page
        arrives, so a first estimate that was too high costs at most the pages already
        in flight, and the pipeline never waits for a whole batch to finish.
        """
        done: dict[int, ParsedPage] = {1: get(1)}
        in_flight: dict[Future[ParsedPage], int] = {}
        next_page = 2
        with ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="tagmango") as pool:
            try:
                while True:
                    pages = []  # the contiguous run 1..k: later pages wait for the gap
                    while len(pages) + 1 in done:
                        pages.append(done[len(pages) + 1])
                    wanted = self._plan(pages, max_groups)
                    if wanted == 0:
                        return pages
                    if len(pages) >= self.config.max_pages:
                        raise UpstreamProtocolError(
                            self.config.name,
                            f"stopped at the page cap ({self.config.max_pages} pages of "
                            f"{self.config.page_size}) with more video calls still to read; "
                            "narrow the window or raise max_pages",
                        )
                    target = min(len(pages) + wanted, self.config.max_pages)
                    while len(in_flight) < self.config.concurrency and next_page <= target:
                        in_flight[pool.submit(get, next_page)] = next_page
                        next_page += 1
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in finished:
                        done[in_flight.pop(future)] = future.result()
            finally:
                for future in in_flight:  # do not start pages nobody will use
                    future.cancel()

    def _plan(self, pages: list[ParsedPage], max_groups: int) -> int:
        calls, dates = _read_counts(pages)
        return plan_next_round(
            [PageCounts(p.call_count, p.group_count) for p in pages],
            pages[0].total,
            calls_seen=calls,
            dates_seen=dates,
            limit=self.config.page_size,
            max_groups=max_groups,
        )

    def _combine(
        self, pages: list[ParsedPage], window_start: datetime, window_end: datetime
    ) -> FetchResult:
        by_id: dict[str, Session] = {}
        warnings: list[str] = []
        skipped: set[str] = set()
        for page in pages:
            warnings.extend(page.warnings)
            skipped.update(page.skipped_ids)
            for session in page.sessions:
                by_id[session.upstream_id] = session
        sessions = [s for s in by_id.values() if window_start <= s.start < window_end]
        sessions.sort(key=lambda s: (s.start, s.upstream_id))
        return FetchResult(
            sessions,
            warnings,
            skipped_ids=frozenset(skipped - by_id.keys()),
            unidentified=sum(page.unidentified for page in pages),
        )


def _total_moved(pages: list[ParsedPage]) -> str | None:
    totals = sorted({p.total for p in pages if p.total is not None})
    if len(totals) > 1:
        return f"'total' changed while the list was read ({', '.join(map(str, totals))})"
    return None


def _fewer_than_total(pages: list[ParsedPage]) -> str | None:
    """What is missing when the read ended below `total` in both of its readings (calls and
    dates): the answer contradicts itself, so it cannot be the complete list."""
    total = pages[0].total
    calls, dates = _read_counts(pages)
    if total is None or total <= max(calls, dates):
        return None
    return f"'total' is {total} but the list ended after {calls} calls on {dates} dates"


def _count_mismatch(pages: list[ParsedPage]) -> str | None:
    total = pages[0].total
    calls, dates = _read_counts(pages)
    if total is None or total in (calls, dates):
        return None
    return f"'total' is {total} but {calls} calls on {dates} dates were listed"


def _read_counts(pages: list[ParsedPage]) -> tuple[int, int]:
    """What the read found in both of the ways `total` may count: calls, and distinct dates."""
    return _distinct_calls(pages), len(set().union(*(p.dates for p in pages)))


def _distinct_calls(pages: list[ParsedPage]) -> int:
    """Raw calls read (malformed ones count: `total` does too), minus repeats of an `_id`."""
    ids = [s.upstream_id for p in pages for s in p.sessions]
    return sum(p.call_count for p in pages) - (len(ids) - len(set(ids)))
