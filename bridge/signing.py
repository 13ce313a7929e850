"""Feed tokens and join tokens.

Feed (and share) tokens are random capability secrets: `new_token` makes one (192 bits) and
only `hash_token(token)` is stored, so a leaked database does not leak working feed URLs and
rotation or revocation takes effect on the next request.

Join tokens are deterministic, so the same event always carries the same link and a feed's
bytes stay stable: an itsdangerous signature over (owner, event uid, generation), where the
owner is the feed ("f12") or share link ("s3") the link was published in and the generation
names that owner's current token (`token_generation`: a short digest of its hash, so it changes
exactly when the token is rotated). A join link published under an earlier token, for instance
in a leaked copy of the feed from before `feed rotate`, is thereby told apart from the links the
new address publishes and refused (bridge.web.access.join_view). The newest key signs; the keys
in CALBRIDGE_SECRET_KEY_FALLBACKS still verify during a key rotation. itsdangerous compares
signatures in constant time.

Join links published before generations existed are [owner, uid] only: `verify` returns them
with `generation=None`, and bridge.web.access.join_view accepts them only while their feed has
never been rotated (then the token they were published under is still the current one).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeSerializer

JOIN_SALT = "calbridge.join"
GENERATION_LENGTH = 12  # hex digits of a token generation: 48 bits, never equal by chance
MAX_JOIN_TOKEN_LENGTH = 2048  # longer input is refused before any decoding work


def new_token() -> str:
    """A fresh random URL-safe token (24 bytes = 192 bits of entropy, 32 characters)."""
    return secrets.token_urlsafe(24)


def caldav_password(token: str) -> str:
    """The CalDAV password of the feed or share link whose token is `token`, such as
    `k7qp2-m4xdr-...`: 100 bits in 4 groups of 5 letters and digits, to type on a phone.

    Derived from the token, so the subscribe page (opened with the token) can show it again
    and rotating the token changes it; one-way, so the password does not reveal the feed URL.
    Only its `hash_token` is stored.
    """
    digest = hashlib.sha256(b"calbridge caldav password\x00" + token.encode("utf-8")).digest()
    letters = base64.b32encode(digest).decode("ascii").lower()[:20]
    return "-".join(letters[i : i + 5] for i in range(0, 20, 5))


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token: what the database stores and looks up.

    A plain hash suffices (no salt or key): the tokens are long random values, so there is
    nothing to guess, and the hash must not change when the secret key is rotated.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_generation(token_hash: str) -> str:
    """The generation of a feed or share token, from its stored hash, for join tokens to carry.

    A digest of the hash rather than a piece of it, so a join link (whose payload anyone can
    read) shows nothing of the value the database looks tokens up by.
    """
    if not token_hash:
        raise ValueError("a token generation needs the token's hash")
    digest = hashlib.sha256(f"{JOIN_SALT}.generation:{token_hash}".encode("ascii"))
    return digest.hexdigest()[:GENERATION_LENGTH]


class BadJoinToken(Exception):
    """A join token that was not made by this instance (forged, garbled or from an old key)."""


@dataclass(frozen=True, slots=True)
class JoinClaim:
    """What a valid join token says: which feed/share published it, for which event, under
    which generation of its token (None: a link from before generations, see the module doc)."""

    owner: str
    uid: str
    generation: str | None = None


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

    def sign(self, owner: str, uid: str, generation: str) -> str:
        """The join token for event `uid` published by `owner` under its token `generation`;
        same input, same token."""
        if not owner or not uid or not generation:
            raise ValueError("a join token needs an owner, an event uid and a generation")
        token = self._serializer.dumps([owner, uid, generation])
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
            or len(payload) not in (2, 3)
            or not all(isinstance(part, str) and part for part in payload)
        ):
            # Signed by us, so only a bug or a change of format can get here.
            raise BadJoinToken("the join link has an unknown format")
        return JoinClaim(*payload)
