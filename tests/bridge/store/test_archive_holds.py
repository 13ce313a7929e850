"""The archive's guards against upstream glitches, with plain data, on SQLite and PostgreSQL:
unreadable records keep their last good version, and a mass disappearance is held until a
second read at least CONFIRM_DELAY later confirms it."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest

from bridge.store import MergeResult, Store
from bridge.store.archive import (
    CONFIRM_DELAY,
    HOLD_MIN_VANISHING,
    HOLD_SHARE,
    UNIDENTIFIED_HOLD_MAX,
    holds_cancellations,
)
from bridge.upstream.base import FetchResult
from feeds.limits import MAX_ID_CHARS
from feeds.model import Session, Status
from tests.bridge.store.test_archive import LATER, NOW, WINDOW, archived, call

TEN = [call(f"c{i}", 5 + i) for i in range(10)]


def merge(
    store: Store, source: int, sessions: list[Session], now: datetime = NOW, **unreadable: Any
) -> MergeResult:
    return store.merge_sessions(source, sessions, *WINDOW, now, **unreadable)


@pytest.mark.parametrize(
    ("upcoming", "vanishing", "held"),
    [
        (10, 5, False),  # exactly half is not more than half
        (10, 6, True),
        (9, 5, True),
        (8, 4, False),  # fewer than HOLD_MIN_VANISHING
        (4, 4, False),
        (100, 50, False),
        (100, 51, True),
        (0, 0, False),
    ],
)
def test_holds_cancellations(upcoming: int, vanishing: int, held: bool) -> None:
    assert HOLD_SHARE == 0.5 and HOLD_MIN_VANISHING == 5
    assert holds_cancellations(upcoming, vanishing) is held


def test_an_unreadable_record_is_neither_cancelled_nor_changed(store: Store, source: int) -> None:
    merge(store, source, [call("a", 5), call("b", 6)])
    result = merge(store, source, [call("b", 6)], now=LATER, skipped_ids={"a"})
    assert result == MergeResult(unchanged=1)
    assert archived(store, source)["a"] == dataclasses.replace(call("a", 5), changed_at=NOW)
    # Readable again (and changed meanwhile): updated like any other change.
    renamed = call("a", 5, title="Renamed")
    assert merge(store, source, [renamed, call("b", 6)], now=LATER) == MergeResult(
        changed=1, unchanged=1
    )
    assert archived(store, source)["a"].title == "Renamed"


def test_an_unreadable_record_with_a_long_id_is_neither_cancelled_nor_changed(
    store: Store, source: int
) -> None:
    long_id = "L" * (MAX_ID_CHARS + 50)
    listed = FetchResult([call(long_id, 5), call("b", 6)])
    (archived_id,) = {s.upstream_id for s in listed.sessions} - {"b"}
    assert archived_id != long_id  # the archive keeps the capped id
    merge(store, source, listed.sessions)
    unreadable = FetchResult([call("b", 6)], skipped_ids=frozenset({long_id}))
    result = merge(
        store,
        source,
        unreadable.sessions,
        now=LATER,
        skipped_ids=unreadable.skipped_ids,
        unidentified=unreadable.unidentified,
    )
    assert result == MergeResult(unchanged=1)
    assert archived(store, source)[archived_id].status is Status.CONFIRMED


def test_a_skipped_id_that_was_also_listed_is_merged(store: Store, source: int) -> None:
    merge(store, source, [call("a", 5)])
    renamed = call("a", 5, title="Renamed")
    assert merge(store, source, [renamed], now=LATER, skipped_ids={"a"}) == MergeResult(changed=1)


def test_a_record_without_an_id_holds_a_cancellation_for_a_bounded_time(
    store: Store, source: int
) -> None:
    merge(store, source, [call("a", 5), call("b", 6)])
    # "a" may be the id-less record: its cancellation is held, and the hold counted once.
    first = merge(store, source, [call("b", 6)], now=LATER, unidentified=1)
    hold_ends = LATER + UNIDENTIFIED_HOLD_MAX
    assert first == MergeResult(unchanged=1, held=1, holds_started=1, confirm_at=hold_ends)
    just_before = hold_ends - timedelta(seconds=1)
    again = merge(store, source, [call("b", 6)], now=just_before, unidentified=1)
    assert again == MergeResult(unchanged=1, held=1, confirm_at=hold_ends)
    assert archived(store, source)["a"].status is Status.CONFIRMED
    # The id-less record is still there, but the hold is over: the cancellation is published.
    assert merge(store, source, [call("b", 6)], now=hold_ends, unidentified=1) == MergeResult(
        unchanged=1, vanished=1
    )
    assert archived(store, source)["a"].status is Status.CANCELLED


def test_more_vanishing_than_records_without_an_id_are_cancelled_at_once(
    store: Store, source: int
) -> None:
    merge(store, source, [call("a", 5), call("b", 6), call("c", 7)])
    result = merge(store, source, [call("c", 7)], now=LATER, unidentified=1)
    assert result == MergeResult(unchanged=1, vanished=2)
    assert {k: v.status for k, v in archived(store, source).items()} == {
        "a": Status.CANCELLED,
        "b": Status.CANCELLED,
        "c": Status.CONFIRMED,
    }


def test_a_cancellation_held_for_a_record_without_an_id_is_published_once_all_are_read(
    store: Store, source: int
) -> None:
    merge(store, source, [call("a", 5), call("b", 6)])
    merge(store, source, [call("b", 6)], now=LATER, unidentified=1)
    assert merge(store, source, [call("b", 6)], now=LATER) == MergeResult(unchanged=1, vanished=1)
    assert archived(store, source)["a"].status is Status.CANCELLED


def test_records_without_an_id_do_not_shorten_a_mass_hold(store: Store, source: int) -> None:
    merge(store, source, TEN)
    first = merge(store, source, TEN[:2], now=LATER, unidentified=8)
    assert first.held == first.holds_started == 8
    assert first.confirm_at == LATER + max(CONFIRM_DELAY, UNIDENTIFIED_HOLD_MAX)
    assert merge(store, source, TEN[:2], now=LATER + CONFIRM_DELAY, unidentified=8).held == 8


def test_a_mass_disappearance_is_held_then_undone(store: Store, source: int) -> None:
    merge(store, source, TEN)
    before = archived(store, source)
    new = call("new", 3)
    retitled = call("c0", 5, title="Retitled")
    held = merge(store, source, [retitled, new, *TEN[7:]], now=LATER)
    # Seven of ten would vanish: held, while the rest of the fetch is merged.
    assert held == MergeResult(
        inserted=1,
        changed=1,
        unchanged=3,
        held=6,
        holds_started=6,
        confirm_at=LATER + CONFIRM_DELAY,
    )
    now_archived = archived(store, source)
    assert {k: v for k, v in now_archived.items() if k not in ("c0", "new")} == {
        k: v for k, v in before.items() if k != "c0"
    }
    back = merge(store, source, [retitled, new, *TEN[1:]], now=LATER + CONFIRM_DELAY)
    assert back == MergeResult(unchanged=5, restored=6)
    assert archived(store, source)["c5"] == before["c5"]


def test_a_mass_disappearance_is_published_by_a_confirming_read(store: Store, source: int) -> None:
    merge(store, source, TEN)
    first = merge(store, source, TEN[:2], now=LATER)
    assert first == MergeResult(
        unchanged=2, held=8, holds_started=8, confirm_at=LATER + CONFIRM_DELAY
    )
    too_soon = LATER + CONFIRM_DELAY - timedelta(seconds=1)
    second = merge(store, source, TEN[:2], now=too_soon)
    assert second == MergeResult(unchanged=2, held=8, confirm_at=LATER + CONFIRM_DELAY)
    assert {s.status for s in archived(store, source).values()} == {Status.CONFIRMED}

    confirmed_at = LATER + CONFIRM_DELAY
    assert merge(store, source, TEN[:2], now=confirmed_at) == MergeResult(vanished=8, unchanged=2)
    gone = archived(store, source)["c9"]
    assert gone == dataclasses.replace(
        TEN[9], status=Status.CANCELLED, sequence=1, changed_at=confirmed_at
    )
    # Nothing more happens to them; listed again, they are restored.
    assert merge(store, source, TEN[:2], now=confirmed_at + CONFIRM_DELAY) == MergeResult(
        unchanged=2
    )
    assert merge(store, source, TEN, now=confirmed_at + CONFIRM_DELAY).restored == 8


def test_an_upstream_glitch_lasting_a_few_minutes_publishes_nothing(
    store: Store, source: int
) -> None:
    merge(store, source, TEN)
    merge(store, source, [], now=LATER)  # an empty list, consistently, for a few minutes
    for minutes in (1, 2, 4):
        still = merge(store, source, [], now=LATER + timedelta(minutes=minutes))
        assert still == MergeResult(held=10, confirm_at=LATER + CONFIRM_DELAY)
    assert {s.status for s in archived(store, source).values()} == {Status.CONFIRMED}
    assert merge(store, source, [], now=LATER + timedelta(minutes=5)).vanished == 10


def test_a_held_occurrence_that_starts_is_kept_as_it_was(store: Store, source: int) -> None:
    merge(store, source, TEN)
    merge(store, source, TEN[:2], now=LATER)
    after_start = NOW + timedelta(hours=20)  # c0 … c9 start 5 to 14 hours after NOW
    # c0 and c1 vanish now, after they started; the held ones had vanished already.
    assert merge(store, source, [], now=after_start) == MergeResult(vanished=2)
    kept = archived(store, source)
    assert all(kept[s.upstream_id].status is Status.CONFIRMED for s in TEN)


def test_a_few_vanishing_are_cancelled_at_once(store: Store, source: int) -> None:
    merge(store, source, TEN)
    assert merge(store, source, TEN[4:], now=LATER) == MergeResult(vanished=4, unchanged=6)
    assert archived(store, source)["c0"].status is Status.CANCELLED
