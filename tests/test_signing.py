"""Feed tokens (random, hashed) and join tokens (deterministic, signed, rotatable)."""

from __future__ import annotations

import hashlib
import string

import pytest
from itsdangerous import URLSafeSerializer

from bridge.signing import JOIN_SALT, BadJoinToken, JoinClaim, JoinSigner, hash_token, new_token

KEY = "current-secret-key-0123456789"
OLD_KEY = "previous-secret-key-0123456789"
UID = "tagmango-6650f1a2b3c4d5e6f7a8b9c0@calbridge.local"
URL_SAFE = set(string.ascii_letters + string.digits + "-_.")


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


def test_join_tokens_are_deterministic_and_compact() -> None:
    signer = JoinSigner(KEY)
    token = signer.sign("f12", UID)
    assert token == JoinSigner(KEY).sign("f12", UID)
    assert set(token) <= URL_SAFE
    assert len(token) < 160
    assert signer.verify(token) == JoinClaim(owner="f12", uid=UID)
    assert signer.sign("s3", UID) != token
    assert signer.sign("f12", UID + "x") != token


def tamper(token: str, index: int) -> str:
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


@pytest.mark.parametrize("where", ["payload", "signature"])
def test_tampered_tokens_are_refused(where: str) -> None:
    signer = JoinSigner(KEY)
    token = signer.sign("f12", UID)
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
        JoinSigner(KEY).verify(JoinSigner(OLD_KEY).sign("f12", UID))


def test_fallback_key_verifies_during_rotation() -> None:
    old_token = JoinSigner(OLD_KEY).sign("f12", UID)
    rotating = JoinSigner(KEY, [OLD_KEY])
    assert rotating.verify(old_token) == JoinClaim("f12", UID)
    new_token_ = rotating.sign("f12", UID)
    assert new_token_ == JoinSigner(KEY).sign("f12", UID) != old_token
    assert JoinSigner(KEY).verify(new_token_) == JoinClaim("f12", UID)


def test_signed_payload_of_another_shape_is_refused() -> None:
    serializer = URLSafeSerializer(
        KEY, salt=JOIN_SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )
    for payload in ({"owner": "f1"}, ["f1"], ["f1", ""], ["f1", 2]):
        with pytest.raises(BadJoinToken, match="unknown format"):
            JoinSigner(KEY).verify(serializer.dumps(payload))


def test_sign_needs_owner_and_uid() -> None:
    with pytest.raises(ValueError, match="owner and an event uid"):
        JoinSigner(KEY).sign("", UID)
    with pytest.raises(ValueError, match="must not be empty"):
        JoinSigner("")
