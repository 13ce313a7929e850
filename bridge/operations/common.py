"""What the operations share: their errors, the checks of their input, the lookups of a
source or feed by the name or id an operator gives, and the links of a new token."""

from __future__ import annotations

from urllib.parse import urlsplit

from bridge.errors import OperationError
from bridge.links import CalDavLogin, FeedLinks
from bridge.services import Services
from bridge.store import FeedRow, NotFound, SourceRow
from feeds.rules import MAX_DAYS
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


def flag(name: str) -> str:
    """The command-line flag of an option (`client_id` → `--client-id`)."""
    return "--" + name.replace("_", "-")


def required(value: str | None, flag: str) -> str:
    if not value or not value.strip():
        raise OperationError(f"{flag} is required")
    return value.strip()


def get_source(app: Services, name: str) -> SourceRow:
    source = app.store.source_by_name(name)
    if source is None:
        raise NotFound(f"no source named {name!r} (see `calbridge source list`)")
    return source


def get_feed(app: Services, feed_id: int) -> FeedRow:
    feed = app.store.feed(feed_id)
    if feed is None:
        raise NotFound(f"no feed with id {feed_id} (see `calbridge feed list`)")
    return feed


def token_links(app: Services, token: str, owner: str) -> tuple[FeedLinks, CalDavLogin]:
    """A new token's addresses and CalDAV login (shown this once: only hashes are stored)."""
    public_url = app.settings.public_url
    return FeedLinks.for_token(public_url, token), CalDavLogin.for_token(public_url, token, owner)
