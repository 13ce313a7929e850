"""The change log: every merge's changes, numbered in commit order, read back by "since N"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.crypto import CredentialBox
from bridge.store import Store, StoreError
from bridge.store.change_log import ChangesPruned
from bridge.store.rows import ChangeKind
from feeds.model import Session, SourceKind
from tests.stores import Clock, Partition

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = (NOW - timedelta(days=2), NOW + timedelta(days=60))


def call(upstream_id: str, hours: float, title: str | None = None) -> Session:
    start = NOW + timedelta(hours=hours)
    return Session(
        source_kind=SourceKind.TAGMANGO,
        source_name="tm",
        upstream_id=upstream_id,
        title=title or f"Call {upstream_id}",
        start=start,
        end=start + timedelta(hours=1),
    )


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with Store(database_url, CredentialBox("change-log-secret-key-0123"), clock=Clock(NOW)) as s:
        yield s


def merge(store: Store, partition: Partition, sessions: list[Session], now: datetime = NOW):  # type: ignore[no-untyped-def]
    return store.merge_sessions(partition, sessions, *WINDOW, now)


def kinds(store: Store, partition: Partition, since: int) -> list[tuple[str, ChangeKind]]:
    page = store.changes_since([partition], since)
    return [(change.upstream_id, change.kind) for change in page.changes]


def test_each_merge_logs_what_it_changed_in_order(store: Store) -> None:
    source = store.add_source("tm", "tagmango", {}, {"token": "t"}).id
    alice = Partition(source, "user=alice")
    merge(store, alice, [call("a", 2), call("b", 30), call("c", 50)])
    first = store.latest_change_number()
    assert kinds(store, alice, 0) == [(u, ChangeKind.ADDED) for u in ("a", "b", "c")]
    merge(store, alice, [call("a", 2, "Renamed"), call("b", 30), call("c", 50)])  # a changed
    merge(store, alice, [call("a", 2, "Renamed"), call("c", 50)])  # b vanished: cancelled
    merge(store, alice, [call("a", 2, "Renamed"), call("c", 50)])  # nothing
    assert kinds(store, alice, first) == [("a", ChangeKind.CHANGED), ("b", ChangeKind.CANCELLED)]
    page = store.changes_since([alice], first)
    assert [c.number for c in page.changes] == [first + 1, first + 2]
    assert page.latest == store.latest_change_number() == first + 2 and not page.more
    assert store.changes_since([alice], page.latest).changes == ()


def test_changes_are_read_per_partition_and_paged(store: Store) -> None:
    source = store.add_source("tm", "tagmango", {}, {"token": "t"}).id
    alice, bob = Partition(source, "user=alice"), Partition(source, "user=bob")
    merge(store, alice, [call("a", 2)])
    merge(store, bob, [call(f"b{n}", 2 + n) for n in range(5)])
    merge(store, alice, [call("a", 2), call("a2", 3)])
    assert kinds(store, alice, 0) == [("a", ChangeKind.ADDED), ("a2", ChangeKind.ADDED)]
    page = store.changes_since([alice, bob], 0, limit=4)
    assert len(page.changes) == 4 and page.more and page.latest == page.changes[-1].number
    rest = store.changes_since([alice, bob], page.latest, limit=4)
    assert len(rest.changes) == 3 and not rest.more
    assert store.changes_since([], 0).changes == ()


def test_a_failed_merge_logs_nothing(store: Store) -> None:
    source = store.add_source("tm", "tagmango", {}, {"token": "t"}).id
    alice = Partition(source, "user=alice")
    with pytest.raises(StoreError, match="twice with different content"):
        merge(store, alice, [call("a", 2), call("new", 3), call("a", 2, "Other")])
    assert store.latest_change_number() == 0 and kinds(store, alice, 0) == []


def test_pruning_logs_removals_and_expires_older_numbers(store: Store) -> None:
    source = store.add_source("tm", "tagmango", {}, {"token": "t"}).id
    alice = Partition(source, "user=alice")
    long_ago = NOW - timedelta(days=40)
    merge(store, alice, [call("old", -41 * 24), call("new", 2)], now=long_ago)
    before = store.latest_change_number()
    assert store.prune_archive(NOW - timedelta(days=10)) == 1  # "old" ended 41 days ago
    page = store.changes_since([alice], before)
    assert [(c.upstream_id, c.kind) for c in page.changes] == [("old", ChangeKind.REMOVED)]
    with pytest.raises(ChangesPruned, match="read the whole feed again"):
        store.changes_since([alice], before - 1)  # its additions, logged 40 days ago: gone
    kept = store.changes_since([alice], 0)  # 0: every change still kept
    assert [(c.upstream_id, c.kind) for c in kept.changes] == [("old", ChangeKind.REMOVED)]
    with pytest.raises(ChangesPruned):
        store.changes_since([alice], page.latest + 1)  # a number from another database


def test_a_second_prune_keeps_recent_changes(store: Store) -> None:
    source = store.add_source("tm", "tagmango", {}, {"token": "t"}).id
    alice = Partition(source, "user=alice")
    merge(store, alice, [call("old", -41 * 24), call("new", 2)], now=NOW - timedelta(days=40))
    store.prune_archive(NOW - timedelta(days=10))
    seen = store.latest_change_number()
    merge(store, alice, [call("new", 2, "Renamed")])
    assert store.prune_archive(NOW - timedelta(days=10)) == 0
    assert store.prune_archive(NOW - timedelta(days=9)) == 0
    assert kinds(store, alice, seen) == [("new", ChangeKind.CHANGED)]  # still readable


def test_numbers_survive_a_restart(store: Store, database_url: str) -> None:
    source = store.add_source("tm", "tagmango", {}, {"token": "t"}).id
    alice = Partition(source, "user=alice")
    merge(store, alice, [call("a", 2)])
    seen = store.latest_change_number()
    with Store(database_url, CredentialBox("change-log-secret-key-0123")) as restarted:
        merge(restarted, alice, [call("a", 2), call("b", 4)])
        assert kinds(restarted, alice, seen) == [("b", ChangeKind.ADDED)]


def test_the_merge_result_carries_its_changes(store: Store, tmp_path: Path) -> None:
    source = store.add_source("tm", "tagmango", {}, {"token": "t"}).id
    merged = merge(store, Partition(source), [call("a", 2)])
    assert [(c.upstream_id, c.kind) for c in merged.changes] == [("a", ChangeKind.ADDED)]
