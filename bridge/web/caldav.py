"""The read-only CalDAV server: every feed and share link is also a calendar collection.

Discovery as Apple Calendar and DAVx5 do it: `/.well-known/caldav` redirects to `/dav/`,
whose PROPFIND names the login's principal, which names its calendar home, which holds its
one calendar (bridge.caldav.resources has the tree). Logins are HTTP Basic: the username
`feed-12` or `share-3` and the password shown with the feed (bridge.signing.caldav_password).

Read-only: PROPFIND (depth 0 and 1), REPORT (bridge.caldav.reports), GET/HEAD of an object or
of the whole calendar, OPTIONS. Every method that would write answers 403 with
DAV:need-privileges. Bodies over MAX_BODY get 413, malformed XML 400, Depth: infinity 403
(DAV:propfind-finite-depth).
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, request
from lxml import etree

from bridge.caldav import reports
from bridge.caldav.resources import (
    ROOT,
    Calendar,
    calendar_path,
    calendar_properties,
    home_path,
    home_properties,
    object_properties,
    owner_of,
    principal_path,
    principal_properties,
    root_properties,
)
from bridge.caldav.xml import DAV, DavError, element, href, parse, serialize, tag
from bridge.feed_views import FeedUnavailable, FeedView
from bridge.services import Services, services
from bridge.store import FeedRow
from bridge.store.caldav_queries import SyncChanges
from feeds.calendar_objects import CalendarListing

blueprint = Blueprint("caldav", __name__)

MAX_BODY = 1024 * 1024
READ_METHODS = ["OPTIONS", "GET", "HEAD", "PROPFIND", "REPORT"]
WRITE_METHODS = [
    "PUT", "DELETE", "POST", "PATCH", "MKCOL", "MKCALENDAR", "PROPPATCH", "MOVE", "COPY",
    "LOCK", "UNLOCK", "ACL",
]  # fmt: skip
DAV_HEADER = "1, 3, calendar-access"
REALM = 'Basic realm="calbridge CalDAV", charset="UTF-8"'


@blueprint.route("/.well-known/caldav", methods=READ_METHODS + WRITE_METHODS)
@blueprint.route("/", methods=["PROPFIND"])
def well_known() -> Response:
    """RFC 6764: the context path, for clients given only the server's address (those that
    skip the well-known address ask its root)."""
    return redirect(ROOT, 301)


@blueprint.route("/", defaults={"path": ""}, methods=["REPORT"])  # principal searches
@blueprint.route(ROOT, defaults={"path": ""}, methods=READ_METHODS + WRITE_METHODS)
@blueprint.route(f"{ROOT}<path:path>", methods=READ_METHODS + WRITE_METHODS)
def dav(path: str) -> Response:
    try:
        return _dispatch(services(), ROOT + path)
    except DavError as error:
        return _refusal(error)
    except FeedUnavailable as unavailable:
        return Response(
            unavailable.reason + "\n",
            503,
            {"Retry-After": str(unavailable.retry_after)},
            mimetype="text/plain",
        )


def _dispatch(app: Services, path: str) -> Response:
    if request.method == "OPTIONS":
        return Response(status=200, headers=_dav_headers())
    user, view = _login(app)
    if request.method in WRITE_METHODS:
        raise DavError(403, "This calendar is read-only.", _need_write_privilege(path))
    body = _body()
    own = {ROOT, f"{ROOT}principals/", principal_path(user), home_path(user), calendar_path(user)}
    if path not in own and not path.startswith(calendar_path(user)):
        raise DavError(404, "Nothing here belongs to this login.")
    if request.method in ("GET", "HEAD"):
        return _get(app, user, view, path)
    if request.method == "PROPFIND":
        depth = _depth()
        return _multistatus(reports.propfind(parse(body), _resources(app, user, view, path, depth)))
    # REPORT
    if path in (ROOT, f"{ROOT}principals/"):
        return _multistatus(reports.principal_search(parse(body), user, view))
    calendar = Calendar.read(app, user, view) if path == calendar_path(user) else None

    def changes(since: int, listing: CalendarListing) -> SyncChanges:
        return app.store.collection_changes(view.owner, listing, since, app.clock())

    return _multistatus(reports.report(parse(body), calendar, changes))


def _login(app: Services) -> tuple[str, FeedView]:
    """The username and view of the request's Basic credentials; 401 without good ones.
    An unknown user costs what a wrong password does (`Store.caldav_login`)."""
    auth = request.authorization
    if auth is None or auth.type != "basic" or auth.username is None:
        raise DavError(401, "Log in with the calendar's CalDAV username and password.")
    owner = owner_of(auth.username)
    row = app.store.caldav_login(owner or "-", auth.password or "")
    if row is None or owner is None:
        raise DavError(401, "The CalDAV username or password is wrong.")
    gone = row.gone_reason(app.clock())
    if gone:
        raise DavError(410, f"This calendar link has {gone}.")
    view = FeedView.of_feed(row) if isinstance(row, FeedRow) else FeedView.of_share(row)
    return auth.username, view


def _body() -> bytes:
    if (request.content_length or 0) > MAX_BODY:
        raise DavError(413, f"Request bodies are limited to {MAX_BODY} bytes.")
    body = request.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise DavError(413, f"Request bodies are limited to {MAX_BODY} bytes.")
    return body


def _depth() -> int:
    """The Depth header: 0 or 1. A missing one counts as 1 (the tree is one level deep
    wherever it has children); infinity is refused (RFC 4918 §9.1)."""
    value = request.headers.get("Depth", "1").strip().lower()
    if value == "infinity":
        raise DavError(403, "Depth: infinity is not supported.", tag(DAV, "propfind-finite-depth"))
    if value not in ("0", "1"):
        raise DavError(400, f"Depth must be 0 or 1, not {value!r}.")
    return int(value)


def _resources(
    app: Services, user: str, view: FeedView, path: str, depth: int
) -> list[reports.PropertySource]:
    """The property tables of the resource at `path` and, at depth 1, of its members."""
    now = app.clock()
    if path in (ROOT, f"{ROOT}principals/"):
        return [(path, root_properties(user))]
    if path == principal_path(user):
        return [(path, principal_properties(user, view))]
    if path == home_path(user):
        found = [(path, home_properties(user, view))]
        if depth:
            calendar = Calendar.read(app, user, view)
            found.append((calendar.path, calendar_properties(calendar, now)))
        return found
    calendar = Calendar.read(app, user, view)
    if path == calendar.path:
        found = [(path, calendar_properties(calendar, now))]
        if depth:
            found += [
                (calendar.object_path(o.uid), object_properties(o))
                for o in calendar.objects.values()
            ]
        return found
    obj = calendar.object_at(path)
    if obj is None:
        raise DavError(404, "There is no such event in this calendar (any more).")
    return [(path, object_properties(obj))]


def _get(app: Services, user: str, view: FeedView, path: str) -> Response:
    """An object's calendar data, or the whole feed for the calendar collection."""
    if path == calendar_path(user):
        rendered = app.feeds.render(view)
        return Response(
            rendered.body, mimetype="text/calendar", headers={"ETag": f'"{rendered.etag}"'}
        )
    calendar = Calendar.read(app, user, view)
    obj = calendar.object_at(path)
    if obj is None:
        raise DavError(404, "There is no such event in this calendar (any more).")
    etag = f'"{obj.etag}"'
    if request.if_none_match.contains_weak(obj.etag):  # RFC 9110: weak comparison here
        return Response(status=304, headers={"ETag": etag})
    return Response(obj.data, content_type="text/calendar; charset=utf-8", headers={"ETag": etag})


def _need_write_privilege(path: str) -> etree._Element:
    resource = element(
        tag(DAV, "resource"),
        None,
        href(path),
        element(tag(DAV, "privilege"), None, element(tag(DAV, "write"))),
    )
    return element(tag(DAV, "need-privileges"), None, resource)


def _dav_headers() -> dict[str, str]:
    return {"DAV": DAV_HEADER, "Allow": ", ".join(READ_METHODS)}


def _multistatus(root: etree._Element) -> Response:
    return Response(
        serialize(root), 207, _dav_headers(), content_type="application/xml; charset=utf-8"
    )


def _refusal(error: DavError) -> Response:
    headers = _dav_headers()
    if error.status == 401:
        headers["WWW-Authenticate"] = REALM
    content_type = (
        "application/xml; charset=utf-8"
        if error.precondition is not None
        else "text/plain; charset=utf-8"
    )
    return Response(error.body(), error.status, headers, content_type=content_type)
