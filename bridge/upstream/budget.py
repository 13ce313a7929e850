"""Client-side rate budgets shared by every calbridge process (web and worker, on any host).

An upstream's limit holds per API key, not per process: four workers each keeping 120
requests / 10 s to themselves sent 305 in 10 s. So every grant is recorded where all
processes see it, through pyrate-limiter's buckets (a sliding-window log: at most `limit`
grants in any window of `period` seconds). The backend follows the settings
(`configure_budgets`):

* `CALBRIDGE_QUEUE_URL` is `redis://` or `rediss://`: a `RedisBucket` on that Redis (one
  sorted set per budget; the check-and-record is one Lua script, so it is atomic across hosts);
* else `CALBRIDGE_DATABASE_URL` is PostgreSQL: a `PostgresBucket` in that database (one table
  per budget, created under an advisory lock so processes starting together do not race,
  checked and written under a table lock);
* else a `SQLiteBucket` in `<instance path>/budgets.db`, with pyrate-limiter's file lock
  (`budgets.db.lock`) around every check-and-record, so all processes of one box share it;
* not configured (tests, scripts): an `InMemoryBucket` per process, as before.

pyrate-limiter's `Limiter` sleeps with `time.sleep` and leaks buckets from a background
thread; calbridge drives the buckets itself instead (`put`, `waiting`, `leak`), so that the
sleep stays injectable, the clock is read under the bucket's lock, old grants are leaked
inline (no thread to lose across a fork) and a failing backend can be stepped around.

Safety measures:

* the window is `period` plus `CLOCK_GUARD_MS`: a grant is stamped a few milliseconds before
  its request leaves, and two hosts' clocks differ a little (Redis and SQLite buckets stamp
  with the local wall clock, PostgreSQL with the database's);
* if the shared backend fails (Redis down, database error), a warning is logged and the
  in-process budget is used instead, for `OUTAGE_RETRY_SECONDS`, rather than failing a fetch;
* a forked child (gunicorn, worker pools) drops the parent's connections and opens its own;
* budget keys end up in Redis keys and table names, so they must not hold secrets: callers
  pass a digest of the API key or refresh token.

`add_budget_listener` lets the app observe every grant (e.g. for Prometheus). The backends
themselves are in `bridge.upstream.budget_backends`.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from pyrate_limiter import AbstractBucket, Duration, Rate, RateItem

from bridge.upstream.budget_backends import Backend, backend_for

if TYPE_CHECKING:
    from bridge.settings import Settings

log = logging.getLogger(__name__)

Sleep = Callable[[float], None]
BudgetListener = Callable[[str, float], None]

# Added to every window: covers the milliseconds between stamping a grant and the request
# leaving, and small clock differences between hosts (the budgets' own margins cover more).
CLOCK_GUARD_MS = 50
# After the shared backend fails, budgets stay in-process this long before trying it again,
# so an unreachable Redis costs one connect timeout per outage, not one per request.
OUTAGE_RETRY_SECONDS = 30.0
# A PostgreSQL bucket refuses (rather than waits) while another process holds its table lock;
# the next try comes after a short random pause.
_CONTENTION_PAUSE = (0.005, 0.03)


@dataclass
class _Entry:
    """One budget's bucket in one backend; `lock` orders this process's threads."""

    bucket: AbstractBucket
    lock: threading.Lock = field(default_factory=threading.Lock)
    leaked_at: int = 0


class _Store:
    """The buckets one backend holds for this process, and whether the backend is failing."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._down_until = 0.0

    @property
    def usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def try_take(self, key: str, rate: Rate) -> float:
        """Record one grant now and return 0.0, or return the seconds until one may fit."""
        entry = self._entry(key, rate)
        bucket = entry.bucket
        # Reading the clock and recording happen under one lock (SQLite: the file lock too), so
        # grants are stamped in the order they are recorded.
        with entry.lock, _cross_process_lock(bucket):
            now = bucket.now()
            item = RateItem(key, now)
            if bucket.put(item):
                if now - entry.leaked_at >= rate.interval:  # drop grants out of every window
                    bucket.leak(now)
                    entry.leaked_at = now
                return 0.0
            wait_ms = bucket.waiting(item)
        if isinstance(wait_ms, int) and wait_ms > 0:
            return wait_ms / 1000
        return random.uniform(*_CONTENTION_PAUSE)  # busy, not full: try again shortly

    def failed(self, key: str, exc: Exception) -> None:
        """Note a backend failure: drop the bucket (reopened later) and pause the backend."""
        with self._lock:
            entry = self._entries.pop(key, None)
            first = self.usable
            self._down_until = time.monotonic() + OUTAGE_RETRY_SECONDS
        if entry is not None:
            _quietly(self.backend.close_bucket, entry.bucket)
        if first:
            log.warning(
                "rate budgets: %s failed (%s: %s); using in-process budgets for the next "
                "%.0f s, so processes may together exceed an upstream's limit meanwhile",
                self.backend.description,
                type(exc).__name__,
                exc,
                OUTAGE_RETRY_SECONDS,
            )

    def forget(self, key: str) -> None:
        """Drop this process's bucket for `key` (its in-memory history goes with it)."""
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is not None:
            _quietly(self.backend.close_bucket, entry.bucket)

    def close(self) -> None:
        with self._lock:
            entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            _quietly(self.backend.close_bucket, entry.bucket)
        _quietly(self.backend.close)

    def _entry(self, key: str, rate: Rate) -> _Entry:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(self.backend.open_bucket(key, rate))
            return entry


