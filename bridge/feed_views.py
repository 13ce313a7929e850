"""What a feed request is given: the view a token opens and the rendered feed.

Plain values shared by the renderer (bridge.rendering, which makes them) and the web layer
(which serves them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bridge.store import FeedRow, ShareRow
from feeds.model import Scope


class FeedUnavailable(Exception):
    """No good data to serve yet: answered with 503, Retry-After and this reason."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class FeedView:
    """What a feed or share token gives access to."""

    feed: FeedRow
    scope: Scope
    owner: str  # "f<feed id>" or "s<share id>": what join links are signed for
    generation: str  # the generation of the owner's current token, which join links carry

    @classmethod
    def of_feed(cls, feed: FeedRow) -> FeedView:
        """The owner's whole view of a feed."""
        return cls(feed, Scope.FULL, feed.owner, feed.generation)

    @classmethod
    def of_share(cls, share: ShareRow) -> FeedView:
        """What a share link shows of its feed."""
        return cls(share.feed, share.scope, share.owner, share.generation)


@dataclass(frozen=True)
class RenderedFeed:
    body: bytes
    etag: str
    last_modified: datetime
    refreshed_at: datetime  # the oldest last-good fetch among the feed's partitions
    # Set while an upstream is failing and older data is served: when that outage began
    # (the first failed fetch after the last success, as stored with the fetch state).
    stale_since: datetime | None
    # What was done to keep the feed under Google's size limit (feeds.fitting); empty normally.
    size_warnings: tuple[str, ...] = ()

    def stale_age(self, now: datetime) -> int | None:
        """Whole seconds since the outage began (None when not stale)."""
        if self.stale_since is None:
            return None
        return max(0, int((now - self.stale_since).total_seconds()))

    def data_age(self, now: datetime) -> int:
        """Whole seconds since the oldest data in the feed was fetched."""
        return max(0, int((now - self.refreshed_at).total_seconds()))
