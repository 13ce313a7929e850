"""Partitions: the upstream queries feeds read, each with its own archive and fetch state.

A feed may narrow a TagMango source to one participant (`user`) or to some
products (`mangoes`); each distinct narrowing is its own upstream query, so it
is its own *partition* of the archive. The unfiltered source is partition "".
bridge.upstream.clients turns a stored source and a partition into an upstream client.

A participant's feed (bridge/participants) reads more than its own `user` query: also one
partition per mango the roster says they hold (`HELD_MANGOES` in its filters). Those are
shared by every holder, so a webhook naming a mango refreshes one partition, read in a
request or two, and every holder's feed shows the change within seconds; the participant's
own query, which alone finds their 1:1 calls, follows on its schedule. Where two partitions
hold one occurrence the feed shows the newer version (bridge.store.archive aligns SEQUENCE
across partitions).

A mango's partition lists every call of the mango, other participants' 1:1 calls included, so
a holder's feed takes from it only what `holder_sees`: the calls their own query listed too,
and calls for every holder (`Session.group_call`). A call of unknown kind waits for their own
query: never a stranger's 1:1 call in someone's calendar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from feeds.model import Session, SourceKind

MAX_PARTITION_KEY = 255  # fetch_states.partition_key
# The filter naming the mangoes a participant holds (a feed's extra partitions, see above).
HELD_MANGOES = "held_mangoes"


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


def _held_partitions(source_id: int, filters: Mapping[str, Any]) -> list[Partition]:
    """The partitions of the mangoes a participant's feed holds (a `user`, not narrowed to
    mangoes); none for any other feed."""
    if not filters.get("user") or filters.get("mangoes"):
        return []
    held = sorted(set(filters.get(HELD_MANGOES) or ()))
    return [Partition(source_id, None, (mango,)) for mango in held]


def feed_partitions(source_id: int, kind: str, filters: Mapping[str, Any]) -> list[Partition]:
    """Every partition a feed with `filters` reads from this source: its own query, then one
    per held mango when the feed is a participant's."""
    return [partition_for(source_id, kind, filters), *_held_partitions(source_id, filters)]


def split_held(
    filters: Mapping[str, Any], partitions: list[Partition]
) -> tuple[list[Partition], list[Partition]]:
    """A feed's partitions as (its own queries, the partitions of the mangoes it holds)."""
    held = {
        h
        for source_id in {p.source_id for p in partitions}
        for h in _held_partitions(source_id, filters)
    }
    return [p for p in partitions if p not in held], [p for p in partitions if p in held]


def holder_sees(session: Session, own_ids: set[str]) -> bool:
    """Whether a session from a held mango's partition belongs in the holder's feed, given the
    upstream ids of the sessions their own query listed."""
    return session.upstream_id in own_ids or session.group_call is True
