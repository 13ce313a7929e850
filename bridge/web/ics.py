"""The `.ics` endpoints: the whole feed and single-event downloads.

Calendar clients read these, so errors are short plain text with the right status
(400 bad option, 404 unknown, 410 revoked, 503 no data yet) and never a 200 with an empty body.

The whole feed, `GET|HEAD /f/<token>.ics`, is what every subscribed client polls, so it is a
bare WSGI app in front of Flask (`FeedEndpoint`): a request is one token lookup, a cached
render and a few headers, with none of Flask's per-request machinery (request context,
session, after-request hooks), which cost several times the rest. Every other request,
including other methods on the feed's URL, goes on to Flask. Single-event downloads are rare
and stay a Flask view; they find the event through the feed's index (FeedRenderer.event_index),
so an unknown UID costs no more than a known one, whatever the feed's size.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from flask import Blueprint, Flask, Response, abort
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.http import http_date, is_resource_modified

from bridge.feed_views import FeedUnavailable
from bridge.services import Services, services
from bridge.web.access import view_for_token
from bridge.web.headers import feed_headers

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

blueprint = Blueprint("feeds", __name__)

ICS_CONTENT_TYPE = "text/calendar; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
FEED_ROUTE = "/f/<token>.ics"  # as the metrics label it, like Flask's url rules
FEED_PATH = re.compile(r"/f/([^/]+)\.ics")

Headers = list[tuple[str, str]]


def file_name(name: str) -> str:
    """A readable, safe .ics file name from a feed's name."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()
    return f"{slug or 'calendar'}.ics"


def _disposition(kind: str, name: str) -> str:
    return f'{kind}; filename="{file_name(name)}"'


def _plain_text(code: int, message: str) -> tuple[int, Headers, bytes]:
    body = f"{message}\n".encode()
    return code, [("Content-Type", TEXT_CONTENT_TYPE), ("Content-Length", str(len(body)))], body


def _expand_requested(arguments: dict[str, list[str]]) -> bool:
    recurrence = arguments.get("recurrence", [None])[0]
    if recurrence not in (None, "", "expand"):
        raise BadRequest(f"Unknown recurrence option {recurrence!r}; the only option is 'expand'.")
    return recurrence == "expand"


def _not_modified(environ: WSGIEnvironment, etag: str, last_modified: datetime) -> bool:
    # Clients send back the ETag they were given: decide that case without parsing anything.
    if environ.get("HTTP_IF_NONE_MATCH") == etag:
        return True
    return not is_resource_modified(environ, etag=etag, last_modified=last_modified)


class FeedEndpoint:
    """`GET|HEAD /f/<token>.ics` served without Flask; everything else goes to `fallback`."""

    def __init__(self, fallback: WSGIApplication, app_services: Services, logger: logging.Logger):
        self.fallback = fallback
        self.services = app_services
        self.logger = logger  # Flask's app logger: it redacts tokens (bridge.logs)
        self.security_headers = feed_headers(app_services.settings.public_url)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        match = FEED_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or method not in ("GET", "HEAD"):
            return self.fallback(environ, start_response)
        try:
            code, headers, body = self.respond(match[1], environ)
        except Exception:
            self.logger.exception("Exception on %s [%s]", environ.get("PATH_INFO"), method)
            code, headers, body = _plain_text(500, "Internal server error; please try later.")
        self.services.metrics.requests.labels(FEED_ROUTE, str(code)).inc()
        headers.extend(self.security_headers)
        start_response(f"{code} {HTTPStatus(code).phrase}", headers)
        return [] if method == "HEAD" or not body else [body]

    def respond(self, token: str, environ: WSGIEnvironment) -> tuple[int, Headers, bytes]:
        """(status, headers, body) of the feed request; HEAD gets the same but no body."""
        now = self.services.clock()
        query = environ.get("QUERY_STRING")
        arguments = parse_qs(query, keep_blank_values=True) if query else {}
        try:
            view = view_for_token(self.services.store, token, now)
            rendered = self.services.feeds.render(view, expand=_expand_requested(arguments))
        except HTTPException as refusal:
            return _plain_text(refusal.code or 500, refusal.description or refusal.name)
        except FeedUnavailable as unavailable:
            code, headers, body = _plain_text(503, unavailable.reason)
            headers.append(("Retry-After", str(unavailable.retry_after)))
            return code, headers, body

        download = arguments.get("download", [""])[0] in ("1", "true", "yes")
        disposition = _disposition("attachment" if download else "inline", view.feed.name)
        etag = f'"{rendered.etag}"'
        headers = [
            ("ETag", etag),
            ("Last-Modified", http_date(rendered.last_modified)),
            ("Cache-Control", f"private, max-age={self.services.settings.cache_ttl}"),
            ("Content-Disposition", disposition),
        ]
        if rendered.stale_since is not None:
            # Counted when the answer leaves: the refresh that found the outage may have taken
            # a while.
            answered_at = self.services.clock()
            headers.append(("X-Calbridge-Stale", str(rendered.stale_age(answered_at))))
            # Not `Age`: that is a cache header, and one above max-age makes clients and proxies
            # treat every answer as expired and revalidate it on each use.
            headers.append(("X-Calbridge-Data-Age", str(rendered.data_age(answered_at))))
        if _not_modified(environ, etag, rendered.last_modified):
            return 304, headers, b""
        headers += [("Content-Type", ICS_CONTENT_TYPE), ("Content-Length", str(len(rendered.body)))]
        return 200, headers, rendered.body


@blueprint.errorhandler(HTTPException)
def plain_text_error(error: HTTPException) -> Response:
    return Response(f"{error.description}\n", status=error.code, content_type=TEXT_CONTENT_TYPE)


@blueprint.errorhandler(FeedUnavailable)
def no_data_yet(unavailable: FeedUnavailable) -> Response:
    response = Response(f"{unavailable.reason}\n", 503, content_type=TEXT_CONTENT_TYPE)
    response.headers["Retry-After"] = str(unavailable.retry_after)
    return response


@blueprint.get("/f/<token>/events/<path:uid>.ics")
def event(token: str, uid: str) -> Response:
    app = services()
    view = view_for_token(app.store, token, app.clock())
    body = app.feeds.render_event(view, uid)
    if body is None:
        abort(404, "This event is not in the calendar (any more).")
    response = Response(body, content_type=ICS_CONTENT_TYPE)
    response.headers["Content-Disposition"] = _disposition("attachment", uid.split("@")[0])
    response.cache_control.private = True
    response.cache_control.no_cache = True
    return response


def install(app: Flask, app_services: Services) -> None:
    """Put the feed endpoint in front of the Flask app's WSGI callable."""
    app.wsgi_app = FeedEndpoint(app.wsgi_app, app_services, app.logger)
