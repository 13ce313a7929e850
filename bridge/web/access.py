"""Turning a secret token from a URL into what it grants, or the right refusal.

Unknown tokens get 404; revoked feeds and revoked or expired share links get 410.
"""

from __future__ import annotations

from datetime import datetime

from flask import abort

from bridge import services
from bridge.refresh import FeedView
from feeds.model import Scope


def view_for_token(token: str, now: datetime) -> FeedView:
    """The feed view a feed or share token opens (aborts with 404 or 410)."""
    store = services().store
    feed = store.feed_by_token(token)
    if feed is not None:
        if feed.revoked_at is not None:
            abort(410, "This calendar link has been revoked by its owner.")
        return FeedView(feed, Scope.FULL, f"f{feed.id}")
    share = store.share_by_token(token)
    if share is None:
        abort(404, "There is no calendar at this address. Check the link you were given.")
    return view_for_share(share, now)


def view_for_share(share, now: datetime) -> FeedView:  # type: ignore[no-untyped-def]
    feed = services().store.feed(share.feed_id)
    if share.revoked_at is not None or feed is None or feed.revoked_at is not None:
        abort(410, "This shared calendar link has been revoked.")
    if share.expires_at is not None and share.expires_at <= now:
        abort(410, "This shared calendar link has expired.")
    return FeedView(feed, Scope(share.scope), f"s{share.id}")


def view_for_owner(owner: str, now: datetime) -> FeedView:
    """The view a join token was signed for ("f12", "s3"); aborts with 410 when it's gone."""
    store = services().store
    kind, number = owner[:1], owner[1:]
    if kind not in ("f", "s") or not number.isdigit():
        abort(400, "This join link is not valid.")
    if kind == "f":
        feed = store.feed(int(number))
        if feed is None or feed.revoked_at is not None:
            abort(410, "This calendar has been revoked, so its join links no longer work.")
        return FeedView(feed, Scope.FULL, owner)
    share = store.share(int(number))
    if share is None:
        abort(410, "This shared calendar link has been revoked.")
    return view_for_share(share, now)
