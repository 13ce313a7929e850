"""The operations an operator can perform, shared by the CLI and the admin API.

Each operation validates its input and raises `OperationError` with one clear
sentence; the callers only translate that into an exit code or a JSON error. `NotFound` is
the store's (bridge.store.rows), an OperationError and a StoreError at once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bridge import webhooks
from bridge.errors import OperationError
from bridge.feed_views import FeedUnavailable, FeedView
from bridge.jobs.requests import Priority
from bridge.links import CalDavLogin, FeedLinks
from bridge.services import Services
from bridge.sources import SourceConfigError, partition_for
from bridge.store import NotFound
from feeds.ical_events import session_uid
from feeds.model import Scope, SourceKind
from feeds.rules import MAX_DAYS, check_alarm_minutes, trainercentral_auth
from feeds.timezones import load_zone


class Conflict(OperationError):
    """The request clashes with the current state: a duplicate name, a revoked feed."""


def check_timezone(name: str) -> str:
    load_zone(name, OperationError)
    return name


def check_origin(url: str, what: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise OperationError(
            f"{what} must be an http(s) URL such as https://example.com, got {url!r}"
        )
    return url.rstrip("/")


def check_days(value: int, what: str, minimum: int = 0) -> int:
    if not minimum <= value <= MAX_DAYS:
        raise OperationError(f"{what} must be between {minimum} and {MAX_DAYS} days, got {value}")
    return value


def split_ids(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    return [item.strip() for item in items if item and item.strip()]


def _flag(name: str) -> str:
    """The command-line flag of an option (`client_id` → `--client-id`)."""
    return "--" + name.replace("_", "-")


def _required(value: str | None, flag: str) -> str:
    if not value or not value.strip():
        raise OperationError(f"{flag} is required")
    return value.strip()


# -- sources -------------------------------------------------------------------------------


def add_tagmango_source(
    app: Services,
    *,
    name: str,
    token: str,
    whitelabel_host: str,
    api_base: str = "https://api-prod-new.tagmango.com",
    timezone: str = "Asia/Kolkata",
    mangoes: str | list[str] | None = None,
    user: str | None = None,
) -> dict[str, Any]:
    settings = {
        "whitelabel_host": _required(whitelabel_host, "--whitelabel-host"),
        "api_base": check_origin(api_base, "--api-base"),
        "timezone": check_timezone(timezone),
        "mangoes": split_ids(mangoes),
        "user": user or None,
    }
    credentials = {"token": _required(token, "--token")}
    return _add_source(app, name, SourceKind.TAGMANGO, settings, credentials)


def add_trainercentral_source(
    app: Services,
    *,
    name: str,
    org_id: str,
    academy_url: str,
    filter: str = "1",
    access_token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    refresh_token: str | None = None,
    accounts_url: str = "https://accounts.zoho.com",
) -> dict[str, Any]:
    if str(filter) not in ("1", "5"):
        raise OperationError(
            f"--filter must be 1 (your sessions) or 5 (the academy's), got {filter}"
        )
    given = {
        "access_token": access_token,
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
    }
    credentials = {name: value for name, value in given.items() if value}
    trainercentral_auth(credentials, _flag, OperationError)
    settings = {
        "org_id": _required(org_id, "--org-id"),
        "academy_url": check_origin(academy_url, "--academy-url"),
        "filter": str(filter),
        "accounts_url": check_origin(accounts_url, "--accounts-url"),
    }
    return _add_source(app, name, SourceKind.TRAINERCENTRAL, settings, credentials)


def _add_source(
    app: Services, name: str, kind: SourceKind, settings: dict, credentials: dict
) -> dict[str, Any]:
    name = _required(name, "--name")
    if app.store.source_by_name(name) is not None:
        raise Conflict(f"a source named {name!r} already exists")
    source = app.store.add_source(name, kind.value, settings, credentials)
    return source_info(app, source, create_webhook=True)


def source_info(app: Services, source: Any, *, create_webhook: bool = False) -> dict[str, Any]:
    """A source without its credentials (a TagMango source with its webhook URL, once it has
    one: `source add`, `source show` and `source webhooks` create it)."""
    info = {"id": source.id, "name": source.name, "kind": source.kind, **source.settings}
    url = webhooks.webhook_url(app, source, create=create_webhook)
    if url is not None:
        info["webhook_url"] = url
    return info


def get_source(app: Services, name: str) -> Any:
    source = app.store.source_by_name(name)
    if source is None:
        raise NotFound(f"no source named {name!r} (see `calbridge source list`)")
    return source


def show_source(app: Services, name: str) -> dict[str, Any]:
    return source_info(app, get_source(app, name), create_webhook=True)


def register_webhooks(app: Services, name: str) -> dict[str, Any]:
    """Register the TagMango source's webhook URL for the webinar events."""
    source = get_source(app, name)
    if source.kind != SourceKind.TAGMANGO:
        raise OperationError(
            f"source {name!r} is a {source.kind} source; only TagMango sources have webhooks"
        )
    events = webhooks.register(app, source)
    return {**source_info(app, source, create_webhook=True), "registered": events}


