"""Turning a secret token from a URL into what it grants, or the right refusal.

Unknown tokens get 404; revoked feeds and revoked or expired share links get 410.
"""

from __future__ import annotations

from datetime import datetime

from werkzeug.exceptions import abort

from bridge.refresh import FeedView
from bridge.store import FeedRow, ShareRow, Store
from feeds.model import Scope


def view_for_token(store: Store, token: str, now: datetime) -> FeedView:
    """The feed view a feed or share token opens (aborts with 404 or 410)."""
    feed = store.feed_by_token(token)
    if feed is not None:
        return view_for_feed(feed, now)
    share = store.share_by_token(token)
    if share is None:
        abort(404, "There is no calendar at this address. Check the link you were given.")
    return view_for_share(share, now)


def view_for_feed(feed: FeedRow, now: datetime) -> FeedView:
    if feed.gone_reason(now):
        abort(410, "This calendar has been revoked by its owner.")
    return FeedView(feed, Scope.FULL, feed.owner)


def view_for_share(share: ShareRow, now: datetime) -> FeedView:
    reason = share.gone_reason(now)
    if reason:
        abort(410, f"This shared calendar link has {reason}.")
    return FeedView(share.feed, share.scope, share.owner)


def view_for_owner(store: Store, owner: str, now: datetime) -> FeedView:
    """The view a join token was signed for ("f12", "s3"); aborts with 410 when it's gone."""
    kind, number = owner[:1], owner[1:]
    if kind not in ("f", "s") or not number.isdigit():
        abort(400, "This join link is not valid.")
    row = store.feed(int(number)) if kind == "f" else store.share(int(number))
    if row is None:
        abort(410, "This calendar link has been removed, so its join links no longer work.")
    return view_for_feed(row, now) if kind == "f" else view_for_share(row, now)
