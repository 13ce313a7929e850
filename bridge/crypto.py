"""Encryption at rest for upstream credentials (API keys, OAuth secrets, access tokens).

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with keys derived from
CALBRIDGE_SECRET_KEY by HKDF-SHA256, so the operator manages one secret. Old keys listed in
CALBRIDGE_SECRET_KEY_FALLBACKS still decrypt (MultiFernet) while a key rotation is under way;
`rotate` re-encrypts a value with the current key so the fallback can then be dropped.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_HKDF_INFO = b"calbridge credentials"


class CredentialError(Exception):
    """Stored credentials cannot be decrypted (wrong key) or are not a JSON object."""


def derive_fernet_key(secret_key: str) -> bytes:
    """The Fernet key (urlsafe base64 of 32 bytes) derived from a calbridge secret key."""
    if not secret_key:
        raise ValueError("the secret key must not be empty")
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret_key.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw)


class CredentialBox:
    """Encrypts JSON objects with the current key; decrypts with the current key or a fallback."""

    def __init__(self, secret_key: str, fallbacks: Iterable[str] = ()) -> None:
        keys = [secret_key, *(key for key in fallbacks if key != secret_key)]
        self._fernet = MultiFernet([Fernet(derive_fernet_key(key)) for key in keys])

    def encrypt(self, values: dict[str, Any]) -> str:
        """Encrypt a JSON-serialisable dict; the result is an ASCII Fernet token."""
        if not isinstance(values, dict):
            raise TypeError(f"credentials must be a dict, not {type(values).__name__}")
        plaintext = json.dumps(values, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return self._fernet.encrypt(plaintext).decode("ascii")

    def decrypt(self, token: str) -> dict[str, Any]:
        """Decrypt a value made by `encrypt` with this key or one of the fallbacks."""
        plaintext = self._open(token)
        try:
            values = json.loads(plaintext)
        except ValueError:
            values = None
        if not isinstance(values, dict):
            raise CredentialError("decrypted credentials are not a JSON object")
        return values

    def rotate(self, token: str) -> str:
        """Re-encrypt `token` with the current key (after checking it opens)."""
        self._open(token)
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")

    def _open(self, token: str) -> bytes:
        try:
            return self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise CredentialError(
                "stored credentials cannot be decrypted with CALBRIDGE_SECRET_KEY or any key in "
                "CALBRIDGE_SECRET_KEY_FALLBACKS (was the key changed without keeping the old one "
                "as a fallback?)"
            ) from None
