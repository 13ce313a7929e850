"""feeds.series: which occurrences become one RRULE series, with which exceptions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from feeds.model import Session, SourceKind, Status
from feeds.series import Frequency, GroupPlan, Rule, Series, is_unambiguous, plan_group

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)


def occurrence(index: int, wall: datetime, zone: tzinfo = BERLIN, **fields: object) -> Session:
    start = wall.replace(tzinfo=zone).astimezone(UTC)
    values: dict[str, object] = {
        "source_kind": SourceKind.TAGMANGO,
        "source_name": "main",
        "upstream_id": f"o{index}",
        "title": "Weekly Q&A",
        "start": start,
        "end": start + HOUR,
        "series_key": "g",
    }
    values.update(fields)
    return Session(**values)  # type: ignore[arg-type]


def every(step: timedelta, count: int, first: datetime, zone: tzinfo = BERLIN) -> list[Session]:
    return [occurrence(i, first + step * i, zone) for i in range(count)]


def plan(sessions: list[Session], zone: tzinfo = BERLIN) -> GroupPlan:
    return plan_group(sessions, zone, lambda s: s.title)


def series_of(sessions: list[Session], zone: tzinfo = BERLIN) -> Series:
    result = plan(sessions, zone)
    assert result.series is not None, "expected a series"
    return result.series


TUESDAY_18 = datetime(2026, 3, 3, 18, 0)  # Berlin switches to summer time on 2026-03-29


def test_weekly_series_keeps_its_wall_clock_time_across_dst() -> None:
    sessions = every(timedelta(weeks=1), 8, TUESDAY_18)
    series = series_of(sessions)
    assert series.rule == Rule(Frequency.WEEKLY, 1, (1,))
    assert series.start == datetime(2026, 3, 3, 17, tzinfo=UTC)
    assert series.until == datetime(2026, 4, 21, 16, tzinfo=UTC)  # 18:00 CEST
    assert series.duration == HOUR
    assert series.exdates == () and series.overrides == ()
    assert series.occurrences == tuple(sessions)


def test_daily_every_other_day_and_biweekly_rules() -> None:
    assert series_of(every(timedelta(days=1), 5, TUESDAY_18)).rule == Rule(Frequency.DAILY, 1)
    assert series_of(every(timedelta(days=2), 5, TUESDAY_18)).rule == Rule(Frequency.DAILY, 2)
    biweekly = series_of(every(timedelta(weeks=2), 5, TUESDAY_18)).rule
    assert biweekly == Rule(Frequency.WEEKLY, 2, (1,))


def test_two_weekdays_become_one_byday_rule() -> None:
    sessions = []
    for week in range(4):
        sessions.append(occurrence(2 * week, TUESDAY_18 + timedelta(weeks=week)))
        sessions.append(occurrence(2 * week + 1, TUESDAY_18 + timedelta(weeks=week, days=2)))
    series = series_of(sessions)
    assert series.rule == Rule(Frequency.WEEKLY, 1, (1, 3))
    assert len(series.regular) == 8


def test_a_gap_becomes_an_exdate() -> None:
    sessions = every(timedelta(weeks=1), 8, TUESDAY_18)
    del sessions[3]
    series = series_of(sessions)
    assert series.exdates == (datetime(2026, 3, 24, 17, tzinfo=UTC),)
    assert len(series.regular) == 7


def test_a_cancelled_occurrence_becomes_an_exdate_and_vanishes() -> None:
    sessions = every(timedelta(weeks=1), 8, TUESDAY_18)
    sessions[5] = replace(sessions[5], status=Status.CANCELLED)
    result = plan(sessions)
    assert result.series is not None and result.singles == ()
    assert result.series.exdates == (datetime(2026, 4, 7, 16, tzinfo=UTC),)
    assert result.series.cancelled == (sessions[5],)
    assert sessions[5] not in result.series.occurrences


def test_a_moved_occurrence_becomes_an_override_of_its_slot() -> None:
    sessions = every(timedelta(weeks=1), 8, TUESDAY_18)
    moved = replace(sessions[4], start=sessions[4].start + HOUR, end=sessions[4].end + HOUR)
    sessions[4] = moved
    series = series_of(sessions)
    assert len(series.overrides) == 1
    override = series.overrides[0]
    assert override.session == moved
    assert override.recurrence_id == datetime(2026, 3, 31, 16, tzinfo=UTC)  # the original slot
    assert series.exdates == ()


def test_a_retitled_or_resized_occurrence_becomes_an_override() -> None:
    sessions = every(timedelta(weeks=1), 8, TUESDAY_18)
    sessions[2] = replace(sessions[2], title="Special guest")
    sessions[6] = replace(sessions[6], end=sessions[6].end + HOUR)
    series = series_of(sessions)
    assert [o.session for o in series.overrides] == [sessions[2], sessions[6]]
    assert [o.recurrence_id for o in series.overrides] == [sessions[2].start, sessions[6].start]


def test_a_changed_first_occurrence_is_an_override_at_dtstart() -> None:
    sessions = every(timedelta(weeks=1), 8, TUESDAY_18)
    sessions[0] = replace(sessions[0], title="Kick-off")
    series = series_of(sessions)
    assert series.start == sessions[0].start
    assert series.overrides[0].recurrence_id == series.start
    assert series.template == sessions[1]


def test_an_occurrence_far_from_any_slot_is_left_as_a_single() -> None:
    sessions = every(timedelta(weeks=1), 8, TUESDAY_18)
    odd_one = occurrence(99, TUESDAY_18 + timedelta(days=3, hours=-8))
    result = plan([*sessions, odd_one])
    assert result.series is not None
    assert result.singles == (odd_one,)


@pytest.mark.parametrize("count", [1, 2])
def test_fewer_than_three_occurrences_stay_singles(count: int) -> None:
    sessions = every(timedelta(weeks=1), count, TUESDAY_18)
    assert plan(sessions) == GroupPlan(None, tuple(sessions))


def test_irregular_occurrences_stay_singles() -> None:
    walls = [TUESDAY_18, TUESDAY_18 + timedelta(days=3, hours=2), TUESDAY_18 + timedelta(days=11)]
    walls.append(TUESDAY_18 + timedelta(days=17, hours=-5))
    sessions = [occurrence(i, wall) for i, wall in enumerate(walls)]
    assert plan(sessions).series is None


def test_too_many_exceptions_stay_singles() -> None:
    sessions = every(timedelta(weeks=1), 6, TUESDAY_18)
    for index in (1, 3, 4):
        sessions[index] = replace(sessions[index], title=f"Changed {index}")
    assert plan(sessions).series is None


def test_mostly_cancelled_group_stays_singles_with_its_cancellations() -> None:
    sessions = every(timedelta(weeks=1), 6, TUESDAY_18)
    sessions = [replace(s, status=Status.CANCELLED) if i > 1 else s for i, s in enumerate(sessions)]
    assert plan(sessions) == GroupPlan(None, tuple(sessions))


def test_no_rule_instance_falls_in_the_repeated_hour() -> None:
    # 01:30 in New York happens twice on 2026-11-01: an RRULE instance cannot say which one.
    sessions = every(timedelta(days=1), 5, datetime(2026, 10, 30, 1, 30), NEW_YORK)
    ambiguous = sessions[2]
    assert not is_unambiguous(datetime(2026, 11, 1, 1, 30), NEW_YORK)
    result = plan(sessions, NEW_YORK)
    assert ambiguous in result.singles
    if result.series is not None:
        assert result.series.rule.frequency is Frequency.WEEKLY
        assert 6 not in result.series.rule.weekdays  # no Sunday slot, not even as an EXDATE
        assert ambiguous not in result.series.members


def test_the_rule_is_found_in_the_given_zone() -> None:
    # 18:00 Berlin every week is not a fixed UTC time: in UTC it needs two overrides or fails.
    sessions = every(timedelta(weeks=1), 8, TUESDAY_18)
    in_utc = plan(sessions, UTC)
    assert in_utc.series is None or in_utc.series.overrides
    assert series_of(sessions, BERLIN).overrides == ()


def test_input_order_does_not_matter() -> None:
    sessions = every(timedelta(weeks=1), 8, TUESDAY_18)
    sessions[4] = replace(sessions[4], title="Other")
    assert plan(sessions) == plan(list(reversed(sessions)))
