"""Feed tokens and join tokens.

Feed (and share) tokens are random capability secrets: `new_token` makes one (192 bits) and
only `hash_token(token)` is stored, so a leaked database does not leak working feed URLs and
rotation or revocation takes effect on the next request.

Join tokens are deterministic, so the same event always carries the same link and a feed's
bytes stay stable: an itsdangerous signature over (owner, event uid), where the owner is the
feed ("f12") or share link ("s3") the link was published in. The newest key signs; the keys
in CALBRIDGE_SECRET_KEY_FALLBACKS still verify during a key rotation. itsdangerous compares
signatures in constant time.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeSerializer

JOIN_SALT = "calbridge.join"
MAX_JOIN_TOKEN_LENGTH = 2048  # longer input is refused before any decoding work


def new_token() -> str:
    """A fresh random URL-safe token (24 bytes = 192 bits of entropy, 32 characters)."""
    return secrets.token_urlsafe(24)


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token: what the database stores and looks up.

    A plain hash suffices (no salt or key): the tokens are long random values, so there is
    nothing to guess, and the hash must not change when the secret key is rotated.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class BadJoinToken(Exception):
    """A join token that was not made by this instance (forged, garbled or from an old key)."""


@dataclass(frozen=True, slots=True)
class JoinClaim:
    """What a valid join token says: which feed/share published it, for which event."""

    owner: str
    uid: str


class JoinSigner:
    """Signs and verifies join tokens with the secret key (and its fallbacks)."""

    def __init__(self, secret_key: str, fallbacks: Iterable[str] = ()) -> None:
        if not secret_key:
            raise ValueError("the secret key must not be empty")
        # itsdangerous signs with the last key and verifies with every key in the list.
        keys = [*(key for key in fallbacks if key != secret_key), secret_key]
        self._serializer = URLSafeSerializer(
            keys, salt=JOIN_SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )

    def sign(self, owner: str, uid: str) -> str:
        """The join token for event `uid` published by `owner`; same input, same token."""
        if not owner or not uid:
            raise ValueError("a join token needs an owner and an event uid")
        token = self._serializer.dumps([owner, uid])
        assert isinstance(token, str)
        return token

    def verify(self, token: str) -> JoinClaim:
        """The claim inside a token made by `sign`; `BadJoinToken` for anything else."""
        if not token or len(token) > MAX_JOIN_TOKEN_LENGTH:
            raise BadJoinToken("the join link is not valid")
        try:
            payload = self._serializer.loads(token)
        except BadData:
            raise BadJoinToken("the join link is not valid") from None
        if (
            not isinstance(payload, list)
            or len(payload) != 2
            or not all(isinstance(part, str) and part for part in payload)
        ):
            # Signed by us, so only a bug or a change of format can get here.
            raise BadJoinToken("the join link has an unknown format")
        return JoinClaim(owner=payload[0], uid=payload[1])