def list_sources(app: Services) -> list[dict[str, Any]]:
    return [source_info(app, source) for source in app.store.list_sources()]


# -- feeds ---------------------------------------------------------------------------------


def create_feed(
    app: Services,
    *,
    name: str,
    sources: list[str],
    timezone: str = "UTC",
    history_days: int = 30,
    horizon_days: int = 180,
    user: str | None = None,
    mangoes: str | list[str] | None = None,
    alarm_minutes: int | None = 10,
) -> dict[str, Any]:
    name = _required(name, "--name")
    if not sources:
        raise OperationError("give at least one --source")
    rows = [get_source(app, source_name) for source_name in sources]
    filters = {"user": user or None, "mangoes": split_ids(mangoes)}
    for row in rows:
        try:
            partition_for(row.id, row.kind, filters)
        except SourceConfigError as error:
            raise OperationError(str(error)) from None
        check_narrows(row, filters)
    check_alarm_minutes(alarm_minutes, "--alarm", OperationError)
    feed, token = app.store.create_feed(
        name=name,
        source_ids=[row.id for row in rows],
        timezone=check_timezone(timezone),
        history_days=check_days(history_days, "--history-days"),
        horizon_days=check_days(horizon_days, "--horizon-days", minimum=1),
        filters=filters,
        alarm_minutes=alarm_minutes or None,
    )
    app.feeds.prepare(feed, priority=Priority.NEW_FEED)  # queues the first fetch at once
    return {**feed_info(app, feed), **_links(app, token, feed.owner)}


def check_narrows(source: Any, filters: dict[str, Any]) -> None:
    """A feed may narrow its source further, never widen what the source is limited to."""
    source_user = source.settings.get("user")
    if filters["user"] and source_user and filters["user"] != source_user:
        raise OperationError(
            f"source {source.name!r} only reads user {source_user}'s calls; "
            f"a feed of it cannot show user {filters['user']}'s"
        )
    source_mangoes = set(source.settings.get("mangoes") or ())
    outside = set(filters["mangoes"]) - source_mangoes if source_mangoes else set()
    if outside:
        raise OperationError(
            f"source {source.name!r} only reads mangoes {', '.join(sorted(source_mangoes))}; "
            f"{', '.join(sorted(outside))} is outside it"
        )


def get_feed(app: Services, feed_id: int) -> Any:
    feed = app.store.feed(feed_id)
    if feed is None:
        raise NotFound(f"no feed with id {feed_id} (see `calbridge feed list`)")
    return feed


def feed_info(app: Services, feed: Any) -> dict[str, Any]:
    names = {source.id: source.name for source in app.store.list_sources()}
    return {
        "id": feed.id,
        "name": feed.name,
        "sources": [names.get(source_id, str(source_id)) for source_id in feed.source_ids],
        "timezone": feed.timezone,
        "history_days": feed.history_days,
        "horizon_days": feed.horizon_days,
        "user": feed.filters.get("user"),
        "mangoes": feed.filters.get("mangoes") or [],
        "alarm_minutes": feed.alarm_minutes,
        "created_at": _iso(feed.created_at),
        "rotated_at": _iso(feed.rotated_at),
        "revoked_at": _iso(feed.revoked_at),
    }


def list_feeds(app: Services) -> list[dict[str, Any]]:
    return [feed_info(app, feed) for feed in app.store.list_feeds()]


def show_feed(app: Services, feed_id: int) -> dict[str, Any]:
    feed = get_feed(app, feed_id)
    shares = [share_info(app, share) for share in app.store.list_shares(feed.id)]
    return {**feed_info(app, feed), "shares": shares, "warnings": size_warnings(app, feed)}


def size_warnings(app: Services, feed: Any) -> list[str]:
    """What keeping the owner's feed under Google's size limit took (empty: nothing), from the
    feed the service serves (its cached render, both variants where rendered); none when the
    feed is revoked or has no data to render yet."""
    if feed.revoked_at is not None:
        return []
    try:
        return list(app.feeds.size_warnings(FeedView.of_feed(feed)))
    except FeedUnavailable:
        return []


