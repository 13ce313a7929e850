"""Turning a secret token from a URL into what it grants, or the right refusal.

Unknown tokens get 404; revoked feeds and revoked or expired share links get 410. A join link
also gets 410 when it was published under an earlier token of its feed (`join_view`).
"""

from __future__ import annotations

from datetime import datetime

from werkzeug.exceptions import abort

from bridge.feed_views import FeedView
from bridge.signing import JoinClaim
from bridge.store import FeedRow, ShareRow, Store


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
    return FeedView.of_feed(feed)


def view_for_share(share: ShareRow, now: datetime) -> FeedView:
    reason = share.gone_reason(now)
    if reason:
        abort(410, f"This shared calendar link has {reason}.")
    return FeedView.of_share(share)


def join_view(store: Store, claim: JoinClaim, now: datetime) -> FeedView:
    """The view a join token was published in ("f12", "s3"), if the token it was published
    under is still that feed's or share link's current one; aborts with 410 otherwise.

    A link from before join links carried a generation (`claim.generation` is None) is
    accepted while its feed has never been rotated: then it can only have been published under
    the current token. Once the feed has been rotated it can't be told apart from a link in a
    leaked copy of the old address, so it is refused like one; the feed's current address
    already publishes links of the new format. Share links can't be rotated, so theirs stay
    valid until the share link itself is revoked or expires.
    """
    kind, number = claim.owner[:1], claim.owner[1:]
    if kind not in ("f", "s") or not number.isdigit():
        abort(400, "This join link is not valid.")
    row = store.feed(int(number)) if kind == "f" else store.share(int(number))
    if row is None:
        abort(410, "This calendar link has been removed, so its join links no longer work.")
    view = view_for_feed(row, now) if isinstance(row, FeedRow) else view_for_share(row, now)
    if claim.generation is None:
        current = not isinstance(row, FeedRow) or row.rotated_at is None
    else:
        current = claim.generation == view.generation
    if not current:
        abort(
            410,
            "The address of this calendar was changed, so the join links of its old address "
            "no longer work. Use the Join link in the updated calendar.",
        )
    return view
