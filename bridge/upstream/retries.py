"""When an upstream request is retried: backoff, `Retry-After`, and the time bounds.

A request answered 429 is retried until `Backoff.retry_for` seconds (20) have been spent
waiting between attempts. That outlasts an upstream's rate window (TagMango's is 10 s), so a
429 storm passes instead of every worker giving up inside it and failing again on restart.
Other transient failures (5xx, a timeout, a connection error) are retried for
`Backoff.retry_errors_for` seconds (5) of waiting: an outage is recorded (and feeds marked
stale) within seconds, and the scheduler reads again after its backoff. No retry starts more than
`Backoff.give_up_after` seconds (60) after the first attempt, so each fetch stays bounded.
`RetryPlan` applies this to one request through tenacity's `stop` and `wait` hooks; the
waits it asks for go through the caller's `sleep`, so tests check them without waiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import tenacity


class Transient(Exception):
    """A failure worth retrying; carries what the final error should report."""

    def __init__(self, description: str, status: int | None, retry_after: float | None = None):
        super().__init__(description)
        self.description = description
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Backoff:
    """When to retry: exponential backoff with full jitter, bounded by time.

    The n-th retry waits `Retry-After` if the answer sent one, else a uniform random time in
    [0, min(cap, base * 2**(n-1))]. Retrying goes on until `retry_for` seconds have been spent
    waiting (longer than an upstream's rate window, so a 429 storm can pass) and stops before
    a retry that would start more than `give_up_after` seconds after the first attempt (a
    backoff wait is shortened to fit; a `Retry-After` that does not fit gives up). A
    `Retry-After` longer than `max_retry_after` gives up at once.
    """

    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 60.0
    retry_for: float = 20.0
    retry_errors_for: float = 5.0
    give_up_after: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.retry_for <= self.give_up_after:
            raise ValueError(
                f"Backoff needs 0 <= retry_for <= give_up_after, not {self.retry_for} and "
                f"{self.give_up_after}"
            )

    def delay(self, retry_number: int) -> float:
        ceiling = min(self.cap, self.base * 2 ** min(retry_number - 1, 62))
        return self.rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait per `Retry-After` (delta-seconds or HTTP date); None if absent or bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


class RetryPlan:
    """One request's retries: attempts made, time spent, and the next wait (see `Backoff`).

    Time spent is the waits asked of `sleep` plus the attempts' own duration, so tests that
    pass a fake sleep see the same decisions as production, without waiting.
    """

    def __init__(self, backoff: Backoff, max_attempts: int | None) -> None:
        self.backoff = backoff
        self.max_attempts = max_attempts
        self.attempts = 0
        self.waited = 0.0
        self.busy = 0.0
        self._planned_for = 0
        self._next = (0.0, True)

    @property
    def elapsed(self) -> float:
        return self.waited + self.busy

    def timed(self, attempt: Callable[..., Any]) -> Callable[..., Any]:
        """`attempt`, counting its calls and the time they take."""

        def run(*args: Any) -> Any:
            self.attempts += 1
            began = time.monotonic()
            try:
                return attempt(*args)
            finally:
                self.busy += time.monotonic() - began

        return run

    def stop(self, retry_state: tenacity.RetryCallState) -> bool:
        """Whether to give up after this failed attempt (else its wait counts as spent)."""
        if self.max_attempts is not None and self.attempts >= self.max_attempts:
            return True
        if self.waited >= self.backoff.retry_for:
            return True  # retried for long enough: an upstream window has passed meanwhile
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None else None
        throttled = isinstance(failure, Transient) and failure.status == 429
        if not throttled and self.waited >= self.backoff.retry_errors_for:
            return True
        wait, fits = self._plan(retry_state)
        if not fits:
            return True
        self.waited += wait
        return False

    def wait(self, retry_state: tenacity.RetryCallState) -> float:
        return self._plan(retry_state)[0]

    def _plan(self, retry_state: tenacity.RetryCallState) -> tuple[float, bool]:
        """The wait after the latest attempt, and whether it ends within `give_up_after`.

        Planned once per attempt: tenacity asks `wait` and `stop` in either order.
        """
        if self._planned_for != self.attempts:
            outcome = retry_state.outcome
            exc = outcome.exception() if outcome is not None else None
            room = self.backoff.give_up_after - self.elapsed
            if isinstance(exc, Transient) and exc.retry_after is not None:
                # Asked to wait past the bound: retrying sooner would only fail again.
                self._next = (exc.retry_after, exc.retry_after <= room)
            else:
                self._next = (min(self.backoff.delay(self.attempts), max(room, 0.0)), room > 0)
            self._planned_for = self.attempts
        return self._next

    @property
    def next_wait(self) -> float:
        return self._next[0]
