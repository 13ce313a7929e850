"""From a stored source (settings + decrypted credentials) and a partition to an upstream
client (bridge.partitions says what a partition is)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.partitions import Partition, SourceConfigError
from bridge.upstream.base import SourceClient
from bridge.upstream.tagmango import TagMangoClient, TagMangoConfig
from bridge.upstream.trainercentral import TrainerCentralClient, TrainerCentralConfig
from feeds.model import SourceKind


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
