"""Occurrences of one series → one recurring event (RRULE + EXDATE + RECURRENCE-ID) or singles.

A series is found in the feed's wall-clock time (`zone`): a weekly 18:00 Europe/Berlin session
stays at 18:00 local across a DST change, which is what clients compute from an RRULE on a
TZID DTSTART. Only simple rules are tried (FREQ=DAILY or WEEKLY with BYDAY, an INTERVAL of a
few days or weeks, UNTIL), because Outlook maps only rules that fit its templates and Apple
drops series it cannot read (docs/client-compatibility.md, *Recurring series*).

For each candidate rule the occurrences are matched to the rule's slots:
- *regular*: on a slot, with the template's content (what the master VEVENT says);
- *override*: on or near a slot but moved or otherwise different → RECURRENCE-ID override;
- *extra*: too far from any free slot → written as a single event of its own;
- free slots between the first and the last used one → EXDATE (also for cancelled occurrences).
The rule with the fewest exceptions wins; it must cover at least `MIN_OCCURRENCES`
occurrences, and its regular occurrences must outnumber the exceptions
`REGULAR_PER_EXCEPTION` to one. Cancelled occurrences of a series vanish, so a series never
consists of excluded instances only (Nextcloud drops such series).
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from feeds.model import Session

__all__ = [
    "MIN_OCCURRENCES",
    "REGULAR_PER_EXCEPTION",
    "WEEKDAY_CODES",
    "Frequency",
    "GroupPlan",
    "Override",
    "Rule",
    "Series",
    "is_unambiguous",
    "local_is_unambiguous",
    "plan_group",
]

MIN_OCCURRENCES = 3
REGULAR_PER_EXCEPTION = 2
WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_WEEKLY_INTERVALS = (1, 2, 3, 4)
_DAILY_INTERVALS = (1, 2, 3)
_TEMPLATES_TRIED = 2
_CANDIDATES_FITTED = 4


class Frequency(StrEnum):
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"


@dataclass(frozen=True, slots=True)
class Rule:
    """A simple recurrence in wall-clock dates: every `interval` days or weeks (on `weekdays`)."""

    frequency: Frequency
    interval: int = 1
    weekdays: tuple[int, ...] = ()  # 0 = Monday; WEEKLY only

    def contains(self, ordinal: int, phase: int) -> bool:
        """Whether the date with this proleptic ordinal is a slot date (for the given phase)."""
        if self.frequency is Frequency.DAILY:
            return ordinal % self.interval == phase
        # date.fromordinal(1) is a Monday, so weeks start on Monday like the RRULE's WKST=MO.
        week, weekday = divmod(ordinal - 1, 7)
        return weekday in self.weekdays and week % self.interval == phase

    def phase_of(self, ordinal: int) -> int:
        if self.frequency is Frequency.DAILY:
            return ordinal % self.interval
        return ((ordinal - 1) // 7) % self.interval

    def slot_ordinals(self, first: int, last: int, phase: int) -> list[int]:
        """Slot dates in [first, last]."""
        if self.frequency is Frequency.DAILY:
            start = first + (phase - first) % self.interval
            return list(range(start, last + 1, self.interval))
        result = []
        week = (first - 1) // 7
        week += (phase - week) % self.interval
        while week * 7 + 1 <= last:
            for weekday in self.weekdays:
                ordinal = week * 7 + 1 + weekday
                if first <= ordinal <= last:
                    result.append(ordinal)
            week += self.interval
        return result

    def spacing(self) -> timedelta:
        """The shortest distance between two consecutive slots."""
        if self.frequency is Frequency.DAILY:
            return timedelta(days=self.interval)
        days = sorted(self.weekdays)
        gaps = [b - a for a, b in itertools.pairwise(days)]
        gaps.append(7 * self.interval - days[-1] + days[0])
        return timedelta(days=min(gaps))

    @property
    def complexity(self) -> tuple[int, int, int]:
        """Tie-break between equally good rules: fewer weekdays, smaller interval, DAILY first."""
        return (
            len(self.weekdays) or 1,
            self.interval,
            0 if self.frequency is Frequency.DAILY else 1,
        )


@dataclass(frozen=True, slots=True)
class Override:
    """An occurrence that replaces the rule's instance at `recurrence_id` (a UTC instant)."""

    recurrence_id: datetime
    session: Session


@dataclass(frozen=True, slots=True)
class Series:
    """One recurring event. Instants are UTC; the rule runs in the zone's wall-clock time."""

    rule: Rule
    start: datetime  # DTSTART of the master: the first slot used
    duration: timedelta
    until: datetime  # the last slot used
    template: Session  # whose content the master carries
    regular: tuple[Session, ...]
    overrides: tuple[Override, ...]  # sorted by recurrence_id
    exdates: tuple[datetime, ...]  # sorted
    cancelled: tuple[Session, ...]  # cancelled occurrences: they vanish from the feed

    @property
    def occurrences(self) -> tuple[Session, ...]:
        """The sessions the series shows (regular and overrides), by start."""
        shown = self.regular + tuple(o.session for o in self.overrides)
        return tuple(sorted(shown, key=_session_order))

    @property
    def members(self) -> tuple[Session, ...]:
        """Every session the series accounts for, cancelled ones included."""
        return self.occurrences + self.cancelled


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """How one group of sessions sharing a series key is written."""

    series: Series | None
    singles: tuple[Session, ...]  # written as single events (tombstones when cancelled)


