"""Keep a rendered feed under Google Calendar's size limit, saying what it took (pure).

Google Calendar ignores a subscribed feed near 1 MB (docs/client-compatibility.md, *Feed
size*), so a feed over `feeds.limits.FEED_BYTE_BUDGET` is made smaller, in this order, and every
step is reported in `FittedFeed.notes` for the owner (a session never disappears without a
note):

1. upstream descriptions are shortened, more and more, down to none (join links, product and
   organizer stay, since the renderer adds them itself);
2. the history is narrowed, down to none: past sessions go before coming ones;
3. the horizon is narrowed from the far end, down to one day: later sessions are left out
   until they come closer.

A description step that would change nothing (no description that long) is skipped.

If even that is too large the smallest feed is returned with a note saying so. A feed within
the budget is rendered once and returned as is, so normal feeds pay nothing; the result is a
function of the sessions, options, `now` and budget only (same data, same bytes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from feeds.ical import FeedOptions, iter_feed, render_feed
from feeds.limits import FEED_BYTE_BUDGET, shorten
from feeds.model import Session

__all__ = ["DESCRIPTION_STEPS", "FittedFeed", "fit_feed"]

# Characters of upstream description kept at each step of trimming (0: none at all).
DESCRIPTION_STEPS = (2000, 500, 100, 0)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class FittedFeed:
    """A feed's bytes and what was done to keep them within the budget (empty: nothing)."""

    body: bytes
    notes: tuple[str, ...] = ()


def fit_feed(
    sessions: Iterable[Session],
    options: FeedOptions,
    *,
    now: datetime,
    budget: int | None = None,
    render: Callable[[Sequence[Session], FeedOptions], bytes] = render_feed,
) -> FittedFeed:
    """The feed of `sessions` at most `budget` bytes long (default FEED_BYTE_BUDGET) if it
    can be made so by the steps of the module docstring, with a note for each step taken.

    `render` writes the feed as it is (the first, and for most feeds only, render)."""
    limit = FEED_BYTE_BUDGET if budget is None else budget
    sessions = list(sessions)
    body = render(sessions, options)
    if len(body) <= limit:
        return FittedFeed(body)
    notes = [
        f"the feed came to {len(body):,} bytes, over the {limit:,} calbridge allows "
        "(Google Calendar ignores feeds near 1 MB)"
    ]

    shortest: int | None = None  # the fewest characters of description kept so far
    for keep in DESCRIPTION_STEPS:
        shortened = [_with_description(s, keep) for s in sessions]
        if all(after is before for after, before in zip(shortened, sessions, strict=True)):
            continue  # no description is that long: it would render the same bytes again
        sessions, shortest = shortened, keep
        fitting = _render_within(sessions, options, limit)
        if fitting is not None:
            return FittedFeed(fitting, (*notes, _description_note(keep)))
    if shortest is not None:
        notes.append(_description_note(shortest))

    history = _days(options.window_start, now, min((s.end for s in sessions), default=now))
    horizon = _days(now, options.window_end, max((s.start for s in sessions), default=now))
    if history > 0:
        fits = _largest_fitting(
            history,
            lambda days: _render_within(sessions, _history(options, now, days), limit),
            smallest=0,
        )
        if fits is not None:
            days, fitting = fits
            return FittedFeed(fitting, (*notes, _history_note(history, days)))
        options = _history(options, now, 0)
        notes.append(_history_note(history, 0))

    if horizon > 1:
        fits = _largest_fitting(
            horizon, lambda days: _render_within(sessions, _horizon(options, now, days), limit)
        )
        if fits is not None:
            days, fitting = fits
            return FittedFeed(fitting, (*notes, _horizon_note(horizon, days, now)))
        options = _horizon(options, now, 1)
        notes.append(_horizon_note(horizon, 1, now))
    body = render(sessions, options)
    notes.append(f"it is still {len(body):,} bytes: Google Calendar may ignore it")
    return FittedFeed(body, tuple(notes))


def _render_within(
    sessions: Sequence[Session], options: FeedOptions, limit: int | None
) -> bytes | None:
    """The rendered feed, or None as soon as it grows past `limit` (None: no limit)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in iter_feed(sessions, options):
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _largest_fitting(
    largest: int, render: Callable[[int], bytes | None], *, smallest: int = 1
) -> tuple[int, bytes] | None:
    """The largest day count in [smallest, largest) whose render fits, by bisection (the
    feed grows with the window), with its bytes; None if not even `smallest` fits."""
    best = render(smallest)
    if best is None:
        return None
    low, high = smallest, largest  # `low` fits, `high` does not
    while high - low > 1:
        middle = (low + high) // 2
        body = render(middle)
        if body is None:
            high = middle
        else:
            low, best = middle, body
    return low, best


def _days(start: datetime | None, end: datetime | None, fallback: datetime) -> int:
    """Whole days from `start` to `end` (rounded up), a missing end taken from the sessions."""
    span = (end or fallback) - (start or fallback)
    return max(0, -(-span // _DAY))


def _horizon(options: FeedOptions, now: datetime, days: int) -> FeedOptions:
    return dataclasses.replace(options, window_end=now + days * _DAY)


def _history(options: FeedOptions, now: datetime, days: int) -> FeedOptions:
    return dataclasses.replace(options, window_start=now - days * _DAY)


def _with_description(session: Session, keep: int) -> Session:
    if len(session.description) <= keep:
        return session
    return dataclasses.replace(session, description=shorten(session.description, keep))


def _description_note(keep: int) -> str:
    if keep == 0:
        return "session descriptions were left out (join links stay)"
    return f"session descriptions were shortened to {keep:,} characters"


def _horizon_note(horizon: int, days: int, now: datetime) -> str:
    after = (now + days * _DAY).date().isoformat()
    return (
        f"the horizon was cut from {horizon} to {days} day{'s' if days != 1 else ''}: "
        f"sessions after {after} are left out until they come closer"
    )


def _history_note(history: int, days: int) -> str:
    return f"the history was cut from {history} to {days} day{'s' if days != 1 else ''}"
