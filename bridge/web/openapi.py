"""The admin API's OpenAPI 3.1 document, and the request validation built from it.

The request schemas here are the contract *and* the implementation: `bridge.web.api`
validates every request body with `validate_body`, which reads these same schemas, so
the document served at /api/v1/openapi.json cannot drift from what the API accepts.
Errors are reported as one sentence naming the field, never a dump of the schema.

One module over 400 lines: it is the API's one document, mostly schema data, read top to
bottom like the document it serves (the participants' part is bridge.web.participants_openapi).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from bridge.store.base import MAX_ID
from bridge.web import participants_openapi
from feeds.rules import MAX_ALARM_MINUTES, MAX_DAYS
from feeds.timezones import zone_names

API_PREFIX = "/api/v1"

# One visible character at least, no control characters (what `.strip()` would leave non-empty).
TEXT_PATTERN = r"^[^\u0000-\u001f\u007f]*[^\s\u0000-\u001f\u007f][^\u0000-\u001f\u007f]*$"
# Secrets go into HTTP headers: printable ASCII without spaces.
SECRET_PATTERN = r"^[!-~]+$"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# Ports 1 to 65535, digit by digit.
_PORT = (
    r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}"
    r"|[1-9][0-9]{0,3}))?"
)
HOST_PATTERN = rf"^{_LABEL}(?:\.{_LABEL})*{_PORT}$"
ORIGIN_PATTERN = rf"^https?://{_LABEL}(?:\.{_LABEL})*{_PORT}(?:/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?$"
# A calendar day (years 0001 to 9999, each month's own last day; only February 29 of a common
# year gets past it), optionally with a time of day and a UTC offset: what `parse_expiry` reads.
_DAY = (
    r"(?:[1-9][0-9]{3}|0(?:[1-9][0-9]{2}|0[1-9][0-9]|00[1-9]))-"
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-9]))"
)
_TIME = r"T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
_OFFSET = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
EXPIRES_PATTERN = rf"^{_DAY}(?:{_TIME}{_OFFSET}?)?$"

ORG_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
PATTERN_HINTS = {
    TEXT_PATTERN: "must have a visible character and no control characters",
    SECRET_PATTERN: "must be printable ASCII without spaces",
    HOST_PATTERN: "must be a host name such as me.tagmango.com",
    ORIGIN_PATTERN: "must be an http(s) URL such as https://example.com (no query)",
    EXPIRES_PATTERN: "must be a date like 2027-01-31 or an ISO 8601 instant",
    ORG_ID_PATTERN: "must be 1 to 64 letters, digits, '-' or '_'",
}

ERROR_CODES = [
    "malformed_json",
    "invalid_request",
    "unsupported_media_type",
    "payload_too_large",
    "unauthorized",
    "admin_api_disabled",
    "not_found",
    "method_not_allowed",
    "conflict",
    "changes_pruned",
    "unprocessable",
    "upstream_error",
    "feed_unavailable",
    "internal_error",
]


def _text(max_length: int, description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": TEXT_PATTERN,
        "description": description,
    }


def _secret(description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": 4096,
        "pattern": SECRET_PATTERN,
        "writeOnly": True,
        "description": description + " (stored encrypted; never returned)",
    }


def _origin(description: str, default: str | None = None) -> dict[str, Any]:
    schema = {"type": "string", "maxLength": 2048, "pattern": ORIGIN_PATTERN}
    if default is not None:
        schema["default"] = default
    return {**schema, "description": description}


def _object(properties: dict[str, Any], required: list[str], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _ids(description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "maxItems": 50,
        "items": _text(100, "An id"),
        "description": description,
    }


_REF = "#/components/schemas/"
TIME_ZONES = sorted(zone_names())
INSTANT = {"type": "string", "format": "date-time"}
MAYBE_INSTANT = {"type": ["string", "null"], "format": "date-time"}
SOURCE_NAME = _text(100, "The source's unique name, used when creating feeds")
TC_COMMON = {
    "kind": {"type": "string", "const": "trainercentral"},
    "name": SOURCE_NAME,
    "org_id": {
        "type": "string",
        "pattern": ORG_ID_PATTERN,
        "description": "The academy's org id (the number in its URL)",
    },
    "academy_url": _origin("The academy's address, e.g. https://myacademy.trainercentral.com"),
    "filter": {
        "type": "string",
        "enum": ["1", "5"],
        "default": "1",
        "description": "1: your sessions; 5: the whole academy's (admin role)",
    },
    "accounts_url": _origin("Your Zoho accounts server", "https://accounts.zoho.com"),
}
LINK_PROPERTIES = {
    "ics_url": {"type": "string", "description": "The secret feed URL (shown only now)"},
    "webcal_url": {"type": "string", "description": "The same URL with the webcal: scheme"},
    "page_url": {"type": "string", "description": "The subscribe page"},
}
FEED_PROPERTIES = {
    "id": {"type": "integer"},
    "name": {"type": "string"},
    "sources": {"type": "array", "items": {"type": "string"}},
    "timezone": {"type": "string"},
    "history_days": {"type": "integer"},
    "horizon_days": {"type": "integer"},
    "user": {"type": ["string", "null"]},
    "mangoes": {"type": "array", "items": {"type": "string"}},
    "alarm_minutes": {"type": ["integer", "null"]},
    "created_at": INSTANT,
    "rotated_at": MAYBE_INSTANT,
    "revoked_at": MAYBE_INSTANT,
}
SHARE_PROPERTIES = {
    "id": {"type": "integer"},
    "feed_id": {"type": "integer"},
    "scope": {"type": "string", "enum": ["full", "no-links", "busy"]},
    "expires_at": MAYBE_INSTANT,
    "revoked_at": MAYBE_INSTANT,
    "created_at": INSTANT,
}

CHANGE_PROPERTIES: dict[str, Any] = {
    "number": {"type": "integer", "minimum": 1, "description": "Rises with every change"},
    "kind": {"enum": ["added", "changed", "cancelled", "removed"]},
    "source": SOURCE_NAME,
    "upstream_id": _text(255, "The session's id upstream"),
    "uid": {"type": "string", "description": "The occurrence's UID as a single event"},
    "start": INSTANT,
    "end": INSTANT,
    "changed_at": INSTANT,
}
MAX_CHANGE_NUMBER = 2**63 - 1  # change numbers are 64-bit
SINCE = {
    "name": "since",
    "in": "query",
    "required": False,
    "description": "List the changes numbered after this (0: all that are kept)",
    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_CHANGE_NUMBER, "default": 0},
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "TimeZone": {
        "type": "string",
        "enum": TIME_ZONES,
        "description": "An IANA time zone name such as Europe/Berlin",
    },
    "TagMangoSourceInput": _object(
        {
            "kind": {"type": "string", "const": "tagmango"},
            "name": SOURCE_NAME,
            "token": _secret("The TagMango API key"),
            "whitelabel_host": {
                "type": "string",
                "maxLength": 253,
                "pattern": HOST_PATTERN,
                "description": "The dashboard host, e.g. me.tagmango.com",
            },
            "api_base": _origin("The TagMango API origin", "https://api-prod-new.tagmango.com"),
            "timezone": {"$ref": _REF + "TimeZone", "default": "Asia/Kolkata"},
            "mangoes": _ids("Only these products (TagMango mango ids)"),
            "user": _text(200, "Only this participant's calls (TagMango user id)"),
        },
        ["kind", "name", "token", "whitelabel_host"],
        "A TagMango account (workshop video calls)",
    ),
    "TrainerCentralTokenSourceInput": _object(
        {**TC_COMMON, "access_token": _secret("A fixed Zoho access token")},
        ["kind", "name", "org_id", "academy_url", "access_token"],
        "A TrainerCentral academy read with a fixed Zoho access token",
    ),
    "TrainerCentralOAuthSourceInput": _object(
        {
            **TC_COMMON,
            "client_id": _secret("Zoho OAuth client id"),
            "client_secret": _secret("Zoho OAuth client secret"),
            "refresh_token": _secret("Zoho OAuth refresh token"),
        },
        ["kind", "name", "org_id", "academy_url", "client_id", "client_secret", "refresh_token"],
        "A TrainerCentral academy read with a Zoho OAuth client and refresh token",
    ),
    "SourceInput": {
        "oneOf": [
            {"$ref": _REF + "TagMangoSourceInput"},
            {"$ref": _REF + "TrainerCentralTokenSourceInput"},
            {"$ref": _REF + "TrainerCentralOAuthSourceInput"},
        ],
        "description": "A source to register; `kind` says which platform",
    },
    "Source": {
        "type": "object",
        "description": "A registered source (its credentials are never returned)",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "kind": {"type": "string", "enum": ["tagmango", "trainercentral"]},
            "whitelabel_host": {"type": "string"},
            "api_base": {"type": "string"},
            "timezone": {"type": "string"},
            "mangoes": {"type": "array", "items": {"type": "string"}},
            "user": {"type": ["string", "null"]},
            "webhook_url": {
                "type": "string",
                "description": "TagMango sources: the secret URL to register for webhooks",
            },
            "org_id": {"type": "string"},
            "academy_url": {"type": "string"},
            "filter": {"type": "string"},
            "accounts_url": {"type": "string"},
        },
        "required": ["id", "name", "kind"],
        "additionalProperties": False,
    },
    "SourceList": _object(
        {"sources": {"type": "array", "items": {"$ref": _REF + "Source"}}},
        ["sources"],
        "All registered sources",
    ),
    "FeedInput": _object(
        {
            "name": _text(200, "The calendar's name, as subscribers see it"),
            "sources": {
                "type": "array",
                "minItems": 1,
                "maxItems": 20,
                "items": SOURCE_NAME,
                "description": "Names of the sources merged into this feed",
            },
            "timezone": {"$ref": _REF + "TimeZone", "default": "UTC"},
            "history_days": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_DAYS,
                "default": 30,
                "description": "Keep past sessions this many days",
            },
            "horizon_days": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_DAYS,
                "default": 180,
                "description": "Include sessions up to this many days ahead",
            },
            "user": _text(200, "A participant's feed: only this TagMango user's calls"),
            "mangoes": _ids("Only these TagMango products"),
            "alarm_minutes": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_ALARM_MINUTES,
                "default": 10,
                "description": "Reminder minutes before each session (0: none)",
            },
        },
        ["name", "sources"],
        "A feed to create; `user` and `mangoes` apply to TagMango sources only",
    ),
    "Feed": _object(FEED_PROPERTIES, list(FEED_PROPERTIES), "A feed (without its secret URL)"),
    "FeedWithLinks": _object(
        {**FEED_PROPERTIES, **LINK_PROPERTIES},
        [*FEED_PROPERTIES, *LINK_PROPERTIES],
        "A feed with its new secret URLs (returned on create and rotate only)",
    ),
    "FeedList": _object(
        {"feeds": {"type": "array", "items": {"$ref": _REF + "Feed"}}}, ["feeds"], "All feeds"
    ),
    "Share": _object(SHARE_PROPERTIES, list(SHARE_PROPERTIES), "A share link"),
    "Change": _object(
        CHANGE_PROPERTIES, list(CHANGE_PROPERTIES), "One occurrence an upstream read changed"
    ),
    "ChangeList": _object(
        {
            "feed_id": {"type": "integer", "minimum": 1},
            "since": {"type": "integer", "minimum": 0},
            "latest": {
                "type": "integer",
                "minimum": 0,
                "description": "The number to ask from next: the last change listed while "
                "`more` is true, else the newest change of all feeds",
            },
            "more": {"type": "boolean", "description": "More changes follow: ask again"},
            "changes": {"type": "array", "items": {"$ref": _REF + "Change"}},
        },
        ["feed_id", "since", "latest", "more", "changes"],
        "The feed's changes after `since`, oldest first",
    ),
    "ShareWithLinks": _object(
        {**SHARE_PROPERTIES, **LINK_PROPERTIES},
        [*SHARE_PROPERTIES, *LINK_PROPERTIES],
        "A new share link with its secret URLs (returned once)",
    ),
    "FeedDetail": _object(
        {
            **FEED_PROPERTIES,
            "shares": {"type": "array", "items": {"$ref": _REF + "Share"}},
            "warnings": {
                "type": "array",
                "items": {"type": "string"},
                "description": "What keeping the feed under Google Calendar's size limit "
                "(about 1 MB) takes now: descriptions shortened, horizon or history cut. "
                "Empty when the feed fits as it is",
            },
        },
        [*FEED_PROPERTIES, "shares", "warnings"],
        "A feed, its share links and any warning about its size",
    ),
    "ShareInput": _object(
        {
            "scope": {
                "type": "string",
                "enum": ["full", "no-links", "busy"],
                "default": "busy",
                "description": "full: join links; no-links: titles only; busy: busy only",
            },
            "expires": {
                "type": "string",
                "pattern": EXPIRES_PATTERN,
                "description": "Expiry: a date (the end of that day in the feed's time zone) "
                "or an ISO 8601 instant (UTC unless it has an offset); must be in the future",
            },
        },
        [],
        "A share link to create",
    ),
    "Error": _object(
        {
            "error": _object(
                {
                    "code": {"type": "string", "enum": ERROR_CODES},
                    "message": {"type": "string"},
                },
                ["code", "message"],
                "What went wrong",
            )
        },
        ["error"],
        "Every error answer",
    ),
}

# -- operations ------------------------------------------------------------------------------

ERROR_DESCRIPTIONS = {
    "400": "Malformed JSON, or a body or query that does not match the schema",
    "401": "Missing or wrong bearer token",
    "403": "The admin API is disabled (CALBRIDGE_ADMIN_TOKEN is not set)",
    "404": "No such feed, share link or source",
    "409": "Conflicts with the current state (duplicate name, revoked feed)",
    "410": "The changes since that number were pruned: read the feed again, then ask from `latest`",
    "413": "The request body is too large",
    "415": "The request body is not application/json",
    "422": "Well-formed but refused by the operation (the message says why)",
    "502": "An upstream platform answered with an error",
    "503": "The feed has no data yet because its upstream could not be reached",
}


def _json(schema_name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF + schema_name}}}


def _error(status: str, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or ERROR_DESCRIPTIONS[status],
        "content": _json("Error"),
    }
    if status == "401":
        response["headers"] = {
            "WWW-Authenticate": {
                "description": "Bearer challenge (RFC 6750)",
                "schema": {"type": "string"},
                "required": True,
            }
        }
    if status == "503":
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before trying again",
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
                "required": True,
            }
        }
    return response


def _operation(
    operation_id: str,
    summary: str,
    success: tuple[str, str, dict[str, Any]],
    errors: list[str],
    *,
    body: str | None = None,
    body_required: bool = True,
    parameters: list[dict[str, Any]] | None = None,
    explained: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An operation answering `success` or one of `errors` (plus the auth and body errors);
    `explained` gives an error status a description of its own for this operation."""
    status, description, content = success
    explained = explained or {}
    codes = ["401", "403", *errors]
    if body is not None:
        codes += ["400", "413", "415"]
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": parameters or [],
        "responses": {
            status: {"description": description, "content": content},
            **{code: _error(code, explained.get(code)) for code in sorted(set(codes))},
        },
    }
    if body is not None:
        operation["requestBody"] = {"required": body_required, "content": _json(body)}
    return operation