class SharedBudget:
    """At most `limit` grants in any sliding window of `period` seconds, for every process.

    Get one through `budget_for`; it records grants in the backend `configure_budgets`
    chose, and in this process's memory while that backend is unreachable.
    """

    def __init__(self, key: str, limit: int, period: float) -> None:
        if limit < 1 or period <= 0:
            raise ValueError(f"a rate budget needs limit >= 1 and period > 0, not {limit}/{period}")
        self.key = key
        self.limit = limit
        self.period = period
        self._rate = Rate(limit, Duration.SECOND * period + CLOCK_GUARD_MS)

    def __repr__(self) -> str:
        return f"SharedBudget({self.key!r}, {self.limit}, {self.period})"

    def try_acquire(self) -> float:
        """Take one slot now and return 0.0, or return how many seconds until one may free up."""
        wait = self._try()
        if wait == 0.0:
            _notify(self.key, 0.0)
        return wait

    def acquire(self, sleep: Sleep = time.sleep) -> float:
        """Block (through `sleep`) until a slot is taken; return the seconds waited."""
        waited = 0.0
        while (wait := self._try()) > 0:
            sleep(wait)
            waited += wait
        _notify(self.key, waited)
        return waited

    def reset_local(self) -> None:
        """Forget this process's in-memory grants, as a restart would (shared ones stay)."""
        _local_store().forget(self.key)

    def _try(self) -> float:
        store = _active_store()
        if store.backend.shared and store.usable:
            try:
                return store.try_take(self.key, self._rate)
            except Exception as exc:  # any backend error: keep fetching on a local budget
                store.failed(self.key, exc)
        return _local_store().try_take(self.key, self._rate)


_state_lock = threading.Lock()
_settings: Settings | None = None
_active: _Store = _Store(Backend())
_local: _Store = _active
_budgets: dict[str, SharedBudget] = {}
_listeners: list[BudgetListener] = []
_inherited: list[_Store] = []  # a parent's connections, kept unclosed (see _after_fork)


def configure_budgets(settings: Settings | None) -> None:
    """Record this process's grants in the backend `settings` select (None: in memory).

    Call it once per process (app factory, worker start); calling it again switches
    backends, closing the old one. Connections open lazily, at the first grant.
    """
    global _settings, _active
    with _state_lock:
        old, _settings = _active, settings
        _active = _Store(backend_for(settings)) if settings is not None else _local
    if old is not _local and old is not _active:
        old.close()
    log.info("rate budgets: recorded in %s", _active.backend.description)


def budget_for(key: str, limit: int, period: float) -> SharedBudget:
    """The one budget shared by every client of `key` (e.g. a hash of an API key).

    `key` names the budget in Redis or the database, so it must not contain a secret.
    Asking again for the same key with a different limit or period is a programming
    error: two clients would each believe they own the whole budget.
    """
    if not key:
        raise ValueError("a rate budget needs a non-empty key")
    with _state_lock:
        budget = _budgets.get(key)
        if budget is None:
            budget = _budgets[key] = SharedBudget(key, limit, period)
        elif (budget.limit, budget.period) != (limit, period):
            raise ValueError(
                f"rate budget {key!r} already exists as {budget.limit}/{budget.period}s, "
                f"not {limit}/{period}s"
            )
        return budget


def add_budget_listener(callback: BudgetListener) -> None:
    """Call `callback(budget key, seconds waited)` after every grant, in the granting thread.

    A listener that raises is logged and ignored; keep listeners fast (a counter update).
    """
    with _state_lock:
        _listeners.append(callback)


def remove_budget_listener(callback: BudgetListener) -> None:
    """Stop calling a listener added with `add_budget_listener` (no error if it is absent)."""
    with _state_lock:
        if callback in _listeners:
            _listeners.remove(callback)


def budget_backend() -> str:
    """Where this process records grants now, for logs and status pages (no passwords)."""
    return _active.backend.description


def _active_store() -> _Store:
    return _active


def _local_store() -> _Store:
    return _local


def _notify(key: str, waited: float) -> None:
    for listener in tuple(_listeners):
        try:
            listener(key, waited)
        except Exception:
            log.exception("rate budgets: listener %r failed", listener)


def _after_fork() -> None:
    """In a forked child: new locks, and new connections opened on demand.

    The parent's stores are kept referenced, never closed: closing a connection the parent
    still uses (a PostgreSQL goodbye, a SQLite file lock) would break it for the parent.
    """
    global _state_lock, _active, _local
    _state_lock = threading.Lock()
    _inherited.extend({id(s): s for s in (_active, _local)}.values())
    _local = _Store(Backend())
    _active = _Store(backend_for(_settings)) if _settings is not None else _local


os.register_at_fork(after_in_child=_after_fork)


def _cross_process_lock(bucket: AbstractBucket) -> AbstractContextManager[object]:
    """The lock a bucket needs around check-and-record (SQLite's file lock), or a no-op."""
    lock = bucket.limiter_lock()
    return cast(AbstractContextManager[object], lock) if lock is not None else nullcontext()


def _quietly(action: Callable[..., object], *args: object) -> None:
    try:
        action(*args)
    except Exception as exc:
        log.debug("rate budgets: ignoring %s while closing: %s", type(exc).__name__, exc)
