"""Operations on feeds: create, list, show, rotate, revoke and export them, and read the
changes of their sessions."""

from __future__ import annotations

from bridge.feed_views import FeedUnavailable, FeedView
from bridge.jobs.requests import Priority
from bridge.operations.common import (
    Conflict,
    OperationError,
    check_days,
    check_timezone,
    get_feed,
    get_source,
    required,
    split_ids,
    token_links,
)
from bridge.operations.results import (
    FeedChange,
    FeedChanges,
    FeedCreated,
    FeedDetails,
    FeedFilters,
    FeedInfo,
    ShareInfo,
)
from bridge.partitions import SourceConfigError, partition_for
from bridge.services import Services
from bridge.store import FeedRow, SourceRow
from feeds.ical_events import session_uid
from feeds.rules import check_alarm_minutes


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
) -> FeedCreated:
    name = required(name, "--name")
    if not sources:
        raise OperationError("give at least one --source")
    rows = [get_source(app, source_name) for source_name in sources]
    filters: FeedFilters = {"user": user or None, "mangoes": split_ids(mangoes)}
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
        filters=dict(filters),
        alarm_minutes=alarm_minutes or None,
    )
    app.feeds.prepare(feed, priority=Priority.NEW_FEED)  # queues the first fetch at once
    return FeedCreated.of(feed_info(app, feed), *token_links(app, token, feed.owner))


def check_narrows(source: SourceRow, filters: FeedFilters) -> None:
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


def feed_info(app: Services, feed: FeedRow) -> FeedInfo:
    names = {source.id: source.name for source in app.store.list_sources()}
    return FeedInfo.of_row(feed, names)


def list_feeds(app: Services) -> list[FeedInfo]:
    return [feed_info(app, feed) for feed in app.store.list_feeds()]


def show_feed(app: Services, feed_id: int) -> FeedDetails:
    feed = get_feed(app, feed_id)
    shares = tuple(ShareInfo.of_row(share) for share in app.store.list_shares(feed.id))
    return FeedDetails.of(feed_info(app, feed), shares, tuple(size_warnings(app, feed)))


def size_warnings(app: Services, feed: FeedRow) -> list[str]:
    """What keeping the owner's feed under Google's size limit took (empty: nothing), from the
    feed the service serves (its cached render, both variants where rendered); none when the
    feed is revoked or has no data to render yet."""
    if feed.revoked_at is not None:
        return []
    try:
        return list(app.feeds.size_warnings(FeedView.of_feed(feed)))
    except FeedUnavailable:
        return []


def feed_changes(app: Services, feed_id: int, since: int = 0) -> FeedChanges:
    """The feed's changes numbered after `since` (raises ChangesPruned when they are no longer
    all known): what CalDAV sync and pushes read, and `GET /api/v1/feeds/<id>/changes`."""
    feed = get_feed(app, feed_id)
    page = app.store.changes_since(app.feeds.partitions(feed), since)
    sources = {source.id: source for source in app.store.list_sources()}
    changes = tuple(
        FeedChange(
            number=change.number,
            kind=change.kind,
            source=sources[change.source_id].name,
            upstream_id=change.upstream_id,
            uid=session_uid(
                sources[change.source_id].kind, change.upstream_id, app.feeds.uid_domain
            ),
            start=change.start,
            end=change.end,
            changed_at=change.changed_at,
        )
        for change in page.changes
    )
    return FeedChanges(feed.id, page.since, page.latest, page.more, changes)


def rotate_feed(app: Services, feed_id: int) -> FeedCreated:
    feed = get_feed(app, feed_id)
    if feed.revoked_at is not None:
        raise Conflict(f"feed {feed_id} is revoked; create a new feed instead")
    token = app.store.rotate_feed(feed.id)
    rotated = feed_info(app, get_feed(app, feed_id))
    return FeedCreated.of(rotated, *token_links(app, token, feed.owner))


def revoke_feed(app: Services, feed_id: int) -> FeedInfo:
    get_feed(app, feed_id)
    app.store.revoke_feed(feed_id)
    return feed_info(app, get_feed(app, feed_id))


def export_feed(app: Services, feed_id: int, *, expand: bool = False) -> bytes:
    feed = get_feed(app, feed_id)
    if feed.revoked_at is not None:
        raise Conflict(f"feed {feed_id} is revoked")
    view = FeedView.of_feed(feed)
    return app.feeds.render(view, expand=expand).body