def _id_parameter(name: str, what: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }


FEED_ID = _id_parameter("feed_id", "feed")
SHARE_ID = _id_parameter("share_id", "share link")
EXPAND = {
    "name": "expand",
    "in": "query",
    "required": False,
    "description": "true: write every occurrence as a single event instead of RRULE series",
    "schema": {"type": "boolean", "default": False},
}


def _on_feed(
    operation_id: str,
    summary: str,
    success: tuple[str, str, dict[str, Any]],
    errors: Sequence[str] = (),
    *,
    parameters: Sequence[dict[str, Any]] = (),
    **options: Any,
) -> dict[str, Any]:
    """An operation on the feed its path's {feed_id} names (404 when there is none)."""
    return _operation(
        operation_id,
        summary,
        success,
        ["404", *errors],
        parameters=[FEED_ID, *parameters],
        **options,
    )


PATHS: dict[str, dict[str, Any]] = {
    "/sources": {
        "get": _operation(
            "listSources", "List sources", ("200", "The sources", _json("SourceList")), []
        ),
        "post": _operation(
            "addSource",
            "Register a TagMango or TrainerCentral source",
            ("201", "The new source", _json("Source")),
            ["409", "422"],
            body="SourceInput",
        ),
    },
    "/feeds": {
        "get": _operation("listFeeds", "List feeds", ("200", "The feeds", _json("FeedList")), []),
        "post": _operation(
            "createFeed",
            "Create a feed (its secret URLs are returned only now)",
            ("201", "The new feed and its URLs", _json("FeedWithLinks")),
            ["404", "409", "422"],
            body="FeedInput",
        ),
    },
    "/feeds/{feed_id}": {
        "get": _on_feed(
            "showFeed",
            "Show a feed and its share links",
            ("200", "The feed", _json("FeedDetail")),
        ),
    },
    "/feeds/{feed_id}/rotate": {
        "post": _on_feed(
            "rotateFeed",
            "Give a feed a new secret URL; the old one stops working at once",
            ("200", "The feed and its new URLs", _json("FeedWithLinks")),
            ["409"],
        ),
    },
    "/feeds/{feed_id}/revoke": {
        "post": _on_feed(
            "revokeFeed",
            "Revoke a feed and its share links (idempotent)",
            ("200", "The revoked feed", _json("Feed")),
        ),
    },
    "/feeds/{feed_id}/export": {
        "get": _on_feed(
            "exportFeed",
            "Render the feed as iCalendar (fetching upstream if needed)",
            (
                "200",
                "The calendar",
                {"text/calendar": {"schema": {"type": "string"}}},
            ),
            ["400", "409", "502", "503"],
            parameters=[EXPAND],
        ),
    },
    "/feeds/{feed_id}/changes": {
        "get": _on_feed(
            "listFeedChanges",
            "What upstream changed in the feed's sessions since a change number",
            ("200", "The changes, oldest first (at most 1,000 a page)", _json("ChangeList")),
            ["400", "410"],
            parameters=[SINCE],
        ),
    },
    "/feeds/{feed_id}/shares": {
        "post": _on_feed(
            "shareFeed",
            "Create a share link with a narrower scope",
            ("201", "The share link and its URLs", _json("ShareWithLinks")),
            ["409", "422"],
            body="ShareInput",
            body_required=False,
            explained={
                "422": "The expiry matches the pattern but is refused: it is in the past, "
                "February 29 of a common year, or beyond the year 9999 in UTC"
            },
        ),
    },
    "/shares/{share_id}/revoke": {
        "post": _operation(
            "revokeShare",
            "Revoke a share link (idempotent)",
            ("200", "The revoked share link", _json("Share")),
            ["404"],
            parameters=[SHARE_ID],
        ),
    },
}
participants_openapi.extend(PATHS, SCHEMAS)


