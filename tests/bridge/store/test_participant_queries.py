"""Participants in the store, on SQLite and PostgreSQL: a feed made with its participant, the
sealed token read back (and re-sealed by a key rotation), updates, revocation, re-joining."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.crypto import CredentialBox
from bridge.signing import hash_token
from bridge.store import Store
from bridge.store.participant_queries import FeedSpec
from tests.stores import BACKENDS, migrated_database_url

KEY = "participant-store-secret-key-0123"


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with migrated_database_url(request.param, tmp_path) as database_url:
        yield database_url


def spec(source_id: int, user: str) -> FeedSpec:
    return FeedSpec(f"Studio: {user}", (source_id,), "UTC", 30, 180, {"user": user}, 10)


def test_a_participant_and_their_feed(url: str) -> None:
    with Store(url, CredentialBox(KEY)) as store:
        source = store.add_source("studio", "tagmango", {"whitelabel_host": "h"}, {"token": "k"})
        row, feed, token = store.add_participant(
            source.id,
            "u1",
            name="Asha",
            email="a@example.org",
            mangoes=["m1"],
            feed=spec(source.id, "u1"),
        )
        assert row.active and row.feed_id == feed.id and feed.filters == {"user": "u1"}
        assert feed.token_hash == hash_token(token)
        assert store.participant_token(row) == token

        updated = store.update_participant(
            source.id, "u1", name="Asha V.", email="a@example.org", mangoes=["m1", "m2"]
        )
        assert (updated.name, updated.mangoes) == ("Asha V.", ("m1", "m2"))
        assert updated.feed_id == feed.id

        revoked = store.revoke_participant(source.id, "u1", "expired")
        assert (revoked.status, revoked.active) == ("expired", False)
        assert store.feed(feed.id).revoked_at is not None
        assert store.participant_token(revoked) is None
        assert store.revoke_participant(source.id, "u1", "left").status == "expired"  # idempotent

        back, new_feed, _ = store.add_participant(
            source.id, "u1", name="Asha", email="", mangoes=[], feed=spec(source.id, "u1")
        )
        assert back.id == row.id and back.active and new_feed.id != feed.id
        assert [p.user_id for p in store.participants(source.id)] == ["u1"]


def test_a_key_rotation_reseals_participant_tokens(url: str) -> None:
    with Store(url, CredentialBox("old-" + KEY)) as store:
        source = store.add_source("studio", "tagmango", {"whitelabel_host": "h"}, {"token": "k"})
        row, _, token = store.add_participant(
            source.id, "u1", name="", email="", mangoes=[], feed=spec(source.id, "u1")
        )
    with Store(url, CredentialBox(KEY, ["old-" + KEY])) as store:
        assert store.reencrypt_secrets() == 2  # the source's credentials and the token
    with Store(url, CredentialBox(KEY)) as store:
        assert store.participant_token(row) == token
