"""The admin JSON API at /api/v1: the CLI's operations over HTTP.

Every request but the OpenAPI document needs `Authorization: Bearer <CALBRIDGE_ADMIN_TOKEN>`
(compared in constant time); without a configured token the API answers 403. Bodies are
validated against the schemas of `bridge.web.openapi` before any operation runs, and every
error, including unknown routes and wrong methods under /api/v1, is JSON
`{"error": {"code": ..., "message": ...}}`. Upstream credentials are write-only.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound

from bridge import operations
from bridge.feed_views import FeedUnavailable
from bridge.operations import Conflict, NotFound, OperationError
from bridge.services import services
from bridge.store import StoreError
from bridge.store.base import MAX_ID
from bridge.store.change_log import ChangesPruned
from bridge.upstream.errors import UpstreamError
from bridge.web.ics import file_name
from bridge.web.openapi import API_PREFIX, MAX_CHANGE_NUMBER, InvalidBody, document, validate_body
from feeds.rules import trainercentral_auth

blueprint = Blueprint("api", __name__, url_prefix=API_PREFIX)

MAX_BODY_BYTES = 64 * 1024
ID = f"int(min=1, max={MAX_ID})"
CHALLENGE = 'Bearer realm="calbridge admin API"'
HTTP_ERROR_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """An error answer: HTTP status, stable code, one-sentence message, extra headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    response.headers.update(dict(headers or {}))
    return response


# -- errors ----------------------------------------------------------------------------------


@blueprint.errorhandler(ApiError)
def api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, error.headers)


@blueprint.errorhandler(NotFound)  # the store's and the operations' (one class)
def not_found(error: NotFound) -> Response:
    return error_response(404, "not_found", str(error))


@blueprint.errorhandler(StoreError)
def store_refused(error: StoreError) -> Response:
    # Validation happens before the store is reached, so what it still refuses is a clash with
    # the current state: a duplicate name or a revoked feed, possibly raced by another request.
    return error_response(409, "conflict", str(error))


@blueprint.errorhandler(Conflict)
def conflict(error: Conflict) -> Response:
    return error_response(409, "conflict", str(error))


@blueprint.errorhandler(OperationError)
def operation_refused(error: OperationError) -> Response:
    return error_response(422, "unprocessable", str(error))


@blueprint.errorhandler(FeedUnavailable)
def feed_unavailable(error: FeedUnavailable) -> Response:
    return error_response(
        503, "feed_unavailable", error.reason, {"Retry-After": str(error.retry_after)}
    )


@blueprint.errorhandler(UpstreamError)
def upstream_failed(error: UpstreamError) -> Response:
    return error_response(502, "upstream_error", str(error))


@blueprint.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    status = error.code or 500
    code = HTTP_ERROR_CODES.get(status, "invalid_request" if status < 500 else "internal_error")
    headers = {key: value for key, value in error.get_headers() if key.lower() == "allow"}
    return error_response(status, code, error.description or error.name, headers)


@blueprint.errorhandler(Exception)
def unexpected(error: Exception) -> Response:
    current_app.logger.exception("admin API request failed: %s %s", request.method, request.path)
    return error_response(500, "internal_error", "Internal error; see the server log.")


@blueprint.before_app_request
def json_routing_errors() -> Response | None:
    """Unknown paths and wrong methods under /api/v1 get JSON too (the routing fails before
    any blueprint is chosen, so the blueprint's error handlers would not see them)."""
    if request.path != API_PREFIX and not request.path.startswith(API_PREFIX + "/"):
        return None
    failure = request.routing_exception
    if isinstance(failure, MethodNotAllowed):
        allowed = ", ".join(failure.valid_methods or [])
        return error_response(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed here; use {allowed}",
            {"Allow": allowed},
        )
    if isinstance(failure, RouteNotFound):
        return error_response(
            404, "not_found", f"No admin API route {request.path}; see {API_PREFIX}/openapi.json"
        )
    return None


# -- authentication --------------------------------------------------------------------------


@blueprint.before_request
def require_admin_token() -> None:
    if request.endpoint == "api.openapi_document":
        return
    expected = services().settings.admin_token
    if not expected:
        raise ApiError(
            403,
            "admin_api_disabled",
            "The admin API is disabled because CALBRIDGE_ADMIN_TOKEN is not set.",
        )
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        raise ApiError(
            401,
            "unauthorized",
            "Send the admin token as 'Authorization: Bearer <CALBRIDGE_ADMIN_TOKEN>'.",
            {"WWW-Authenticate": CHALLENGE},
        )
    if not hmac.compare_digest(_header_bytes(given), expected.encode("utf-8")):
        raise ApiError(
            401,
            "unauthorized",
            "The bearer token is not the admin token.",
            {"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'},
        )


def _header_bytes(value: str) -> bytes:
    # WSGI hands headers over as latin-1 decoded text; this recovers the bytes that were sent.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace")


# -- request bodies ----------------------------------------------------------------------------


def read_json(*, optional: bool = False) -> Any:
    """The request's JSON value ({} for an empty optional body); raises ApiError."""
    request.max_content_length = MAX_BODY_BYTES
    raw = request.get_data(cache=True)
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "invalid_request", "The request body is empty; send a JSON object.")
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Send the body as application/json, not {request.mimetype or 'no content type'}.",
        )
    try:
        body = json.loads(raw)
        # Lone surrogates parse but cannot be stored or printed; refuse them here.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except json.JSONDecodeError as error:
        raise ApiError(
            400, "malformed_json", f"The body is not valid JSON: {error.msg} at {error.pos}."
        ) from None
    except (ValueError, RecursionError):
        raise ApiError(400, "malformed_json", "The body is not valid UTF-8 JSON.") from None
    return body


