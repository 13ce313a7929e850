"""The store's sources, secrets, feeds, share links and rendered feeds, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bridge.crypto import CredentialBox, CredentialError
from bridge.signing import hash_token
from bridge.store import FetchState, NotFound, Store, StoreError
from bridge.store.direct import DirectQuery
from bridge.store.engine import normalize_url
from bridge.store.feed_queries import _FEED_BY_TOKEN, _SHARE_BY_TOKEN
from feeds.model import Scope, SourceKind
from tests.stores import Clock, Partition

KEY = "store-test-secret-key-0123456789"
OTHER_KEY = "another-secret-key-0123456789"
API_KEY = "tm-live-api-key-9f8e7d6c5b4a"
SETTINGS = {"whitelabel_host": "academy.example.com", "api_base": "http://127.0.0.1:9"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database_url: str, clock: Clock) -> Iterator[Store]:
    with Store(database_url, CredentialBox(KEY), clock=clock) as opened:
        yield opened


def raw_rows(database_url: str, query: str) -> list[tuple[object, ...]]:
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query))]
    finally:
        engine.dispose()


# -- health ------------------------------------------------------------------------------------


def test_healthy(store: Store) -> None:
    assert store.healthy()


def test_unreachable_database_is_unhealthy() -> None:
    with Store("postgresql://postgres@127.0.0.1:1/none", CredentialBox(KEY)) as unreachable:
        assert not unreachable.healthy()


def test_sqlite_file_goes_into_a_new_instance_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'instance' / 'calbridge.db').as_posix()}"
    with Store(url, CredentialBox(KEY)) as created:
        created.migrate()
        assert created.healthy()
    assert (tmp_path / "instance" / "calbridge.db").is_file()


# -- sources -----------------------------------------------------------------------------------


def test_add_and_look_up_sources(store: Store, clock: Clock) -> None:
    tagmango = store.add_source("tm", "tagmango", SETTINGS, {"token": API_KEY})
    trainercentral = store.add_source(
        "academy", SourceKind.TRAINERCENTRAL, {"org_id": "1"}, {"refresh_token": "r"}
    )
    assert tagmango.name == "tm" and tagmango.kind is SourceKind.TAGMANGO
    assert tagmango.settings == SETTINGS
    assert tagmango.created_at == clock.now
    assert store.list_sources() == [tagmango, trainercentral]
    assert store.source(trainercentral.id) == trainercentral
    assert store.source_by_name("academy") == trainercentral
    assert store.source_credentials(tagmango) == {"token": API_KEY}
    assert store.source_credentials(trainercentral.id) == {"refresh_token": "r"}


def test_source_errors(store: Store) -> None:
    store.add_source("tm", "tagmango", SETTINGS, {"token": API_KEY})
    with pytest.raises(StoreError, match=r"^a source named tm already exists$"):
        store.add_source("tm", "trainercentral", {}, {})
    with pytest.raises(StoreError, match="unknown source kind 'zoom'"):
        store.add_source("z", "zoom", {}, {})
    with pytest.raises(StoreError, match="1 to 100 characters"):
        store.add_source("  ", "tagmango", {}, {})
    with pytest.raises(StoreError, match="source credentials must be JSON-serialisable"):
        store.add_source("x", "tagmango", {}, {"when": datetime.now(UTC)})
    assert store.source_by_name("nope") is None
    assert store.source(999) is None
    assert store.source(2**64) is None and store.feed(2**64) is None and store.share(-1) is None
    with pytest.raises(NotFound, match="no source with id 999"):
        store.source_credentials(999)
    assert [source.name for source in store.list_sources()] == ["tm"]


def test_concurrent_adds_of_one_name_leave_one_source(store: Store) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def add() -> None:
        barrier.wait()
        try:
            store.add_source("same", "tagmango", {}, {"token": "t"})
            outcomes.append("added")
        except StoreError as error:
            outcomes.append(str(error))

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["a source named same already exists"] * 3 + ["added"]


def test_credentials_are_unreadable_in_the_raw_database(store: Store, database_url: str) -> None:
    store.add_source("tm", "tagmango", SETTINGS, {"token": API_KEY})
    store.save("zoho:academy", "1000.zoho-access-token", datetime(2030, 1, 1, tzinfo=UTC))
    dumped = repr(raw_rows(database_url, "SELECT * FROM sources"))
    dumped += repr(raw_rows(database_url, "SELECT * FROM upstream_tokens"))
    assert "academy.example.com" in dumped  # settings are plain, secrets are not
    assert API_KEY not in dumped and "zoho-access-token" not in dumped
    database_file = make_url(database_url).database or ""
    for path in Path(database_file).parent.glob("calbridge.db*"):  # SQLite: the file and its WAL
        data = path.read_bytes()
        assert API_KEY.encode() not in data and b"zoho-access-token" not in data


def test_credentials_need_the_key_or_a_fallback(store: Store, database_url: str) -> None:
    source = store.add_source("tm", "tagmango", SETTINGS, {"token": API_KEY})
    store.save("zoho:academy", "access", datetime(2030, 1, 1, tzinfo=UTC))
    with Store(database_url, CredentialBox(OTHER_KEY)) as wrong_key:
        with pytest.raises(CredentialError, match="cannot be decrypted"):
            wrong_key.source_credentials(source)
        assert wrong_key.load("zoho:academy") is None  # a new token will be fetched
    with Store(database_url, CredentialBox(OTHER_KEY, [KEY])) as rotating:
        assert rotating.source_credentials(source) == {"token": API_KEY}
        assert rotating.reencrypt_secrets() == 2
    with Store(database_url, CredentialBox(OTHER_KEY)) as rotated:
        assert rotated.source_credentials(source) == {"token": API_KEY}
        assert rotated.load("zoho:academy") is not None
    with pytest.raises(CredentialError):
        store.source_credentials(source)


def test_record_fetch(store: Store, clock: Clock) -> None:
    source = store.add_source("tm", "tagmango", SETTINGS, {"token": API_KEY})
    assert not source.failing
    assert store.fetch_state(source.id) == FetchState(source.id, "")
    first = clock.advance(minutes=1)
    store.record_fetch(source.id, True, None, first)
    second = clock.advance(minutes=1)
    store.record_fetch(source.id, False, "tm: the API key was rejected" + "!" * 5000, second)
    for failing in (store.source(source.id), store.fetch_state(source.id)):
        assert failing is not None
        assert failing.last_success_at == first and failing.last_error_at == second
        assert failing.last_error is not None and failing.last_error.startswith("tm: the API")
        assert len(failing.last_error) == 2000
        assert failing.failing
    store.record_fetch(source.id, True, None, clock.advance(minutes=1))
    recovered = store.fetch_state(source.id)
    assert not recovered.failing and recovered.last_error_at == second
    with pytest.raises(StoreError, match="has no timezone"):
        store.record_fetch(source.id, True, None, datetime(2026, 1, 1))
    with pytest.raises(NotFound):
        store.record_fetch(999, True, None, clock.now)


def test_fetch_state_is_kept_per_partition(store: Store, clock: Clock) -> None:
    source = store.add_source("tm", "tagmango", SETTINGS, {"token": API_KEY})
    asha, ravi = Partition(source.id, "user=asha"), Partition(source.id, "user=ravi")
    store.record_fetch(asha, True, None, clock.now)
    store.record_fetch(ravi, False, "tm: user not found", clock.advance(minutes=1))
    assert store.fetch_state(asha) == FetchState(
        source.id, "user=asha", last_success_at=clock.now - timedelta(minutes=1), registered=True
    )
    assert store.fetch_state(ravi).failing and store.fetch_state(ravi).last_success_at is None
    assert store.fetch_state(source.id).last_success_at is None  # the whole source: never
    summary = store.source(source.id)  # the source summarises its partitions
    assert summary is not None and summary.failing and summary.last_success_at is not None


# -- upstream access tokens --------------------------------------------------------------------


def test_the_store_is_a_token_store(store: Store) -> None:
    expires = datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
    store.save("zoho:academy", "via-protocol", expires)
    assert store.load("zoho:academy") == ("via-protocol", expires)
    assert store.load("zoho:unknown") is None


def test_tokens_are_saved_replaced_and_loaded(store: Store) -> None:
    assert store.load("zoho:academy") is None
    expires = datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
    store.save("zoho:academy", "first", expires)
    store.save("zoho:academy", "second", expires + timedelta(hours=1))
    store.save("zoho:other", "third", expires)
    assert store.load("zoho:academy") == ("second", expires + timedelta(hours=1))
    assert store.load("zoho:other") == ("third", expires)
    with pytest.raises(StoreError, match=r"token expiry .* has no timezone"):
        store.save("zoho:academy", "x", datetime(2026, 1, 1))


def test_tokens_survive_a_restart(database_url: str) -> None:
    expires = datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
    with Store(database_url, CredentialBox(KEY)) as first:
        first.save("zoho:academy", "kept", expires)
    with Store(database_url, CredentialBox(KEY)) as second:
        assert second.load("zoho:academy") == ("kept", expires)


# -- feeds -------------------------------------------------------------------------------------


@pytest.fixture
def sources(store: Store) -> tuple[int, int]:
    first = store.add_source("tm", "tagmango", SETTINGS, {"token": API_KEY})
    second = store.add_source("academy", "trainercentral", {}, {"access_token": "a"})
    return first.id, second.id


def test_create_feed(store: Store, sources: tuple[int, int], clock: Clock) -> None:
    first, second = sources
    feed, token = store.create_feed(
        "Asha's sessions",
        [second, first, second],
        timezone="Asia/Kolkata",
        history_days=14,
        horizon_days=90,
        filters={"user": "u1", "mangoes": ["m1"]},
        alarm_minutes=None,
    )
    assert feed.source_ids == (second, first)  # order kept, repeats dropped
    assert (feed.timezone, feed.history_days, feed.horizon_days) == ("Asia/Kolkata", 14, 90)
    assert feed.filters == {"user": "u1", "mangoes": ["m1"]}
    assert feed.alarm_minutes is None
    assert feed.created_at == clock.now and feed.gone_reason(clock.now) is None
    assert feed.owner == f"f{feed.id}"
    assert store.feed(feed.id) == feed
    assert store.feed_by_token(token) == feed
    assert store.feed_by_token(token + "x") is None
    assert store.list_feeds() == [feed]


def test_feed_tokens_are_stored_only_as_hashes(
    store: Store, sources: tuple[int, int], database_url: str
) -> None:
    _feed, token = store.create_feed("F", [sources[0]])
    rows = repr(raw_rows(database_url, "SELECT * FROM feeds"))
    assert token not in rows and hash_token(token) in rows


def test_rotate_makes_the_old_token_unknown(
    store: Store, sources: tuple[int, int], clock: Clock
) -> None:
    feed, old = store.create_feed("F", [sources[0]])
    rotated_at = clock.advance(hours=1)
    new = store.rotate_feed(feed.id)
    assert new != old
    assert store.feed_by_token(old) is None
    found = store.feed_by_token(new)
    assert found is not None and found.id == feed.id and found.rotated_at == rotated_at


def test_revoke_is_instant_and_idempotent(
    store: Store, sources: tuple[int, int], clock: Clock
) -> None:
    feed, token = store.create_feed("F", [sources[0]])
    revoked_at = clock.advance(minutes=5)
    revoked = store.revoke_feed(feed.id)
    assert revoked.revoked_at == revoked_at
    assert revoked.gone_reason(clock.now) == "revoked"
    found = store.feed_by_token(token)  # still known: the web layer answers 410, not 404
    assert found is not None and found.gone_reason(clock.now) == "revoked"
    clock.advance(minutes=5)
    assert store.revoke_feed(feed.id).revoked_at == revoked_at
    with pytest.raises(StoreError, match="is revoked"):
        store.rotate_feed(feed.id)
    with pytest.raises(StoreError, match="cannot be shared"):
        store.create_share(feed.id)


FEED_MISTAKES: list[tuple[dict[str, object], str]] = [
    ({"name": " "}, "a feed name must be 1 to 200 characters"),
    ({"source_ids": []}, "at least one source"),
    ({"source_ids": [999]}, "no source with id 999"),
    ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ({"timezone": "../etc/passwd"}, "unknown time zone"),
    ({"history_days": -1}, "history_days must be a whole number of at least 0"),
    ({"horizon_days": 0}, "horizon_days must be a whole number of at least 1"),
    ({"horizon_days": 1.5}, "horizon_days must be a whole number"),
    ({"alarm_minutes": -5}, "alarm_minutes must be between 0 and 10080 minutes"),
    ({"alarm_minutes": 10081}, "alarm_minutes must be between 0 and 10080 minutes"),
    ({"filters": {"user": object()}}, "feed filters must be JSON-serialisable"),
]


def test_feed_validation(store: Store, sources: tuple[int, int]) -> None:
    for arguments, message in FEED_MISTAKES:
        values: dict[str, object] = {"name": "F", "source_ids": [sources[0]], **arguments}
        with pytest.raises(StoreError, match=message):
            store.create_feed(**values)  # type: ignore[arg-type]
    assert store.list_feeds() == []


def test_unknown_feed_ids(store: Store) -> None:
    assert store.feed(42) is None
    for call in (store.rotate_feed, store.revoke_feed, store.list_shares):
        with pytest.raises(NotFound, match="no feed with id 42"):
            call(42)


# -- share links -------------------------------------------------------------------------------


def test_share_links(store: Store, sources: tuple[int, int], clock: Clock) -> None:
    feed, feed_token = store.create_feed("F", [sources[0]])
    expires = clock.now + timedelta(days=7)
    share, token = store.create_share(feed.id, "busy", expires)
    assert share.scope is Scope.BUSY and share.expires_at == expires
    assert share.feed == feed and share.feed_id == feed.id and share.owner == f"s{share.id}"
    assert share.gone_reason(clock.now) is None
    assert store.share_by_token(token) == share
    assert store.share(share.id) == share
    assert store.feed_by_token(token) is None and store.share_by_token(feed_token) is None
    forever, _ = store.create_share(feed.id)
    assert forever.scope is Scope.FULL and forever.expires_at is None
    assert store.list_shares(feed.id) == [share, forever]


def test_direct_queries_return_what_a_connection_returns(
    store: Store, sources: tuple[int, int], database_url: str
) -> None:
    """The hot-path token lookups skip SQLAlchemy's Connection but not its types: JSON,
    aware UTC instants, NULLs and integers come back as a Connection gives them."""
    feed, _ = store.create_feed("F", [sources[1], sources[0]], filters={"user": "u1"})
    share, share_token = store.create_share(
        feed.id, "busy", datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    store.revoke_share(share.id)
    engine = create_engine(normalize_url(database_url))
    try:
        direct = DirectQuery(engine, _SHARE_BY_TOKEN)
        with engine.connect() as connection:
            expected = connection.execute(_SHARE_BY_TOKEN, {"token_hash": hash_token(share_token)})
            expected_rows = [tuple(row) for row in expected]
        rows = direct.all(token_hash=hash_token(share_token))
        assert [tuple(row) for row in rows] == expected_rows and len(rows) == 2
        assert (
            rows[0].feed_filters == {"user": "u1"} and rows[0].share_revoked_at.tzinfo is not None
        )
        assert direct.all(token_hash="unknown") == []
        assert engine.pool.checkedout() == 0  # every connection went back to the pool
    finally:
        engine.dispose()


def test_a_database_error_in_a_direct_query_reaches_the_caller(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            DirectQuery(engine, _FEED_BY_TOKEN).all(token_hash="x")
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()


def test_direct_queries_survive_a_dropped_connection(
    store: Store, sources: tuple[int, int], database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite connections are not dropped by a server")
    feed, token = store.create_feed("F", [sources[0]])
    assert store.feed_by_token(token) == feed  # leaves a connection in the direct pool
    terminate = text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    admin = create_engine(normalize_url(database_url))
    try:
        with admin.connect() as connection:
            assert connection.execute(terminate).all()  # the server drops the store's connections
    finally:
        admin.dispose()
    assert store.feed_by_token(token) == feed


def test_share_expiry_and_revocation(store: Store, sources: tuple[int, int], clock: Clock) -> None:
    feed, _ = store.create_feed("F", [sources[0]])
    expiring, expiring_token = store.create_share(feed.id, Scope.NO_LINKS, clock.now + timedelta(1))
    revocable, revocable_token = store.create_share(feed.id)
    later = clock.now + timedelta(days=2)
    assert expiring.gone_reason(later) == "expired"
    assert expiring.gone_reason(clock.now) is None
    revoked = store.revoke_share(revocable.id)
    assert revoked.gone_reason(clock.now) == "revoked"
    assert store.revoke_share(revocable.id).revoked_at == revoked.revoked_at  # idempotent
    found = store.share_by_token(revocable_token)
    assert found is not None and found.gone_reason(clock.now) == "revoked"
    store.revoke_feed(feed.id)  # a revoked feed takes its share links with it
    after = store.share_by_token(expiring_token)
    assert after is not None and after.gone_reason(clock.now) == "revoked"


def test_share_errors(store: Store, sources: tuple[int, int]) -> None:
    feed, _ = store.create_feed("F", [sources[0]])
    with pytest.raises(StoreError, match="unknown scope 'everything'"):
        store.create_share(feed.id, "everything")
    with pytest.raises(StoreError, match=r"expiry .* has no timezone"):
        store.create_share(feed.id, "full", datetime(2026, 1, 1))
    with pytest.raises(NotFound, match="no feed with id 77"):
        store.create_share(77)
    assert store.share(5) is None
    with pytest.raises(NotFound, match="no share link with id 5"):
        store.revoke_share(5)
    assert store.share_by_token("unknown") is None
    assert store.list_shares(feed.id) == []
