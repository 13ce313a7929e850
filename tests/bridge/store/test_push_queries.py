"""Push targets in the store: the password sealed at rest, due pushes claimed once, failures
counted until a success, and the record of what calbridge created in each calendar."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from bridge.crypto import CredentialBox
from bridge.store import NotFound, Store
from bridge.store.engine import normalize_url
from bridge.store.push_queries import PushedObject, PushOutcome
from feeds.calendar_objects import fingerprint
from tests.stores import Clock

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
URL = "https://cloud.example.com/remote.php/dav/calendars/me/personal/"
SECRET = "app-password-5up3r-s3cret"


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with Store(database_url, CredentialBox("push-queries-secret-key-0123"), clock=Clock(NOW)) as s:
        yield s


def a_feed(store: Store, name: str = "tm") -> int:
    source = store.add_source(name, "tagmango", {}, {"token": "t"})
    feed, _ = store.create_feed(
        name="Feed",
        source_ids=[source.id],
        timezone="UTC",
        history_days=30,
        horizon_days=90,
        filters={"user": None, "mangoes": []},
        alarm_minutes=None,
    )
    return feed.id


def test_the_password_is_sealed_at_rest(store: Store, database_url: str) -> None:
    target = store.add_push_target(a_feed(store), URL, "me", SECRET, NOW)
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT * FROM push_targets")).one()
    finally:
        engine.dispose()
    assert all(SECRET not in str(value) for value in row)
    assert store.push_password(target.id) == SECRET
    with pytest.raises(NotFound):
        store.push_password(999)


def test_due_pushes_are_claimed_once(store: Store) -> None:
    feed = a_feed(store)
    first = store.add_push_target(feed, URL, "me", SECRET, NOW)  # due at once
    second = store.add_push_target(feed, URL + "x/", "me", SECRET, NOW + timedelta(minutes=5))
    hold = timedelta(minutes=5)
    assert store.claim_due_pushes(NOW, hold, 10) == [first.id]
    assert store.claim_due_pushes(NOW, hold, 10) == []
    later = NOW + timedelta(minutes=5)
    assert sorted(store.claim_due_pushes(later, hold, 10)) == [first.id, second.id]


def test_failures_count_until_a_success(store: Store) -> None:
    target = store.add_push_target(a_feed(store), URL, "me", SECRET, NOW)
    retry = NOW + timedelta(minutes=1)
    store.finish_push(target.id, PushOutcome(NOW, retry, error="refused (HTTP 401)"))
    row = store.finish_push(target.id, PushOutcome(NOW, retry, error="refused (HTTP 401)"))
    assert row is not None and row.failures == 2 and row.failing
    assert (row.last_error, row.last_error_at, row.next_attempt_at) == (
        "refused (HTTP 401)",
        NOW,
        retry,
    )
    assert row.last_push_at is None
    ok = store.finish_push(
        target.id, PushOutcome(NOW, retry, pushed_through=7, generation="g1", checked=True)
    )
    assert ok is not None and ok.failures == 0 and ok.last_error is None
    assert (ok.last_push_at, ok.checked_at, ok.pushed_through, ok.generation) == (NOW, NOW, 7, "g1")
    assert ok.last_error_at == NOW  # when the last failure was, for the record


def test_the_record_of_pushed_events_gives_the_fingerprint(store: Store) -> None:
    target = store.add_push_target(a_feed(store), URL, "me", SECRET, NOW)
    store.record_pushed(target.id, PushedObject("u1", URL + "1.ics", "e1", '"r1"'))
    store.record_pushed(target.id, PushedObject("u2", URL + "2.ics", "e2", None))
    store.record_pushed(target.id, PushedObject("u1", URL + "1.ics", "e1b", '"r1b"'))
    store.forget_pushed(target.id, "u2")
    assert store.pushed_objects(target.id) == {
        "u1": PushedObject("u1", URL + "1.ics", "e1b", '"r1b"')
    }
    row = store.finish_push(target.id, PushOutcome(NOW, None))
    assert row is not None and row.fingerprint == fingerprint([("u1", "e1b")])
    assert row.objects == 1 and store.push_targets()[0].objects == 1


def test_targets_reading_a_source_and_removal(store: Store) -> None:
    feed = a_feed(store)
    other = a_feed(store, "other")
    target = store.add_push_target(feed, URL, "me", SECRET, NOW)
    store.add_push_target(other, URL, "me", SECRET, NOW)
    source = store.feed(feed).source_ids[0]  # type: ignore[union-attr]
    assert store.push_targets_reading(source) == [(target.id, feed)]
    store.record_pushed(target.id, PushedObject("u1", URL + "1.ics", "e1", None))
    store.remove_push_target(target.id)
    assert store.push_target(target.id) is None and store.pushed_objects(target.id) == {}
    with pytest.raises(NotFound):
        store.remove_push_target(target.id)
    assert [t.feed_id for t in store.push_targets()] == [other]
