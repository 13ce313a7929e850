"""The `.ics` endpoints: the whole feed and single-event downloads.

Calendar clients read these, so errors are short plain text with the right status
(404 unknown, 410 revoked, 503 no data yet) and never a 200 with an empty body.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, request
from werkzeug.exceptions import HTTPException

from bridge import services
from bridge.refresh import FeedUnavailable
from bridge.web.access import view_for_token

blueprint = Blueprint("feeds", __name__)

ICS_CONTENT_TYPE = "text/calendar; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


@blueprint.errorhandler(HTTPException)
def plain_text_error(error: HTTPException) -> Response:
    return Response(f"{error.description}\n", status=error.code, content_type=TEXT_CONTENT_TYPE)


def file_name(name: str) -> str:
    """A readable, safe .ics file name from a feed's name."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()
    return f"{slug or 'calendar'}.ics"


def _disposition(kind: str, name: str) -> str:
    return f'{kind}; filename="{file_name(name)}"'


def _expand_requested() -> bool:
    recurrence = request.args.get("recurrence")
    if recurrence not in (None, "", "expand"):
        abort(400, f"Unknown recurrence option {recurrence!r}; the only option is 'expand'.")
    return recurrence == "expand"


@blueprint.route("/f/<token>.ics", methods=["GET", "HEAD"])
def feed(token: str) -> Response:
    app = services()
    now = app.refresher.clock()
    view = view_for_token(token, now)
    expand = _expand_requested()
    try:
        rendered = app.refresher.render(view, expand=expand)
    except FeedUnavailable as unavailable:
        response = Response(f"{unavailable.reason}\n", status=503, content_type=TEXT_CONTENT_TYPE)
        response.headers["Retry-After"] = str(unavailable.retry_after)
        return response
    response = Response(rendered.body, content_type=ICS_CONTENT_TYPE)
    response.set_etag(rendered.etag)
    response.last_modified = rendered.last_modified
    response.cache_control.private = True
    response.cache_control.max_age = app.settings.cache_ttl
    download = request.args.get("download") in ("1", "true", "yes")
    response.headers["Content-Disposition"] = _disposition(
        "attachment" if download else "inline", view.feed.name
    )
    stale_age = rendered.stale_age(now)
    if stale_age is not None:
        response.headers["X-Calbridge-Stale"] = str(stale_age)
    return response.make_conditional(request)


@blueprint.get("/f/<token>/events/<path:uid>.ics")
def event(token: str, uid: str) -> Response:
    app = services()
    view = view_for_token(token, app.refresher.clock())
    body = app.refresher.render_event(view, uid)
    if body is None:
        abort(404, "This event is not in the calendar (any more).")
    response = Response(body, content_type=ICS_CONTENT_TYPE)
    response.headers["Content-Disposition"] = _disposition("attachment", uid.split("@")[0])
    response.cache_control.private = True
    response.cache_control.no_cache = True
    return response
