"""Operations on share links: create one for a feed, with a narrower scope and perhaps an
expiry, and revoke it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from bridge.operations.common import (
    Conflict,
    NotFound,
    OperationError,
    get_feed,
    token_links,
)
from bridge.operations.results import ShareCreated, ShareInfo
from bridge.services import Services
from bridge.store import ShareRow
from feeds.model import Scope


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
) -> ShareCreated:
    feed = get_feed(app, feed_id)
    if feed.revoked_at is not None:
        raise Conflict(f"feed {feed_id} is revoked; it cannot be shared")
    try:
        share_scope = Scope(scope)
    except ValueError:
        raise OperationError(f"--scope must be full, no-links or busy, got {scope!r}") from None
    expires_at = parse_expiry(expires, app.clock(), feed.timezone)
    share, token = app.store.create_share(feed.id, share_scope.value, expires_at)
    return ShareCreated.of(share_info(app, share), *token_links(app, token, share.owner))


def share_info(app: Services, share: ShareRow) -> ShareInfo:
    return ShareInfo.of_row(share)


def revoke_share(app: Services, share_id: int) -> ShareInfo:
    share = app.store.share(share_id)
    if share is None:
        raise NotFound(f"no share link with id {share_id}")
    app.store.revoke_share(share_id)
    revoked = app.store.share(share_id)
    assert revoked is not None  # share links are revoked, never deleted
    return share_info(app, revoked)
