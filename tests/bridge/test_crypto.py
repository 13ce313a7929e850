"""Credential encryption: round trips, key rotation, and clear errors for the wrong key."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from bridge.crypto import CredentialBox, CredentialError, derive_fernet_key

KEY = "current-secret-key-0123456789"
OLD_KEY = "previous-secret-key-0123456789"
CREDENTIALS = {"token": "tm-api-key-ABC123", "nested": {"refresh_token": "1000.zoho"}}


def test_round_trip_hides_the_plaintext() -> None:
    box = CredentialBox(KEY)
    sealed = box.encrypt(CREDENTIALS)
    assert sealed.isascii()
    assert "tm-api-key" not in sealed and "zoho" not in sealed
    assert box.decrypt(sealed) == CREDENTIALS
    assert box.encrypt(CREDENTIALS) != sealed  # a fresh IV every time


def test_wrong_key_is_a_clear_error_not_garbage() -> None:
    sealed = CredentialBox(OLD_KEY).encrypt(CREDENTIALS)
    with pytest.raises(CredentialError, match="cannot be decrypted with CALBRIDGE_SECRET_KEY"):
        CredentialBox(KEY).decrypt(sealed)


@pytest.mark.parametrize("garbled", ["", "not-a-token", "gAAAAA" + "x" * 80, "ünïcode"])
def test_garbled_values_are_refused(garbled: str) -> None:
    with pytest.raises(CredentialError):
        CredentialBox(KEY).decrypt(garbled)


def test_fallback_keys_decrypt_during_rotation() -> None:
    sealed_with_old = CredentialBox(OLD_KEY).encrypt(CREDENTIALS)
    rotating = CredentialBox(KEY, [OLD_KEY])
    assert rotating.decrypt(sealed_with_old) == CREDENTIALS
    resealed = rotating.rotate(sealed_with_old)
    assert CredentialBox(KEY).decrypt(resealed) == CREDENTIALS
    with pytest.raises(CredentialError):
        CredentialBox(OLD_KEY).decrypt(resealed)
    # New values are always sealed with the current key.
    assert CredentialBox(KEY).decrypt(rotating.encrypt({"a": 1})) == {"a": 1}


def test_rotate_refuses_what_it_cannot_open() -> None:
    with pytest.raises(CredentialError):
        CredentialBox(KEY).rotate(CredentialBox(OLD_KEY).encrypt(CREDENTIALS))


def test_decrypted_value_must_be_a_json_object() -> None:
    fernet = Fernet(derive_fernet_key(KEY))
    for payload in (b"[1, 2]", b"not json"):
        with pytest.raises(CredentialError, match="not a JSON object"):
            CredentialBox(KEY).decrypt(fernet.encrypt(payload).decode())
    assert CredentialBox(KEY).decrypt(fernet.encrypt(json.dumps({"a": 1}).encode()).decode()) == {
        "a": 1
    }


def test_encrypt_wants_a_dict() -> None:
    with pytest.raises(TypeError, match="must be a dict"):
        CredentialBox(KEY).encrypt(["token"])  # type: ignore[arg-type]


def test_key_derivation_is_deterministic_and_key_specific() -> None:
    assert derive_fernet_key(KEY) == derive_fernet_key(KEY)
    assert derive_fernet_key(KEY) != derive_fernet_key(OLD_KEY)
    Fernet(derive_fernet_key(KEY))  # a valid Fernet key
    with pytest.raises(ValueError, match="must not be empty"):
        derive_fernet_key("")
