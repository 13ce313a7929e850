"""The session archive: content round trip, and the merge rules for new, changed, vanished and
reappearing occurrences, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from bridge.store import (
    MergeResult,
    NotFound,
    PartitionLike,
    Store,
    StoreError,
    content_hash,
    session_content,
    session_from_content,
)
from feeds.model import Session, SourceKind, Status
from tests.stores import Partition

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
WINDOW = (NOW - timedelta(days=30), NOW + timedelta(days=180))


def call(upstream_id: str, hours_from_now: float, **changes: object) -> Session:
    """A one-hour TagMango call starting `hours_from_now` after NOW."""
    start = NOW + timedelta(hours=hours_from_now)
    values: dict[str, object] = {
        "source_kind": SourceKind.TAGMANGO,
        "source_name": "tm",
        "upstream_id": upstream_id,
        "title": f"Call {upstream_id}",
        "start": start,
        "end": start + timedelta(hours=1),
        "meeting_url": f"https://meet.example.com/{upstream_id}",
        **changes,
    }
    return Session(**values)  # type: ignore[arg-type]


def merge(
    store: Store,
    partition: PartitionLike,
    sessions: list[Session],
    now: datetime = NOW,
    window: tuple[datetime, datetime] = WINDOW,
) -> MergeResult:
    return store.merge_sessions(partition, sessions, window[0], window[1], now)


def archived(store: Store, *partitions: PartitionLike) -> dict[str, Session]:
    start, end = NOW - timedelta(days=400), NOW + timedelta(days=400)
    return {s.upstream_id: s for s in store.archived_sessions(partitions, start, end)}


# -- content -----------------------------------------------------------------------------------


def every_field_session() -> Session:
    return Session(
        source_kind=SourceKind.TRAINERCENTRAL,
        source_name="academy",
        upstream_id="talk-9",
        title="Masterclass ✨",
        start=datetime(2026, 5, 1, 4, 30, 15, 250000, tzinfo=UTC),
        end=datetime(2026, 5, 1, 6, 0, tzinfo=UTC),
        series_key="session-3",
        description="Line one\nLine two",
        status=Status.CANCELLED,
        meeting_url="https://academy.example.com/talk/9",
        organizer_name="Asha",
        organizer_email="asha@example.com",
        platform="zoom",
        product_id="p1",
        product_title="Course",
        timezone="Asia/Kolkata",
        recording_url="https://academy.example.com/replay/9",
        group_call=False,
        sequence=4,
        changed_at=NOW,
    )


def test_content_round_trips_every_field() -> None:
    session = every_field_session()
    content = session_content(session)
    names = {field.name for field in dataclasses.fields(Session)}
    assert set(content) == names - {"sequence", "changed_at"}
    assert json.loads(json.dumps(content)) == content
    rebuilt = session_from_content(content, sequence=4, changed_at=NOW)
    assert rebuilt == session
    assert session_from_content({**content, "added_in_a_later_version": 1}) == (
        dataclasses.replace(session, sequence=0, changed_at=None)
    )


def test_content_leaves_defaults_out_and_ignores_archive_fields() -> None:
    session = call("a", 5)
    content = session_content(session)
    assert set(content) == {
        "source_kind", "source_name", "upstream_id", "title", "start", "end", "meeting_url"
    }  # fmt: skip
    archived_copy = dataclasses.replace(session, sequence=7, changed_at=LATER)
    assert content_hash(session_content(archived_copy)) == content_hash(content)
    moved = dataclasses.replace(session, start=session.start + timedelta(minutes=1))
    assert content_hash(session_content(moved)) != content_hash(content)


# -- merge rules -------------------------------------------------------------------------------


def test_new_occurrences_are_inserted(store: Store, source: int) -> None:
    assert merge(store, source, [call("a", 5), call("b", -48)]) == MergeResult(inserted=2)
    sessions = archived(store, source)
    assert sessions["a"] == dataclasses.replace(call("a", 5), changed_at=NOW)
    assert sessions["b"].sequence == 0 and sessions["b"].changed_at == NOW


def test_an_unchanged_fetch_changes_nothing(store: Store, source: int) -> None:
    merge(store, source, [call("a", 5)])
    assert merge(store, source, [call("a", 5)], now=LATER) == MergeResult(unchanged=1)
    assert archived(store, source)["a"].changed_at == NOW


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Renamed"},
        {"start": NOW + timedelta(hours=4)},
        {"end": NOW + timedelta(hours=7)},
        {"status": Status.CANCELLED},
        {"meeting_url": "https://meet.example.com/new-room"},
    ],
    ids=["title", "start", "end", "status", "link"],
)
def test_a_visible_change_raises_the_sequence(
    store: Store, source: int, change: dict[str, object]
) -> None:
    merge(store, source, [call("a", 5)])
    assert merge(store, source, [call("a", 5, **change)], now=LATER) == MergeResult(changed=1)
    updated = archived(store, source)["a"]
    assert updated == dataclasses.replace(call("a", 5, **change), sequence=1, changed_at=LATER)


def test_a_detail_change_is_stamped_without_a_new_sequence(store: Store, source: int) -> None:
    merge(store, source, [call("a", 5)])
    detail = call("a", 5, description="Bring a notebook", organizer_name="Asha")
    assert merge(store, source, [detail], now=LATER) == MergeResult(changed=1)
    assert archived(store, source)["a"] == dataclasses.replace(detail, changed_at=LATER)


def test_an_upcoming_occurrence_that_vanishes_is_cancelled(store: Store, source: int) -> None:
    merge(store, source, [call("a", 5), call("b", 6)])
    assert merge(store, source, [call("b", 6)], now=LATER) == MergeResult(vanished=1, unchanged=1)
    cancelled = archived(store, source)["a"]
    assert cancelled == dataclasses.replace(
        call("a", 5), status=Status.CANCELLED, sequence=1, changed_at=LATER
    )
    # Still missing later: nothing more happens.
    again = merge(store, source, [call("b", 6)], now=LATER + timedelta(hours=1))
    assert again == MergeResult(unchanged=1)
    assert archived(store, source)["a"] == cancelled


def test_a_past_occurrence_that_vanishes_is_kept_for_history(store: Store, source: int) -> None:
    past, ongoing = call("past", -30), call("ongoing", -0.5)
    merge(store, source, [past, ongoing])
    assert merge(store, source, [], now=LATER) == MergeResult(vanished=2)
    kept = archived(store, source)
    assert kept["past"] == dataclasses.replace(past, changed_at=NOW)
    assert kept["ongoing"] == dataclasses.replace(ongoing, changed_at=NOW)


def test_a_cancelled_occurrence_that_reappears_is_restored(store: Store, source: int) -> None:
    merge(store, source, [call("a", 5)])
    merge(store, source, [], now=LATER)
    back = LATER + timedelta(minutes=30)
    assert merge(store, source, [call("a", 5)], now=back) == MergeResult(restored=1)
    assert archived(store, source)["a"] == dataclasses.replace(
        call("a", 5), sequence=2, changed_at=back
    )


def test_a_past_occurrence_that_reappears_is_restored_as_it_was(store: Store, source: int) -> None:
    merge(store, source, [call("past", -30)])
    merge(store, source, [], now=LATER)
    assert merge(store, source, [call("past", -30)], now=LATER) == MergeResult(restored=1)
    assert archived(store, source)["past"].sequence == 0
    # It counts as present again: missing once more, it vanishes once more.
    assert merge(store, source, [], now=LATER) == MergeResult(vanished=1)


def test_an_upstream_cancellation_that_vanishes_keeps_its_sequence(
    store: Store, source: int
) -> None:
    merge(store, source, [call("a", 5, status=Status.CANCELLED)])
    assert merge(store, source, [], now=LATER) == MergeResult(vanished=1)
    gone = archived(store, source)["a"]
    assert gone.status is Status.CANCELLED and gone.sequence == 0 and gone.changed_at == NOW


def test_only_occurrences_starting_inside_the_window_can_vanish(store: Store, source: int) -> None:
    start, end = NOW + timedelta(days=1), NOW + timedelta(days=2)
    edges = [
        call("before", 23),  # starts an hour before the window
        call("at-start", 24),  # starts exactly at window start: inside
        call("near-end", 47.5),  # inside
        call("at-end", 48),  # starts exactly at window end: outside
    ]
    merge(store, source, edges)
    assert merge(store, source, [], now=LATER, window=(start, end)) == MergeResult(vanished=2)
    statuses = {key: s.status for key, s in archived(store, source).items()}
    assert statuses == {
        "before": Status.CONFIRMED,
        "at-start": Status.CANCELLED,
        "near-end": Status.CANCELLED,
        "at-end": Status.CONFIRMED,
    }


def test_a_listed_occurrence_outside_the_window_is_still_updated(store: Store, source: int) -> None:
    merge(store, source, [call("a", 5)])
    moved = call("a", 24 * 365)  # moved a year ahead, beyond the fetched window
    assert merge(store, source, [moved], now=LATER) == MergeResult(changed=1)
    assert archived(store, source)["a"] == dataclasses.replace(moved, sequence=1, changed_at=LATER)


def test_sources_with_the_same_upstream_ids_are_kept_apart(store: Store, source: int) -> None:
    other = store.add_source("tm2", "tagmango", {}, {"token": "t2"}).id
    merge(store, source, [call("a", 5)])
    merge(store, other, [call("a", 5, source_name="tm2", title="Other account")])
    assert merge(store, other, [], now=LATER) == MergeResult(vanished=1)
    assert archived(store, source)["a"].status is Status.CONFIRMED
    assert archived(store, other)["a"].status is Status.CANCELLED
    assert archived(store, other)["a"].title == "Other account"
    both = store.archived_sessions([source, other], NOW, NOW + timedelta(days=1))
    assert [(s.source_name, s.status) for s in both] == [
        ("tm", Status.CONFIRMED),
        ("tm2", Status.CANCELLED),
    ]


def test_partitions_of_one_source_are_kept_apart(store: Store, source: int) -> None:
    asha, ravi = Partition(source, "user=asha"), Partition(source, "user=ravi")
    assert merge(store, asha, [call("a", 5), call("shared", 6)]) == MergeResult(inserted=2)
    assert merge(store, ravi, [call("shared", 6)]) == MergeResult(inserted=1)
    # Ravi's narrower fetch does not make Asha's session vanish, nor the other way round.
    assert merge(store, ravi, [call("shared", 6)], now=LATER) == MergeResult(unchanged=1)
    assert merge(store, asha, [call("a", 5)], now=LATER) == MergeResult(vanished=1, unchanged=1)
    assert archived(store, asha)["a"].status is Status.CONFIRMED
    assert archived(store, asha)["shared"].status is Status.CANCELLED
    assert archived(store, ravi)["shared"].status is Status.CONFIRMED
    assert archived(store, source) == {}  # the whole source is a third partition
    assert archived(store, Partition(source)) == {}
    both = store.archived_sessions([ravi, asha, asha], NOW, NOW + timedelta(days=1))
    assert [(s.upstream_id, s.status) for s in both] == [
        ("a", Status.CONFIRMED),
        ("shared", Status.CANCELLED),  # "user=asha" sorts before "user=ravi"
        ("shared", Status.CONFIRMED),
    ]


def test_one_occurrence_has_one_sequence_across_the_partitions(store: Store, source: int) -> None:
    """A feed reading two partitions shows the version with the highest SEQUENCE, so the
    partition that saw a change last must rank above one that saw more changes earlier."""
    own, mango = Partition(source, "user=asha"), Partition(source, "mangoes=m1")
    for number, title in enumerate(("A", "B", "C", "D")):  # asha's query sees every change
        merge(store, own, [call("x", 5, title=title)], now=NOW + timedelta(minutes=number))
    assert archived(store, own)["x"].sequence == 3
    later = NOW + timedelta(hours=1)
    merge(store, mango, [call("x", 5, title="D")], now=later)  # first read: what asha shows
    assert archived(store, mango)["x"].sequence == 3
    merge(store, mango, [call("x", 5, title="E")], now=later + timedelta(minutes=1))
    assert archived(store, mango)["x"].sequence == 4  # above asha's stale version
    merge(store, own, [call("x", 5, title="E")], now=later + timedelta(minutes=2))
    assert archived(store, own)["x"].sequence == 4  # caught up: the same version, no bump
    merge(store, mango, [], now=later + timedelta(minutes=3))  # cancelled upstream
    assert archived(store, mango)["x"].sequence == 5
    assert archived(store, mango)["x"].status is Status.CANCELLED
    other = Partition(source, "user=ravi")
    merge(store, other, [call("x", 5, title="E")], now=later + timedelta(minutes=4))
    assert archived(store, other)["x"].sequence == 6  # the newest read ranks above the rest
    merge(store, other, [call("x", 5, title="E")], now=later + timedelta(minutes=5))
    assert archived(store, other)["x"].sequence == 6
    assert archived(store, mango)["x"].sequence == 5


def test_merge_result_says_whether_anything_changed() -> None:
    assert not MergeResult().changed_anything
    assert not MergeResult(unchanged=5).changed_anything
    for count in ("inserted", "changed", "vanished", "restored"):
        assert MergeResult(**{count: 1}).changed_anything


def test_repeated_listings(store: Store, source: int) -> None:
    assert merge(store, source, [call("a", 5), call("a", 5)]) == MergeResult(inserted=1)
    with pytest.raises(StoreError, match="listed session b twice with different content"):
        merge(store, source, [call("b", 5), call("b", 5, title="Other")])
    assert set(archived(store, source)) == {"a"}


def test_merge_refuses_bad_input(store: Store, source: int) -> None:
    academy = call("a", 5, source_kind=SourceKind.TRAINERCENTRAL)
    with pytest.raises(StoreError, match=r"is from trainercentral, but source .* tagmango"):
        merge(store, source, [academy])
    with pytest.raises(NotFound, match="no source with id 999"):
        merge(store, 999, [])
    with pytest.raises(StoreError, match=r"window start .* has no timezone"):
        merge(store, source, [], window=(datetime(2026, 1, 1), WINDOW[1]))
    with pytest.raises(StoreError, match="must end after it starts"):
        merge(store, source, [], window=(WINDOW[1], WINDOW[0]))
    assert archived(store, source) == {}


# -- reading the archive -----------------------------------------------------------------------


def test_archived_sessions_overlapping_a_range_in_order(store: Store, source: int) -> None:
    other = store.add_source("tm2", "tagmango", {}, {"token": "t2"}).id
    merge(store, source, [call("late", 10), call("b", 2), call("a", 2), call("old", -50)])
    merge(
        store,
        other,
        [
            call("a", 2, source_name="tm2"),
            call("long", 1, source_name="tm2", end=NOW + timedelta(3)),
        ],
    )
    window = (NOW + timedelta(hours=2, minutes=30), NOW + timedelta(hours=10))
    found = store.archived_sessions([other, source], *window)
    assert [(s.source_name, s.upstream_id) for s in found] == [
        ("tm2", "long"),  # started before the range, still running
        ("tm", "a"),
        ("tm", "b"),
        ("tm2", "a"),
    ]  # "late" starts at the range's end; "old" ended long before
    assert store.archived_sessions([source], *window) == [s for s in found if s.source_name == "tm"]
    assert store.archived_sessions([], *window) == []
    with pytest.raises(StoreError, match="has no timezone"):
        store.archived_sessions([source], datetime(2026, 1, 1), window[1])


def test_prune_archive(store: Store, source: int) -> None:
    merge(store, source, [call("old", -24 * 100), call("recent", -24), call("next", 24)])
    assert store.prune_archive(NOW - timedelta(days=30)) == 1
    assert set(archived(store, source)) == {"recent", "next"}


# -- concurrency -------------------------------------------------------------------------------


def test_concurrent_merges_of_one_source_do_not_corrupt_it(store: Store, source: int) -> None:
    fetches = [
        [call(f"s{i}", i, title=f"version {round_}") for i in range(12)] for round_ in range(2)
    ]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def refresh(sessions: list[Session]) -> None:
        barrier.wait()
        try:
            for step in range(8):
                merge(store, source, sessions[step % 3 :], now=NOW + timedelta(minutes=step))
        except BaseException as error:  # reported below, with the thread's traceback lost
            errors.append(error)

    threads = [threading.Thread(target=refresh, args=(fetch,)) for fetch in fetches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    final = merge(store, source, fetches[0], now=NOW + timedelta(hours=1))
    assert final.inserted == 0 and final.vanished == 0
    sessions = archived(store, source)
    assert sorted(sessions) == sorted(f"s{i}" for i in range(12))
    assert all(s.title == "version 0" and s.status is Status.CONFIRMED for s in sessions.values())


def test_pruning_forgets_the_sequence_of_an_occurrence_no_partition_holds(
    store: Store, source: int
) -> None:
    own, mango = Partition(source, "user=asha"), Partition(source, "mangoes=m1")
    merge(store, own, [call("old", -30, title="A")], now=NOW - timedelta(days=2))
    merge(store, own, [call("old", -30, title="B")], now=NOW - timedelta(days=2))
    store.prune_archive(NOW)
    assert archived(store, own) == {}
    merge(store, mango, [call("old", -30, title="C")], now=NOW)
    assert archived(store, mango)["old"].sequence == 0  # a fresh start, not 2
