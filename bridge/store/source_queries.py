"""Sources (upstream accounts with encrypted credentials) and their upstream access tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bridge.crypto import CredentialError
from feeds.model import SourceKind

from .base import StoreBase, aware_utc, check_json_object, storable_id, upsert
from .rows import NotFound, SourceRow, StoreError
from .tables import ParticipantTable, SourceTable, UpstreamTokenTable


def source_row(row: SourceTable) -> SourceRow:
    return SourceRow(
        id=row.id,
        name=row.name,
        kind=SourceKind(row.kind),
        settings=dict(row.settings),
        created_at=row.created_at,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
    )


class SourceQueries(StoreBase):
    """Store methods for sources and their upstream access tokens."""

    def add_source(
        self,
        name: str,
        kind: SourceKind | str,
        settings: dict[str, Any],
        credentials: dict[str, Any],
    ) -> SourceRow:
        """Register an upstream account; credentials are stored encrypted."""
        name = name.strip()
        if not name or len(name) > 100:
            raise StoreError("a source name must be 1 to 100 characters long")
        try:
            source_kind = SourceKind(kind)
        except ValueError:
            known = ", ".join(k.value for k in SourceKind)
            raise StoreError(f"unknown source kind {kind!r} (known: {known})") from None
        check_json_object(settings, "source settings")
        check_json_object(credentials, "source credentials")
        row = SourceTable(
            name=name,
            kind=source_kind.value,
            settings=settings,
            credentials_encrypted=self._box.encrypt(credentials),
            created_at=self._clock(),
        )
        try:
            with self._write() as db:
                if db.scalar(select(SourceTable.id).where(SourceTable.name == name)) is not None:
                    raise StoreError(f"a source named {name} already exists")
                db.add(row)
                db.flush()
                return source_row(row)
        except IntegrityError:  # a concurrent add of the same name won the race
            raise StoreError(f"a source named {name} already exists") from None

    def list_sources(self) -> list[SourceRow]:
        with self._read() as db:
            return [source_row(row) for row in db.scalars(select(SourceTable).order_by("id"))]

    def source(self, source_id: int) -> SourceRow | None:
        if not storable_id(source_id):
            return None
        with self._read() as db:
            row = db.get(SourceTable, source_id)
            return None if row is None else source_row(row)

    def source_by_name(self, name: str) -> SourceRow | None:
        with self._read() as db:
            row = db.scalar(select(SourceTable).where(SourceTable.name == name))
            return None if row is None else source_row(row)

    def source_credentials(self, source: SourceRow | int) -> dict[str, Any]:
        """The decrypted credentials; `CredentialError` when the secret key cannot open them."""
        source_id = source if isinstance(source, int) else source.id
        with self._read() as db:
            encrypted = db.scalar(
                select(SourceTable.credentials_encrypted).where(SourceTable.id == source_id)
            )
        if encrypted is None:
            raise NotFound(f"no source with id {source_id}")
        return self._box.decrypt(encrypted)

    # -- upstream access tokens (the TokenStore protocol of the TrainerCentral client) -------

    def load(self, key: str) -> tuple[str, datetime] | None:
        """A saved access token and its expiry; None if absent or sealed with a lost key."""
        with self._read() as db:
            row = db.get(UpstreamTokenTable, key)
            if row is None:
                return None
            encrypted, expires_at = row.token_encrypted, row.expires_at
        try:
            token = self._box.decrypt(encrypted).get("token")
        except CredentialError:
            return None  # a fresh token is cheaper than failing the refresh
        return (token, expires_at) if isinstance(token, str) else None

    def save(self, key: str, token: str, expires_at: datetime) -> None:
        """Keep an access token (encrypted) until it is replaced."""
        values = {
            "key": key,
            "token_encrypted": self._box.encrypt({"token": token}),
            "expires_at": aware_utc(expires_at, "token expiry"),
            "saved_at": self._clock(),
        }
        with self._write() as db:
            upsert(db, UpstreamTokenTable, values, ["key"])

    # The TokenStore protocol of bridge.upstream.trainercentral, so the Store can be passed
    # as `token_store=` directly.
    def reencrypt_secrets(self) -> int:
        """Re-encrypt every credential and token with the current key (end of a key rotation).

        Returns how many values were rewritten; afterwards the fallback keys can be dropped.
        """
        count = 0
        with self._write() as db:
            for source in db.scalars(select(SourceTable)):
                source.credentials_encrypted = self._box.rotate(source.credentials_encrypted)
                count += 1
            for token in db.scalars(select(UpstreamTokenTable)):
                token.token_encrypted = self._box.rotate(token.token_encrypted)
                count += 1
            sealed = select(ParticipantTable).where(ParticipantTable.token_encrypted.is_not(None))
            for participant in db.scalars(sealed):  # participant feed tokens (for their links)
                participant.token_encrypted = self._box.rotate(participant.token_encrypted)
                count += 1
        return count