def checked(schema_name: str, body: Any) -> dict[str, Any]:
    """`body` if it matches the named schema (raises ApiError 400 naming the field)."""
    try:
        validate_body(schema_name, body)
    except InvalidBody as error:
        message = str(error)
        raise ApiError(400, "invalid_request", message[:1].upper() + message[1:]) from None
    # JSON Schema counts 30.0 as an integer; the operations want real ints.
    return {key: int(value) if isinstance(value, float) else value for key, value in body.items()}


def source_body() -> dict[str, Any]:
    """A source body, checked against the schema of its kind (so messages name the field)."""
    body = read_json()
    if not isinstance(body, dict):
        raise ApiError(
            400,
            "invalid_request",
            f"The request body must be an object, got {type(body).__name__}",
        )
    kind = body.get("kind")
    if kind == "tagmango":
        return checked("TagMangoSourceInput", body)
    if kind != "trainercentral":
        problem = f"got {kind!r}" if "kind" in body else "it is missing"
        raise ApiError(
            400, "invalid_request", f"Field 'kind' must be tagmango or trainercentral; {problem}"
        )
    try:
        auth = trainercentral_auth(body)  # the fields present: the schema checks their values
    except ValueError as error:
        message = str(error)
        raise ApiError(400, "invalid_request", f"{message[:1].upper()}{message[1:]}.") from None
    if auth == "access_token":
        return checked("TrainerCentralTokenSourceInput", body)
    return checked("TrainerCentralOAuthSourceInput", body)


def created(result: operations.ToJson, location: str | None = None) -> Response:
    response = jsonify(result.to_json())
    response.status_code = 201
    if location:
        response.headers["Location"] = location
    return response


# -- routes ----------------------------------------------------------------------------------


@blueprint.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(document(services().settings.public_url))


@blueprint.get("/sources")
def list_sources() -> Response:
    return jsonify({"sources": [info.to_json() for info in operations.list_sources(services())]})


@blueprint.post("/sources")
def add_source() -> Response:
    body = source_body()
    kind = body.pop("kind")
    app = services()
    if kind == "tagmango":
        return created(operations.add_tagmango_source(app, **body))
    return created(operations.add_trainercentral_source(app, **body))


@blueprint.get("/feeds")
def list_feeds() -> Response:
    return jsonify({"feeds": [info.to_json() for info in operations.list_feeds(services())]})


@blueprint.post("/feeds")
def create_feed() -> Response:
    body = checked("FeedInput", read_json())
    result = operations.create_feed(services(), **body)
    return created(result, f"{API_PREFIX}/feeds/{result.id}")


@blueprint.get(f"/feeds/<{ID}:feed_id>")
def show_feed(feed_id: int) -> Response:
    return jsonify(operations.show_feed(services(), feed_id).to_json())


@blueprint.post(f"/feeds/<{ID}:feed_id>/rotate")
def rotate_feed(feed_id: int) -> Response:
    return jsonify(operations.rotate_feed(services(), feed_id).to_json())


@blueprint.post(f"/feeds/<{ID}:feed_id>/revoke")
def revoke_feed(feed_id: int) -> Response:
    return jsonify(operations.revoke_feed(services(), feed_id).to_json())


@blueprint.get(f"/feeds/<{ID}:feed_id>/export")
def export_feed(feed_id: int) -> Response:
    expand = request.args.get("expand", "false")
    if expand not in ("true", "false"):
        raise ApiError(
            400,
            "invalid_request",
            f"Query parameter 'expand' must be true or false, got {expand!r}",
        )
    body = operations.export_feed(services(), feed_id, expand=expand == "true")
    feed = operations.get_feed(services(), feed_id)
    response = Response(body, content_type="text/calendar; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{file_name(feed.name)}"'
    return response


@blueprint.get(f"/feeds/<{ID}:feed_id>/changes")
def feed_changes(feed_id: int) -> Response:
    raw = request.args.get("since", "0")
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_CHANGE_NUMBER:
        raise ApiError(
            400, "invalid_request", f"Query parameter 'since' must be a change number, got {raw!r}"
        )
    try:
        changes = operations.feed_changes(services(), feed_id, since=int(raw))
    except ChangesPruned as pruned:
        raise ApiError(410, "changes_pruned", str(pruned)) from None
    return jsonify(changes.to_json())


@blueprint.post(f"/feeds/<{ID}:feed_id>/shares")
def share_feed(feed_id: int) -> Response:
    body = checked("ShareInput", read_json(optional=True))
    return created(operations.share_feed(services(), feed_id, **body))


@blueprint.post(f"/shares/<{ID}:share_id>/revoke")
def revoke_share(share_id: int) -> Response:
    return jsonify(operations.revoke_share(services(), share_id).to_json())