@dataclass(frozen=True, slots=True)
class _Fact:
    session: Session
    wall_start: datetime  # naive wall-clock time in the zone
    ordinal: int
    shape: tuple[time, timedelta, Hashable]  # (local start time, duration, content)
    eligible: bool  # could be a regular occurrence: unambiguous wall times, no DST inside


@dataclass(frozen=True, slots=True)
class _Fit:
    series: Series
    singles: tuple[Session, ...]
    cost: int


def is_unambiguous(wall: datetime, zone: tzinfo) -> bool:
    """Whether a wall-clock time names exactly one instant in the zone (no DST gap or overlap)."""
    first = wall.replace(tzinfo=zone, fold=0)
    return first.utcoffset() == wall.replace(tzinfo=zone, fold=1).utcoffset()


def local_is_unambiguous(local: datetime) -> bool:
    """Whether an instant's local time (from `astimezone(zone)`) names only that instant."""
    return local.utcoffset() == local.replace(fold=1 - local.fold).utcoffset()


def plan_group(
    sessions: Iterable[Session],
    zone: tzinfo,
    content: Callable[[Session], Hashable],
) -> GroupPlan:
    """Write a group of occurrences as one series (when a simple rule fits well) or as singles.

    `content` gives what an instance shows besides its times (title, description, link...);
    occurrences whose content differs from the master's become overrides.
    """
    ordered = tuple(sorted(sessions, key=_session_order))
    active = [s for s in ordered if not s.cancelled]
    if len(active) < MIN_OCCURRENCES:
        return GroupPlan(None, ordered)
    facts = [_fact(s, zone, content) for s in active]
    best: _Fit | None = None
    best_rank: tuple[int, tuple[int, int, int]] | None = None
    for template in _templates(facts):
        for rule, phase in _ranked_candidates(template, facts):
            fit = _fit(rule, phase, template, facts, zone, ordered)
            if fit is None:
                continue
            rank = (fit.cost, rule.complexity)
            if best_rank is None or rank < best_rank:
                best, best_rank = fit, rank
            if fit.cost == 0:
                break  # candidates come simplest first among those that can fit this well
        if best is not None and best.cost == 0:
            break  # every occurrence is regular: no other template can do as well
    if best is None:
        return GroupPlan(None, ordered)
    return GroupPlan(best.series, best.singles)


def _session_order(session: Session) -> tuple[datetime, datetime, str]:
    return (session.start, session.end, session.key)


def _fact(session: Session, zone: tzinfo, content: Callable[[Session], Hashable]) -> _Fact:
    local_start, local_end = session.start.astimezone(zone), session.end.astimezone(zone)
    wall_start = local_start.replace(tzinfo=None)
    duration = session.end - session.start
    eligible = (
        local_end.replace(tzinfo=None) - wall_start == duration
        and local_is_unambiguous(local_start)
        and local_is_unambiguous(local_end)
    )
    return _Fact(
        session=session,
        wall_start=wall_start,
        ordinal=wall_start.toordinal(),
        shape=(wall_start.time(), duration, content(session)),
        eligible=eligible,
    )


def _templates(facts: Sequence[_Fact]) -> list[tuple[time, timedelta, Hashable]]:
    """The most common (time, duration, content) shapes, most frequent first."""
    counts = Counter(f.shape for f in facts if f.eligible)
    first_seen: dict[Hashable, int] = {}
    for index, fact in enumerate(facts):
        first_seen.setdefault(fact.shape, index)
    ranked = sorted(counts, key=lambda shape: (-counts[shape], first_seen[shape]))
    return [shape for shape in ranked[:_TEMPLATES_TRIED] if counts[shape] >= 2]