def feed_changes(app: Services, feed_id: int, since: int = 0) -> dict[str, Any]:
    """The feed's changes numbered after `since` (raises ChangesPruned when they are no longer
    all known): what CalDAV sync and pushes read, and `GET /api/v1/feeds/<id>/changes`."""
    feed = get_feed(app, feed_id)
    page = app.store.changes_since(app.feeds.partitions(feed), since)
    sources = {source.id: source for source in app.store.list_sources()}
    return {
        "feed_id": feed.id,
        "since": page.since,
        "latest": page.latest,
        "more": page.more,
        "changes": [
            {
                "number": change.number,
                "kind": change.kind.value,
                "source": sources[change.source_id].name,
                "upstream_id": change.upstream_id,
                "uid": session_uid(
                    sources[change.source_id].kind, change.upstream_id, app.feeds.uid_domain
                ),
                "start": _iso(change.start),
                "end": _iso(change.end),
                "changed_at": _iso(change.changed_at),
            }
            for change in page.changes
        ],
    }


def rotate_feed(app: Services, feed_id: int) -> dict[str, Any]:
    feed = get_feed(app, feed_id)
    if feed.revoked_at is not None:
        raise Conflict(f"feed {feed_id} is revoked; create a new feed instead")
    token = app.store.rotate_feed(feed.id)
    return {**feed_info(app, get_feed(app, feed_id)), **_links(app, token, feed.owner)}


def revoke_feed(app: Services, feed_id: int) -> dict[str, Any]:
    get_feed(app, feed_id)
    app.store.revoke_feed(feed_id)
    return feed_info(app, get_feed(app, feed_id))


def export_feed(app: Services, feed_id: int, *, expand: bool = False) -> bytes:
    feed = get_feed(app, feed_id)
    if feed.revoked_at is not None:
        raise Conflict(f"feed {feed_id} is revoked")
    view = FeedView.of_feed(feed)
    return app.feeds.render(view, expand=expand).body


# -- share links ---------------------------------------------------------------------------


def parse_expiry(value: str | None, now: datetime, zone: str = "UTC") -> datetime | None:
    """A share link's expiry from YYYY-MM-DD (the end of that day in `zone`, the feed's own
    time zone) or an ISO instant."""
    if not value:
        return None
    try:
        if len(value) == 10:
            end_of_day = datetime.combine(date.fromisoformat(value), time.max, ZoneInfo(zone))
            expires = end_of_day.astimezone(UTC)
        else:
            expires = datetime.fromisoformat(value.replace("Z", "+00:00"))
            expires = expires.replace(tzinfo=expires.tzinfo or UTC).astimezone(UTC)
    except ValueError:
        raise OperationError(
            f"the expiry must be a date like 2027-01-31 or an ISO instant, got {value!r}"
        ) from None
    except OverflowError:
        raise OperationError(f"the expiry {value!r} is out of range") from None
    if expires <= now:
        raise OperationError(f"the expiry {value} is in the past")
    return expires


def share_feed(
    app: Services, feed_id: int, *, scope: str = "busy", expires: str | None = None
) -> dict[str, Any]:
    feed = get_feed(app, feed_id)
    if feed.revoked_at is not None:
        raise Conflict(f"feed {feed_id} is revoked; it cannot be shared")
    try:
        share_scope = Scope(scope)
    except ValueError:
        raise OperationError(f"--scope must be full, no-links or busy, got {scope!r}") from None
    expires_at = parse_expiry(expires, app.clock(), feed.timezone)
    share, token = app.store.create_share(feed.id, share_scope.value, expires_at)
    return {**share_info(app, share), **_links(app, token, share.owner)}


def share_info(app: Services, share: Any) -> dict[str, Any]:
    return {
        "id": share.id,
        "feed_id": share.feed_id,
        "scope": share.scope,
        "expires_at": _iso(share.expires_at),
        "revoked_at": _iso(share.revoked_at),
        "created_at": _iso(share.created_at),
    }


def revoke_share(app: Services, share_id: int) -> dict[str, Any]:
    share = app.store.share(share_id)
    if share is None:
        raise NotFound(f"no share link with id {share_id}")
    app.store.revoke_share(share_id)
    return share_info(app, app.store.share(share_id))


def _links(app: Services, token: str, owner: str) -> dict[str, str]:
    """A new token's addresses and CalDAV login (shown this once: only hashes are stored)."""
    public_url = app.settings.public_url
    return {
        **vars(FeedLinks.for_token(public_url, token)),
        **vars(CalDavLogin.for_token(public_url, token, owner)),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
