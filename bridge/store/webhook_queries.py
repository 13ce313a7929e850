"""TagMango webhooks in the store: each source's secret, handled deliveries, replay links."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from bridge.crypto import CredentialError
from bridge.signing import hash_token, new_token

from .base import StoreBase, aware_utc, insert_unless_present, upsert
from .rows import NotFound, SourceRow
from .source_queries import source_row
from .tables import (
    FetchStateTable,
    RecordingTable,
    SourceTable,
    WebhookDeliveryTable,
    WebhookSecretTable,
)

_LOOKUP_CHUNK = 500
# How long a handled delivery is remembered, to recognise it if upstream sends it again.
DELIVERY_MEMORY = timedelta(days=1)


class WebhookQueries(StoreBase):
    """Store methods behind `POST /hooks/tagmango/<secret>`."""

    def webhook_secret(self, source_id: int, *, create: bool = True) -> str | None:
        """The source's webhook secret (≥ 128 random bits), created on first use unless
        `create` is False (then None when there is none, or when it cannot be opened)."""
        with self._read() as db:
            sealed = db.scalar(
                select(WebhookSecretTable.secret_encrypted).where(
                    WebhookSecretTable.source_id == source_id
                )
            )
        if sealed is not None:
            try:
                return str(self._box.decrypt(sealed)["secret"])
            except CredentialError:
                if not create:
                    return None
                raise
        if not create:
            return None
        secret = new_token()
        try:
            with self._write() as db:
                if db.get(SourceTable, source_id) is None:
                    raise NotFound(f"no source with id {source_id}")
                db.add(
                    WebhookSecretTable(
                        source_id=source_id,
                        secret_hash=hash_token(secret),
                        secret_encrypted=self._box.encrypt({"secret": secret}),
                    )
                )
        except IntegrityError:  # created by a concurrent caller: use theirs
            return self.webhook_secret(source_id, create=False)
        return secret

    def source_for_webhook(self, secret: str) -> SourceRow | None:
        """The source whose webhook URL carries `secret` (looked up by its hash)."""
        with self._read() as db:
            row = db.scalar(
                select(SourceTable)
                .join(WebhookSecretTable, WebhookSecretTable.source_id == SourceTable.id)
                .where(WebhookSecretTable.secret_hash == hash_token(secret))
            )
            return None if row is None else source_row(row)

    def delivery_seen(self, source_id: int, digest: str) -> bool:
        """Whether this delivery was handled before."""
        with self._read() as db:
            return db.get(WebhookDeliveryTable, (source_id, digest)) is not None

    def record_delivery(self, source_id: int, digest: str, at: datetime) -> bool:
        """Note a delivery; False when the same one was noted before (a duplicate)."""
        values = {"source_id": source_id, "digest": digest, "received_at": aware_utc(at, "now")}
        with self._write() as db:
            return insert_unless_present(db, WebhookDeliveryTable, values)

    def forget_deliveries(self, received_before: datetime) -> None:
        table = WebhookDeliveryTable
        with self._write() as db:
            db.execute(delete(table).where(table.received_at < received_before))

    def save_recordings(self, source_id: int, urls: Mapping[str, str], at: datetime) -> None:
        """Keep the replay link of each upstream id (a newer link replaces an older one)."""
        with self._write() as db:
            for upstream_id, url in urls.items():
                values = {
                    "source_id": source_id,
                    "upstream_id": upstream_id,
                    "url": url,
                    "received_at": aware_utc(at, "now"),
                }
                upsert(db, RecordingTable, values, ["source_id", "upstream_id"])

    def recordings(self, source_id: int, upstream_ids: Iterable[str]) -> dict[str, str]:
        """The replay links known for these upstream ids of the source."""
        ids = list(dict.fromkeys(upstream_ids))
        found: dict[str, str] = {}
        table = RecordingTable
        with self._read() as db:
            for at in range(0, len(ids), _LOOKUP_CHUNK):
                chunk = ids[at : at + _LOOKUP_CHUNK]
                rows = db.execute(
                    select(table.upstream_id, table.url).where(
                        table.source_id == source_id, table.upstream_id.in_(chunk)
                    )
                )
                found.update((upstream_id, url) for upstream_id, url in rows)
        return found

    def source_partitions(self, source_id: int) -> list[tuple[int, str]]:
        """The partitions of a source that feeds read (as registered with the schedule)."""
        table = FetchStateTable
        with self._read() as db:
            keys = db.scalars(select(table.partition_key).where(table.source_id == source_id))
            return [(source_id, key) for key in keys]
