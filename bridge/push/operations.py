"""The `calbridge push …` operations: add, list, remove and run push targets.

Like bridge.operations (whose errors they raise), each validates its input and raises
`OperationError` (or `NotFound`, `Conflict`) with one clear sentence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bridge.operations import Conflict, NotFound, OperationError, get_feed
from bridge.services import Services
from bridge.store.push_queries import PushTargetRow

from .results import PushStatus


def check_calendar_url(url: str) -> str:
    """The calendar collection URL, ending in "/"; http(s), with no login or query in it."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OperationError(
            "--url must be the http(s) URL of a CalDAV calendar, such as "
            f"https://cloud.example.com/remote.php/dav/calendars/me/personal/, got {url!r}"
        )
    if parts.username or parts.password:
        raise OperationError("give the login with --username and --password, not in --url")
    if parts.query or parts.fragment:
        raise OperationError(f"--url must not have a query or fragment, got {url!r}")
    path = parts.path if parts.path.endswith("/") else f"{parts.path}/"
    return f"{parts.scheme}://{parts.netloc}{path}"


def add_push_target(
    app: Services, *, feed_id: int, url: str, username: str, password: str
) -> dict[str, Any]:
    """Register a calendar to push a feed into, and queue its first push."""
    feed = get_feed(app, feed_id)
    if feed.revoked_at is not None:
        raise Conflict(f"feed {feed_id} is revoked; it cannot be pushed")
    calendar_url = check_calendar_url(url)
    if not username or not username.strip():
        raise OperationError("--username is required")
    if not password:
        raise OperationError("--password is required")
    target = app.store.add_push_target(
        feed.id, calendar_url, username.strip(), password, app.clock()
    )
    app.pushes.request(target.id)
    return push_target_info(app, app.store.push_target(target.id) or target)


def get_push_target(app: Services, target_id: int) -> PushTargetRow:
    target = app.store.push_target(target_id)
    if target is None:
        raise NotFound(f"no push target with id {target_id} (see `calbridge push list`)")
    return target


def push_target_info(app: Services, target: PushTargetRow) -> dict[str, Any]:
    if target.failing:
        status = "failing"
    elif target.last_push_at is None:
        status = "not pushed yet"
    else:
        status = "ok"
    return {
        "id": target.id,
        "feed_id": target.feed_id,
        "url": target.url,
        "username": target.username,
        "status": status,
        "events": target.objects,
        "created_at": _iso(target.created_at),
        "last_push_at": _iso(target.last_push_at),
        "last_error": target.last_error,
        "last_error_at": _iso(target.last_error_at),
        "failures": target.failures,
        "next_attempt_at": _iso(target.next_attempt_at),
    }


def list_push_targets(app: Services) -> list[dict[str, Any]]:
    return [push_target_info(app, target) for target in app.store.push_targets()]


def remove_push_target(
    app: Services, target_id: int, *, delete_events: bool = False
) -> dict[str, Any]:
    """Stop pushing; with `delete_events`, first delete the events calbridge created there
    (the target stays if the calendar cannot be reached, so nothing is forgotten)."""
    info = push_target_info(app, get_push_target(app, target_id))
    if delete_events:
        result = app.pusher.withdraw(target_id)
        if result.status is PushStatus.BUSY:
            raise Conflict(f"push target {target_id} is being pushed right now; try again")
        if result.status is PushStatus.FAILED:
            raise OperationError(
                f"push target {target_id} was kept: its events could not all be deleted "
                f"({result.error})"
            )
        info["deleted_events"] = result.deleted
    app.store.remove_push_target(target_id)
    return info


def run_pushes(app: Services, target_id: int | None = None) -> list[dict[str, Any]]:
    """Push now (one target, or every one), whatever the schedule says."""
    ids = [get_push_target(app, target_id).id] if target_id is not None else None
    if ids is None:
        ids = [target.id for target in app.store.push_targets()]
    return [app.pusher.push(each, force=True).as_dict() for each in ids]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
