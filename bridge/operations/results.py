"""What the operations return: small frozen dataclasses, one typed contract for the CLI, the
admin API and the subscribe pages.

`to_json()` gives the object the admin API answers and `--json` prints: its keys, their order
and their values are a stable interface (tests/bridge/web/test_api.py, tests/bridge/test_cli.py,
and the schemas of bridge.web.openapi that tests/bridge/web/test_openapi.py checks the answers
against). Times are ISO 8601 strings there (None stays null), tuples are lists.

A result that adds to another extends it (`FeedCreated` is a `FeedInfo` with its new
token's links and CalDAV login), and its JSON is the other's with the added keys after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Protocol, TypedDict

from bridge.links import CalDavLogin, FeedLinks
from bridge.store import FeedRow, ShareRow, SourceRow
from bridge.store.rows import ChangeKind
from feeds.model import Scope, SourceKind

# The JSON of a result, for jsonify and json.dumps (values: str, int, bool, None, lists).
JsonObject = dict[str, object]


class ToJson(Protocol):
    def to_json(self) -> JsonObject: ...


class FeedFilters(TypedDict):
    """How a feed narrows its sources: one TagMango user's calls, some TagMango products."""

    user: str | None
    mangoes: list[str]


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _base_fields(instance: object, base: type) -> dict[str, object]:
    """The fields of `base` (a dataclass) that `instance` has, by name."""
    return {item.name: getattr(instance, item.name) for item in fields(base)}


# -- sources -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceInfo:
    """A source without its credentials; a TagMango source with its webhook URL once it has
    one. Its JSON spreads `settings` (the kind's own: whitelabel_host, org_id...) at the top."""

    id: int
    name: str
    kind: SourceKind
    settings: Mapping[str, object] = field(hash=False)
    webhook_url: str | None = None

    @classmethod
    def of_row(cls, source: SourceRow, webhook_url: str | None) -> SourceInfo:
        return cls(source.id, source.name, source.kind, dict(source.settings), webhook_url)

    def to_json(self) -> JsonObject:
        info: JsonObject = {"id": self.id, "name": self.name, "kind": self.kind, **self.settings}
        if self.webhook_url is not None:
            info["webhook_url"] = self.webhook_url
        return info


@dataclass(frozen=True)
class SourceWebhooks(SourceInfo):
    """A TagMango source whose webhook URL was just registered for these events."""

    registered: tuple[str, ...] = ()

    @classmethod
    def of(cls, source: SourceInfo, registered: tuple[str, ...]) -> SourceWebhooks:
        return cls(**_base_fields(source, SourceInfo), registered=registered)

    def to_json(self) -> JsonObject:
        return {**super().to_json(), "registered": list(self.registered)}


# -- feeds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedInfo:
    """A feed as the operator sees it (its URLs are secret and not stored)."""

    id: int
    name: str
    sources: tuple[str, ...]  # the sources' names (the id, as text, of one no longer known)
    timezone: str
    history_days: int
    horizon_days: int
    user: str | None
    mangoes: tuple[str, ...]
    alarm_minutes: int | None
    created_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of_row(cls, feed: FeedRow, source_names: Mapping[int, str]) -> FeedInfo:
        return cls(
            id=feed.id,
            name=feed.name,
            sources=tuple(source_names.get(number, str(number)) for number in feed.source_ids),
            timezone=feed.timezone,
            history_days=feed.history_days,
            horizon_days=feed.horizon_days,
            user=feed.filters.get("user"),
            mangoes=tuple(feed.filters.get("mangoes") or ()),
            alarm_minutes=feed.alarm_minutes,
            created_at=feed.created_at,
            rotated_at=feed.rotated_at,
            revoked_at=feed.revoked_at,
        )

    def to_json(self) -> JsonObject:
        return {
            "id": self.id,
            "name": self.name,
            "sources": list(self.sources),
            "timezone": self.timezone,
            "history_days": self.history_days,
            "horizon_days": self.horizon_days,
            "user": self.user,
            "mangoes": list(self.mangoes),
            "alarm_minutes": self.alarm_minutes,
            "created_at": iso(self.created_at),
            "rotated_at": iso(self.rotated_at),
            "revoked_at": iso(self.revoked_at),
        }