def _ranked_candidates(
    template: tuple[time, timedelta, Hashable], facts: Sequence[_Fact]
) -> list[tuple[Rule, int]]:
    """Candidate (rule, phase) pairs, best first by a cheap date-only estimate of the cost."""
    ordinals = sorted({f.ordinal for f in facts if f.eligible and f.shape == template})
    weekday_counts = Counter((o - 1) % 7 for o in ordinals)
    weekday_sets = {tuple(sorted(weekday_counts))}
    repeated = tuple(sorted(d for d, n in weekday_counts.items() if n >= 2))
    if repeated:
        weekday_sets.add(repeated)
    weekday_sets.add((max(weekday_counts, key=lambda d: (weekday_counts[d], -d)),))
    rules = [Rule(Frequency.DAILY, k) for k in _DAILY_INTERVALS]
    rules += [
        Rule(Frequency.WEEKLY, k, days) for days in sorted(weekday_sets) for k in _WEEKLY_INTERVALS
    ]
    scored = []
    for rule in rules:
        phases = Counter(rule.phase_of(o) for o in ordinals)
        phase = max(phases, key=lambda p: (phases[p], -p))
        on = [o for o in ordinals if rule.contains(o, phase)]
        if len(on) < 2:
            continue
        missing = len(rule.slot_ordinals(on[0], on[-1], phase)) - len(on)
        others = len(facts) - len(on)
        scored.append(((max(missing, others), rule.complexity), rule, phase))
    scored.sort(key=lambda item: item[0])
    return [(rule, phase) for _, rule, phase in scored[:_CANDIDATES_FITTED]]


def _fit(
    rule: Rule,
    phase: int,
    template: tuple[time, timedelta, Hashable],
    facts: Sequence[_Fact],
    zone: tzinfo,
    ordered: Sequence[Session],
) -> _Fit | None:
    """Match every occurrence to the rule's slots; None when the rule is not good enough."""
    local_time, duration, _ = template
    regular_by_ordinal: dict[int, _Fact] = {}
    for fact in facts:
        if (
            fact.eligible
            and fact.shape == template
            and rule.contains(fact.ordinal, phase)
            and fact.ordinal not in regular_by_ordinal
        ):
            regular_by_ordinal[fact.ordinal] = fact
    if len(regular_by_ordinal) < 2:
        return None
    reach = rule.spacing() / 2
    ordinals = rule.slot_ordinals(
        min(f.ordinal for f in facts) - reach.days - 1,
        max(f.ordinal for f in facts) + reach.days + 1,
        phase,
    )
    instants = [_instant(date.fromordinal(o), local_time, zone) for o in ordinals]
    used: dict[int, _Fact] = {}  # slot index → the fact shown there
    regular_slots: set[int] = set()
    for index, ordinal in enumerate(ordinals):
        if ordinal in regular_by_ordinal:
            used[index] = regular_by_ordinal[ordinal]
            regular_slots.add(index)
    regular_ids = {id(f) for f in regular_by_ordinal.values()}
    extras: list[Session] = []
    for fact in facts:
        if id(fact) in regular_ids:
            continue
        index = _nearest_free_slot(instants, used, fact.session.start, reach)
        if index is None:
            extras.append(fact.session)
        else:
            used[index] = fact
    first, last = min(used), max(used)
    for ordinal in ordinals[first : last + 1]:
        if not is_unambiguous(datetime.combine(date.fromordinal(ordinal), local_time), zone):
            return None
    if first not in regular_slots and not _keeps_wall_duration(instants[first], duration, zone):
        return None  # clients derive every instance's length from DTSTART..DTEND
    overrides = tuple(
        Override(instants[i], used[i].session) for i in sorted(used) if i not in regular_slots
    )
    exdates = tuple(instants[i] for i in range(first, last + 1) if i not in used)
    regular = tuple(used[i].session for i in sorted(regular_slots))
    cost = len(exdates) + len(overrides) + len(extras)
    if (
        len(regular) + len(overrides) < MIN_OCCURRENCES
        or len(regular) < REGULAR_PER_EXCEPTION * cost
    ):
        return None
    series = Series(
        rule=rule,
        start=instants[first],
        duration=duration,
        until=instants[last],
        template=regular[0],
        regular=regular,
        overrides=overrides,
        exdates=exdates,
        cancelled=tuple(s for s in ordered if s.cancelled),
    )
    return _Fit(series, tuple(extras), cost)


def _keeps_wall_duration(start: datetime, duration: timedelta, zone: tzinfo) -> bool:
    """Whether [start, start + duration] spans `duration` of wall-clock time too (no DST)."""
    local_start, local_end = start.astimezone(zone), (start + duration).astimezone(zone)
    return local_end.replace(tzinfo=None) - local_start.replace(
        tzinfo=None
    ) == duration and local_is_unambiguous(local_end)


def _instant(day: date, local_time: time, zone: tzinfo) -> datetime:
    return datetime.combine(day, local_time, tzinfo=zone).astimezone(UTC)


def _nearest_free_slot(
    instants: Sequence[datetime], used: dict[int, _Fact], start: datetime, reach: timedelta
) -> int | None:
    """The free slot nearest to `start` and closer than `reach` (the earlier one on a tie)."""
    candidates: list[tuple[timedelta, int]] = []
    left = bisect.bisect_left(instants, start) - 1
    while left >= 0 and start - instants[left] < reach:
        if left not in used:
            candidates.append((start - instants[left], left))
            break
        left -= 1
    right = bisect.bisect_left(instants, start)
    while right < len(instants) and instants[right] - start < reach:
        if right not in used:
            candidates.append((instants[right] - start, right))
            break
        right += 1
    return min(candidates)[1] if candidates else None
