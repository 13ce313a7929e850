"""Feed tokens (random, hashed) and join tokens (deterministic, signed, rotatable, bound to the
generation of the feed's token)."""

from __future__ import annotations

import hashlib
import string

import pytest
from itsdangerous import URLSafeSerializer

from bridge.signing import (
    JOIN_SALT,
    BadJoinToken,
    JoinClaim,
    JoinSigner,
    hash_token,
    new_token,
    token_generation,
)

KEY = "current-secret-key-0123456789"
OLD_KEY = "previous-secret-key-0123456789"
UID = "tagmango-6650f1a2b3c4d5e6f7a8b9c0@calbridge.local"
URL_SAFE = set(string.ascii_letters + string.digits + "-_.")
GEN = token_generation(hash_token("the-feed-token"))


def legacy_serializer(key: str = KEY) -> URLSafeSerializer:
    """Signs payloads as JoinSigner does, including the formats it no longer makes."""
    return URLSafeSerializer(key, salt=JOIN_SALT, signer_kwargs={"digest_method": hashlib.sha256})


def test_new_tokens_are_long_random_and_url_safe() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert len(token) == 32  # 24 random bytes = 192 bits
        assert set(token) <= URL_SAFE


def test_hash_token() -> None:
    token = new_token()
    digest = hash_token(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert len(digest) == 64 and token not in digest
    assert hash_token(token + "x") != digest


def test_token_generation_is_a_short_digest_that_changes_with_the_token() -> None:
    token_hash = hash_token("the-feed-token")
    assert token_generation(token_hash) == GEN
    assert len(GEN) == 12 and set(GEN) <= set(string.hexdigits.lower())
    assert GEN not in token_hash  # a digest of the stored hash, not a piece of it
    assert token_generation(hash_token("the-rotated-token")) != GEN
    with pytest.raises(ValueError, match="hash"):
        token_generation("")


def test_join_tokens_are_deterministic_and_compact() -> None:
    signer = JoinSigner(KEY)
    token = signer.sign("f12", UID, GEN)
    assert token == JoinSigner(KEY).sign("f12", UID, GEN)
    assert set(token) <= URL_SAFE
    assert len(token) < 180
    assert signer.verify(token) == JoinClaim(owner="f12", uid=UID, generation=GEN)
    assert signer.sign("s3", UID, GEN) != token
    assert signer.sign("f12", UID + "x", GEN) != token
    other_generation = token_generation(hash_token("the-rotated-token"))
    assert signer.sign("f12", UID, other_generation) != token


def test_join_tokens_from_before_generations_still_verify_without_one() -> None:
    legacy = legacy_serializer().dumps(["f12", UID])
    assert JoinSigner(KEY).verify(legacy) == JoinClaim(owner="f12", uid=UID, generation=None)


def tamper(token: str, index: int) -> str:
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


@pytest.mark.parametrize("where", ["payload", "signature"])
def test_tampered_tokens_are_refused(where: str) -> None:
    signer = JoinSigner(KEY)
    token = signer.sign("f12", UID, GEN)
    index = 3 if where == "payload" else len(token) - 3
    with pytest.raises(BadJoinToken):
        signer.verify(tamper(token, index))


@pytest.mark.parametrize("garbage", ["", "x", "a.b", "....", "€uro.sig", "A" * 5000])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(BadJoinToken, match="not valid"):
        JoinSigner(KEY).verify(garbage)


def test_another_salt_or_key_does_not_verify() -> None:
    other_purpose = URLSafeSerializer(KEY, salt="something else").dumps(["f12", UID])
    with pytest.raises(BadJoinToken):
        JoinSigner(KEY).verify(other_purpose)
    with pytest.raises(BadJoinToken):
        JoinSigner(KEY).verify(JoinSigner(OLD_KEY).sign("f12", UID, GEN))


def test_fallback_key_verifies_during_rotation() -> None:
    old_token = JoinSigner(OLD_KEY).sign("f12", UID, GEN)
    rotating = JoinSigner(KEY, [OLD_KEY])
    assert rotating.verify(old_token) == JoinClaim("f12", UID, GEN)
    new_token_ = rotating.sign("f12", UID, GEN)
    assert new_token_ == JoinSigner(KEY).sign("f12", UID, GEN) != old_token
    assert JoinSigner(KEY).verify(new_token_) == JoinClaim("f12", UID, GEN)


def test_signed_payload_of_another_shape_is_refused() -> None:
    serializer = legacy_serializer()
    for payload in (
        {"owner": "f1"},
        ["f1"],
        ["f1", ""],
        ["f1", 2],
        ["f1", UID, ""],
        ["f1", UID, 7],
        ["f1", UID, GEN, "more"],
    ):
        with pytest.raises(BadJoinToken, match="unknown format"):
            JoinSigner(KEY).verify(serializer.dumps(payload))


def test_sign_needs_owner_uid_and_generation() -> None:
    for owner, uid, generation in (("", UID, GEN), ("f1", "", GEN), ("f1", UID, "")):
        with pytest.raises(ValueError, match="owner, an event uid and a generation"):
            JoinSigner(KEY).sign(owner, uid, generation)
    with pytest.raises(ValueError, match="must not be empty"):
        JoinSigner("")