def _token_json(links: FeedLinks, login: CalDavLogin) -> JsonObject:
    return {**vars(links), **vars(login)}


@dataclass(frozen=True)
class FeedCreated(FeedInfo):
    """A feed with its new token's addresses and CalDAV login (`feed create` and `feed
    rotate`): shown this once, as only the token's hash is stored."""

    links: FeedLinks
    login: CalDavLogin

    @classmethod
    def of(cls, feed: FeedInfo, links: FeedLinks, login: CalDavLogin) -> FeedCreated:
        return cls(**_base_fields(feed, FeedInfo), links=links, login=login)

    def to_json(self) -> JsonObject:
        return {**super().to_json(), **_token_json(self.links, self.login)}


@dataclass(frozen=True)
class ShareInfo:
    """A share link of a feed (its URLs are secret and not stored)."""

    id: int
    feed_id: int
    scope: Scope
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime

    @classmethod
    def of_row(cls, share: ShareRow) -> ShareInfo:
        return cls(
            id=share.id,
            feed_id=share.feed_id,
            scope=share.scope,
            expires_at=share.expires_at,
            revoked_at=share.revoked_at,
            created_at=share.created_at,
        )

    def to_json(self) -> JsonObject:
        return {
            "id": self.id,
            "feed_id": self.feed_id,
            "scope": self.scope,
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True)
class ShareCreated(ShareInfo):
    """A new share link with its token's addresses and CalDAV login (shown this once)."""

    links: FeedLinks
    login: CalDavLogin

    @classmethod
    def of(cls, share: ShareInfo, links: FeedLinks, login: CalDavLogin) -> ShareCreated:
        return cls(**_base_fields(share, ShareInfo), links=links, login=login)

    def to_json(self) -> JsonObject:
        return {**super().to_json(), **_token_json(self.links, self.login)}


@dataclass(frozen=True)
class FeedDetails(FeedInfo):
    """A feed with its share links and what keeping it under Google's size limit took."""

    shares: tuple[ShareInfo, ...]
    warnings: tuple[str, ...]

    @classmethod
    def of(
        cls, feed: FeedInfo, shares: tuple[ShareInfo, ...], warnings: tuple[str, ...]
    ) -> FeedDetails:
        return cls(**_base_fields(feed, FeedInfo), shares=shares, warnings=warnings)

    def to_json(self) -> JsonObject:
        return {
            **super().to_json(),
            "shares": [share.to_json() for share in self.shares],
            "warnings": list(self.warnings),
        }


# -- changes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedChange:
    """One change of an occurrence in a feed, as the change log numbers it."""

    number: int
    kind: ChangeKind
    source: str  # the source's name
    upstream_id: str
    uid: str  # the UID of the session's event in the feed
    start: datetime
    end: datetime
    changed_at: datetime

    def to_json(self) -> JsonObject:
        return {
            "number": self.number,
            "kind": self.kind.value,
            "source": self.source,
            "upstream_id": self.upstream_id,
            "uid": self.uid,
            "start": iso(self.start),
            "end": iso(self.end),
            "changed_at": iso(self.changed_at),
        }


@dataclass(frozen=True)
class FeedChanges:
    """A page of a feed's changes numbered after `since`, up to `latest`; `more` when there
    are later ones."""

    feed_id: int
    since: int
    latest: int
    more: bool
    changes: tuple[FeedChange, ...]

    def to_json(self) -> JsonObject:
        return {
            "feed_id": self.feed_id,
            "since": self.since,
            "latest": self.latest,
            "more": self.more,
            "changes": [change.to_json() for change in self.changes],
        }