def document(server_url: str) -> dict[str, Any]:
    """The OpenAPI document, with `server_url` (the public origin) as its server."""
    paths = {API_PREFIX + path: copy.deepcopy(item) for path, item in PATHS.items()}
    paths[API_PREFIX + "/openapi.json"] = {
        "get": {
            "operationId": "openapiDocument",
            "summary": "This document (no token needed)",
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "calbridge admin API",
            "version": "1",
            "description": "The operations of the `calbridge` command line over HTTP. "
            "Every request needs `Authorization: Bearer <CALBRIDGE_ADMIN_TOKEN>`; every error "
            'is JSON `{"error": {"code", "message"}}`. Upstream credentials are write-only.',
        },
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The value of CALBRIDGE_ADMIN_TOKEN",
                }
            },
        },
    }


# -- validation ------------------------------------------------------------------------------

_RESOURCE_URI = "urn:calbridge:admin-api"


class InvalidBody(ValueError):
    """The request body does not match its schema; the message names the field and the rule."""


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """`pattern` as JSON Schema means it (ECMA-262), where `$` ends the string. Python's `$`
    also matches before a final newline, which would let "2027-01-31\\n" through."""
    if validator.is_type(instance, "string") and not re.search(_python_pattern(pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _python_pattern(pattern: str) -> str:
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern[:-1] + r"\Z"
    return pattern


_Validator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


@cache
def _validator(schema_name: str) -> Any:
    resource = DRAFT202012.create_resource({"components": {"schemas": SCHEMAS}})
    registry: Registry = Registry().with_resource(_RESOURCE_URI, resource)
    return _Validator({"$ref": f"{_RESOURCE_URI}{_REF}{schema_name}"}, registry=registry)


def validate_body(schema_name: str, body: Any) -> None:
    """Raise `InvalidBody` unless `body` matches the named component schema."""
    errors = list(_validator(schema_name).iter_errors(body))
    if errors:
        # Report the most basic problem first: shape, then missing/unknown fields, then values.
        order = ["type", "required", "additionalProperties", "const"]
        errors.sort(key=lambda e: order.index(e.validator) if e.validator in order else 9)
        raise InvalidBody(_describe(errors[0]))


def _describe(error: ValidationError) -> str:
    field = ".".join(str(part) for part in error.absolute_path)
    where = f"field {field!r}" if field else "the request body"
    schema = error.schema if isinstance(error.schema, dict) else {}
    rule = error.validator
    if rule in ("required", "additionalProperties"):
        message = error.message.replace("Additional properties", "Unknown fields")
        return f"{where}: {message}" if field else message
    if rule == "type":
        expected = error.validator_value
        names = expected if isinstance(expected, list) else [expected]
        article = "an" if names[0] in ("object", "array", "integer") else "a"
        kind = " or ".join(names)
        return f"{where} must be {article} {kind}, got {_short(error.instance)}"
    if rule in ("enum", "const"):
        allowed = error.validator_value if rule == "enum" else [error.validator_value]
        if len(allowed) > 10:
            what = schema.get("description", "A known value")
            what = what[:1].lower() + what[1:]
            return f"{where} must be {what}, got {_short(error.instance)}"
        listed = ", ".join(str(value) for value in allowed)
        return f"{where} must be one of {listed}, got {_short(error.instance)}"
    if rule == "pattern":
        hint = PATTERN_HINTS.get(error.validator_value, "is not well-formed")
        return f"{where} {hint}, got {_short(error.instance)}"
    return f"{where}: {_short_message(error.message)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _short_message(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."
