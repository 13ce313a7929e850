"""From a stored source (settings + decrypted credentials) to an upstream client.

A feed may narrow a TagMango source to one participant (`user`) or to some
products (`mangoes`); each distinct narrowing is its own upstream query, so it
is its own *partition* of the archive. The unfiltered source is partition "".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from bridge.upstream.base import SourceClient
from bridge.upstream.tagmango import TagMangoClient, TagMangoConfig
from bridge.upstream.trainercentral import TrainerCentralClient, TrainerCentralConfig
from feeds.model import SourceKind

MAX_PARTITION_KEY = 255  # fetch_states.partition_key


class SourceConfigError(ValueError):
    """A source or feed option that cannot work (the message says which and why)."""


@dataclass(frozen=True, order=True)
class Partition:
    """One upstream query of one source: the source plus the feed's narrowing filters."""

    source_id: int
    user: str | None = None
    mangoes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The filters as stored with the fetch state: "user=…&mangoes=a,b", each value
        percent-encoded, so any id reads back the same (`from_key`)."""
        parts = []
        if self.user:
            parts.append(f"user={quote(self.user, safe='')}")
        if self.mangoes:
            parts.append("mangoes=" + ",".join(quote(m, safe="") for m in self.mangoes))
        return "&".join(parts)

    @classmethod
    def from_key(cls, source_id: int, key: str) -> Partition:
        """The partition whose `key` is `key` (as stored with its fetch state)."""
        fields = dict(part.split("=", 1) for part in key.split("&") if "=" in part)
        mangoes = tuple(unquote(m) for m in fields.get("mangoes", "").split(",") if m)
        return cls(source_id, unquote(fields.get("user", "")) or None, mangoes)


def partition_for(source_id: int, kind: str, filters: Mapping[str, Any]) -> Partition:
    """The partition a feed with `filters` reads from this source."""
    user = filters.get("user") or None
    mangoes = tuple(sorted(filters.get("mangoes") or ()))
    if (user or mangoes) and kind != SourceKind.TAGMANGO:
        raise SourceConfigError(
            "--user and --mangoes narrow TagMango sources only; "
            f"source {source_id} is a {kind} source"
        )
    partition = Partition(source_id, user, mangoes)
    if len(partition.key) > MAX_PARTITION_KEY:
        raise SourceConfigError(
            f"--user and --mangoes together are too long ({len(partition.key)} characters "
            f"once encoded, at most {MAX_PARTITION_KEY})"
        )
    return partition


def tagmango_config(
    name: str,
    settings: Mapping[str, Any],
    credentials: Mapping[str, Any],
    partition: Partition | None = None,
) -> TagMangoConfig:
    """A stored TagMango source's client configuration (narrowed to a partition, if given)."""
    partition = partition or Partition(0)
    return TagMangoConfig(
        name=name,
        token=credentials["token"],
        whitelabel_host=settings["whitelabel_host"],
        api_base=settings.get("api_base") or TagMangoConfig.api_base,
        timezone=settings.get("timezone") or TagMangoConfig.timezone,
        mangoes=partition.mangoes or tuple(settings.get("mangoes") or ()),
        user=partition.user or settings.get("user") or None,
    )


def build_client(
    kind: str,
    name: str,
    settings: Mapping[str, Any],
    credentials: Mapping[str, Any],
    partition: Partition,
    *,
    token_store: Any = None,
) -> SourceClient:
    """An upstream client for one partition of a stored source."""
    if kind == SourceKind.TAGMANGO:
        return TagMangoClient(tagmango_config(name, settings, credentials, partition))
    if kind == SourceKind.TRAINERCENTRAL:
        tc_config = TrainerCentralConfig(
            name=name,
            org_id=settings["org_id"],
            academy_url=settings["academy_url"],
            filter=str(settings.get("filter") or "1"),
            accounts_url=settings.get("accounts_url") or TrainerCentralConfig.accounts_url,
            access_token=credentials.get("access_token"),
            client_id=credentials.get("client_id"),
            client_secret=credentials.get("client_secret"),
            refresh_token=credentials.get("refresh_token"),
        )
        return TrainerCentralClient(tc_config, token_store=token_store)
    raise SourceConfigError(f"unknown source kind {kind!r}")
