"""Rule-based VTIMEZONE components generated from zoneinfo, and a checker for them.

Outlook classic and ical.js (Thunderbird) only read VTIMEZONEs made of one STANDARD and at
most one DAYLIGHT observance, each a yearly `RRULE:FREQ=YEARLY;BYMONTH=m;BYDAY=nDD` starting
in 1970 (docs/client-compatibility.md, *Time zones*). `vtimezone_for` derives such rules from
the zone's real transitions over a window and verifies them against zoneinfo; when the zone
cannot be written that way (rules changing inside the window, transitions not on an nth
weekday...) it returns None and the feed writer falls back to UTC times.

`check_vtimezone` evaluates any VTIMEZONE by RFC 5545 §3.6.5 semantics (independently of the
icalendar library's own conversion) and lists where it disagrees with zoneinfo.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.rrule import rrulestr
from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

from feeds.rules import aware_utc

__all__ = ["UTC_TZIDS", "check_vtimezone", "load_zone", "vtimezone_for", "zone_names"]

# Zones that are UTC itself: times in them are written with a Z and need no VTIMEZONE.
UTC_TZIDS = frozenset(
    {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"}
)

_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_SCAN_STEP = timedelta(hours=6)
_EPOCH_YEAR = 1970


@dataclass(frozen=True)
class _Observance:
    """One STANDARD or DAYLIGHT block: onset local time (in the `offset_from` clock) + rule."""

    daylight: bool
    offset_from: timedelta
    offset_to: timedelta
    name: str
    month: int | None = None  # None: no RRULE (the zone has no DST in the window)
    nth: int | None = None  # 1..4 or -1 (last)
    weekday: int | None = None  # 0 = Monday
    local_time: time = time(0, 0)


@functools.cache
def zone_names() -> frozenset[str]:
    """Every time zone a feed or source may name: the IANA zones zoneinfo knows (tzdata or the
    system's), but not "localtime", which means whatever the machine is set to."""
    return frozenset(available_timezones() - {"localtime"})


def load_zone(tzid: str, error: type[Exception] = ValueError) -> ZoneInfo:
    """The zoneinfo zone for an IANA name of `zone_names`; raises `error` (with the one message
    every layer shows) for any other name."""
    if tzid in zone_names():
        try:
            return ZoneInfo(tzid)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # listed but unreadable: unknown all the same
    raise error(f"unknown time zone {tzid!r}; use an IANA name such as Europe/Berlin")


def vtimezone_for(tzid: str, window_start: datetime, window_end: datetime) -> Timezone | None:
    """A VTIMEZONE (1 STANDARD + ≤1 DAYLIGHT, yearly RRULEs) valid for `tzid` over the window.

    Returns None for UTC itself and for zones whose rules over the window can't be written in
    that shape (the caller then writes UTC times). The rules are derived and checked over the
    whole calendar years the window touches. Raises ValueError for an unknown zone or a
    naive/inverted window.
    """
    load_zone(tzid)
    if tzid in UTC_TZIDS:
        return None
    first_year, last_year = _window_years(window_start, window_end)
    observances = _observances_for_years(tzid, first_year, last_year)
    if observances is None:
        return None
    return _build(tzid, observances)


def check_vtimezone(vtz: Timezone, tzid: str, start: datetime, end: datetime) -> list[str]:
    """Every instant in [start, end) where `vtz` gives another UTC offset than zoneinfo.

    Samples each transition of either side (at it, 1 s and 1 h before, 1 h after) and the
    midpoints between them, so every interval where the offsets are constant is covered.
    Also reports structural problems that make the VTIMEZONE unusable.
    """
    zone = load_zone(tzid)
    start_utc, end_utc = aware_utc(start, "start"), aware_utc(end, "end")
    try:
        onsets = _vtimezone_onsets(vtz, end_utc)
    except (KeyError, ValueError, TypeError) as exc:
        return [f"VTIMEZONE {tzid}: cannot be evaluated: {exc}"]
    if not onsets:
        return [f"VTIMEZONE {tzid}: has no STANDARD or DAYLIGHT observance"]

    boundaries = {start_utc}
    boundaries.update(_zone_transitions(zone, start_utc, end_utc))
    boundaries.update(instant for instant, _, _ in onsets if start_utc <= instant < end_utc)
    ordered = sorted(boundaries)
    samples: set[datetime] = set()
    for index, boundary in enumerate(ordered):
        samples.update({boundary, boundary - timedelta(seconds=1), boundary - timedelta(hours=1)})
        samples.add(boundary + timedelta(hours=1))
        following = ordered[index + 1] if index + 1 < len(ordered) else end_utc
        samples.add(boundary + (following - boundary) / 2)

    problems = []
    for instant in sorted(s for s in samples if start_utc <= s < end_utc):
        expected = instant.astimezone(zone).utcoffset()
        actual = _offset_at(onsets, instant)
        if expected != actual:
            problems.append(
                f"VTIMEZONE {tzid}: at {instant:%Y-%m-%dT%H:%M:%SZ} it gives UTC"
                f"{_format_offset(actual)}, zoneinfo gives UTC{_format_offset(expected)}"
            )
    return problems


# --- deriving the rules --------------------------------------------------------------------


def _window_years(window_start: datetime, window_end: datetime) -> tuple[int, int]:
    start, end = aware_utc(window_start, "window_start"), aware_utc(window_end, "window_end")
    if end < start:
        raise ValueError(f"window_end {end.isoformat()} is before window_start {start.isoformat()}")
    return start.year, end.year


@functools.lru_cache(maxsize=512)
def _observances_for_years(
    tzid: str, first_year: int, last_year: int
) -> tuple[_Observance, ...] | None:
    zone = load_zone(tzid)
    start = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    transitions = _zone_transitions(zone, start, end)
    offsets = {start.astimezone(zone).utcoffset()} | {
        t.astimezone(zone).utcoffset() for t in transitions
    }
    if len(offsets) == 1:
        observances: tuple[_Observance, ...] = (
            _Observance(
                daylight=False,
                offset_from=start.astimezone(zone).utcoffset(),
                offset_to=start.astimezone(zone).utcoffset(),
                name=start.astimezone(zone).tzname() or tzid,
            ),
        )
    elif len(offsets) == 2:
        derived = _derive_rules(zone, transitions, max(offsets), first_year, last_year)
        if derived is None:
            return None
        observances = derived
    else:
        return None
    if check_vtimezone(_build(tzid, observances), tzid, start, end):
        return None
    return observances


def _derive_rules(
    zone: ZoneInfo,
    transitions: list[datetime],
    daylight_offset: timedelta,
    first_year: int,
    last_year: int,
) -> tuple[_Observance, _Observance] | None:
    """One STANDARD and one DAYLIGHT rule shared by every transition, or None."""
    # Transitions of the neighbouring years only disambiguate "4th" vs "last" weekday.
    nearby = _zone_transitions(
        zone,
        datetime(first_year - 1, 1, 1, tzinfo=UTC),
        datetime(last_year + 2, 1, 1, tzinfo=UTC),
    )
    result = {}
    for daylight in (False, True):
        inside = [t for t in transitions if (_offset(zone, t) == daylight_offset) == daylight]
        if not inside:
            return None
        rule = _common_rule(zone, inside)
        if rule is None:
            return None
        month, weekday, local_time, nths = rule
        around = [t for t in nearby if (_offset(zone, t) == daylight_offset) == daylight]
        wider = _common_rule(zone, around)
        if wider is not None and wider[:3] == rule[:3] and wider[3]:
            nths = wider[3]
        nth = -1 if -1 in nths else min(nths)
        before = _offset(zone, inside[0] - timedelta(seconds=1))
        after_local = inside[0].astimezone(zone)
        result[daylight] = _Observance(
            daylight=daylight,
            offset_from=before,
            offset_to=_offset(zone, inside[0]),
            name=after_local.tzname() or "",
            month=month,
            nth=nth,
            weekday=weekday,
            local_time=local_time,
        )
    return result[False], result[True]


def _common_rule(
    zone: ZoneInfo, transitions: list[datetime]
) -> tuple[int, int, time, frozenset[int]] | None:
    """(month, weekday, local onset time, possible nth values) shared by all, or None."""
    shapes = set()
    nths: frozenset[int] | None = None
    for instant in transitions:
        # The onset is written in the local time that was in force before the transition.
        local = (instant + _offset(zone, instant - timedelta(seconds=1))).replace(tzinfo=None)
        shapes.add((local.month, local.weekday(), local.time()))
        candidates = _nth_candidates(local.date())
        nths = candidates if nths is None else nths & candidates
    if len(shapes) != 1 or not nths:
        return None
    month, weekday, local_time = shapes.pop()
    return month, weekday, local_time, nths


def _nth_candidates(day: date) -> frozenset[int]:
    candidates = set()
    nth = (day.day - 1) // 7 + 1
    if nth <= 4:
        candidates.add(nth)
    if day.day + 7 > calendar.monthrange(day.year, day.month)[1]:
        candidates.add(-1)
    return frozenset(candidates)


def _zone_transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """UTC instants in [start, end) where the zone's UTC offset changes (to the second)."""
    found = []
    previous_instant, previous_offset = start, _offset(zone, start)
    while previous_instant < end:
        instant = min(previous_instant + _SCAN_STEP, end)
        offset = _offset(zone, instant)
        if offset != previous_offset:
            low, high = previous_instant, instant  # offset(low) = previous, offset(high) differs
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if middle <= low:
                    break
                if _offset(zone, middle) == previous_offset:
                    low = middle
                else:
                    high = middle
            if start < high < end:
                found.append(high)
        previous_instant, previous_offset = instant, offset
    return found


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None  # zoneinfo always knows the offset of an aware instant
    return offset


# --- building and evaluating VTIMEZONEs -----------------------------------------------------


def _build(tzid: str, observances: tuple[_Observance, ...]) -> Timezone:
    vtz = Timezone()
    vtz.add("TZID", tzid)
    for observance in sorted(observances, key=lambda o: o.daylight):
        block = TimezoneDaylight() if observance.daylight else TimezoneStandard()
        if observance.month is None:
            block.add("DTSTART", datetime(_EPOCH_YEAR, 1, 1))
        else:
            assert observance.nth is not None and observance.weekday is not None
            onset = _nth_weekday(_EPOCH_YEAR, observance.month, observance.nth, observance.weekday)
            block.add("DTSTART", datetime.combine(onset, observance.local_time))
            block.add(
                "RRULE",
                {
                    "FREQ": "YEARLY",
                    "BYMONTH": observance.month,
                    "BYDAY": f"{observance.nth}{_WEEKDAYS[observance.weekday]}",
                },
            )
        block.add("TZOFFSETFROM", observance.offset_from)
        block.add("TZOFFSETTO", observance.offset_to)
        block.add("TZNAME", observance.name)
        vtz.add_component(block)
    return vtz


def _nth_weekday(year: int, month: int, nth: int, weekday: int) -> date:
    days = calendar.monthrange(year, month)[1]
    if nth > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    last = date(year, month, days)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _vtimezone_onsets(
    vtz: Timezone, until: datetime
) -> list[tuple[datetime, timedelta, timedelta]]:
    """(UTC onset, offset from, offset to) for every observance onset up to `until`, sorted."""
    onsets = []
    for block in vtz.subcomponents:
        if block.name not in ("STANDARD", "DAYLIGHT"):
            continue
        offset_from = block["TZOFFSETFROM"].td
        offset_to = block["TZOFFSETTO"].td
        local_starts = list(_local_onsets(block, until + offset_from))
        onsets.extend(
            (local.replace(tzinfo=UTC) - offset_from, offset_from, offset_to)
            for local in local_starts
        )
    onsets.sort(key=lambda onset: onset[0])
    return onsets


def _local_onsets(block, local_until: datetime) -> Iterator[datetime]:
    dtstart = block["DTSTART"].dt
    if not isinstance(dtstart, datetime) or dtstart.tzinfo is not None:
        raise ValueError("observance DTSTART must be a local DATE-TIME")
    local_until = local_until.replace(tzinfo=None)
    yield dtstart
    rules = block.get("RRULE")
    for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
        parts = dict(rule)
        until = parts.pop("UNTIL", None)
        text = rule.__class__(parts).to_ical().decode()
        limit = local_until
        if until:
            until_value = until[0] if isinstance(until, list) else until
            if isinstance(until_value, datetime) and until_value.tzinfo is not None:
                until_value = (until_value + block["TZOFFSETFROM"].td).replace(tzinfo=None)
            elif not isinstance(until_value, datetime):
                until_value = datetime.combine(until_value, time.max)
            limit = min(limit, until_value)
        for occurrence in rrulestr(text, dtstart=dtstart):
            if occurrence > limit:
                break
            if occurrence != dtstart:
                yield occurrence
    rdates = block.get("RDATE")
    for rdate in rdates if isinstance(rdates, list) else [rdates] if rdates else []:
        for value in rdate.dts:
            if isinstance(value.dt, datetime):
                yield value.dt.replace(tzinfo=None)


def _offset_at(onsets: list[tuple[datetime, timedelta, timedelta]], instant: datetime) -> timedelta:
    current = onsets[0][1]  # before the first onset, the first observance's "from" offset
    for onset, _, offset_to in onsets:
        if onset > instant:
            break
        current = offset_to
    return current


def _format_offset(offset: timedelta | None) -> str:
    if offset is None:
        return "?"
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}"
