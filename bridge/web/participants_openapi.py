"""The `/api/v1/participants` part of the admin API's OpenAPI document (bridge/web/openapi.py
merges it with `extend`); bridge/web/participants_api.py validates its bodies with it."""

from __future__ import annotations

from typing import Any

from bridge.participants.schedule import MAX_EVERY_HOURS

STRING_OR_NULL = {"type": ["string", "null"]}
PERSON = {
    "user_id": {"type": "string"},
    "name": {"type": "string"},
    "email": {"type": "string"},
}
CHANGE = {
    "type": "object",
    "properties": {
        **PERSON,
        "feed_id": {"type": ["integer", "null"]},
        "reason": {"type": "string"},
        "ics_url": {"type": "string"},
        "webcal_url": {"type": "string"},
        "page_url": {"type": "string"},
    },
    "required": ["user_id", "name", "email"],
}
SOURCE = {
    "name": "source",
    "in": "path",
    "required": True,
    "description": "The source's name",
    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
}


def schemas(text: Any) -> dict[str, dict[str, Any]]:
    """The component schemas (`text` is openapi's `_text` helper)."""
    return {
        "ParticipantSyncInput": {
            "type": "object",
            "description": "Where the roster comes from (none: the source's own roster)",
            "properties": {
                "users": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 100,
                    "items": text(255, "A TagMango user id"),
                    "description": "Only check these TagMango users; nobody else is revoked",
                },
                "creator_id": text(100, "The TagMango creator id (found if not given)"),
                "dry_run": {"type": "boolean", "default": False},
            },
            "additionalProperties": False,
        },
        "ParticipantSyncReport": {
            "type": "object",
            "properties": {
                "source": {"type": "string"},
                "roster": {"type": "string", "description": "Where the roster was read"},
                "dry_run": {"type": "boolean"},
                "created": {"type": "array", "items": CHANGE},
                "updated": {"type": "array", "items": CHANGE},
                "revoked": {"type": "array", "items": CHANGE},
                "skipped": {"type": "array", "items": CHANGE},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "line": {"type": ["integer", "null"]},
                            "user_id": STRING_OR_NULL,
                            "message": {"type": "string"},
                        },
                        "required": ["line", "user_id", "message"],
                    },
                },
                "unchanged": {"type": "integer"},
                "notes": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["source", "created", "updated", "revoked", "skipped", "errors"],
        },
        "ParticipantScheduleInput": {
            "type": "object",
            "description": "Turn the automatic sync from the source's API roster on (every "
            "every_hours, or its interval so far) or off; an interval and off cannot go together",
            "properties": {
                "enabled": {"type": "boolean", "default": True},
                "every_hours": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_EVERY_HOURS,
                    "description": "Hours between two automatic syncs",
                },
            },
            "minProperties": 1,
            "additionalProperties": False,
        },
        "ParticipantSchedule": {
            "type": "object",
            "properties": {
                "source": {"type": "string"},
                "scheduled": {"type": "boolean", "description": "Whether the workers sync it"},
                "every_hours": {"type": ["integer", "null"]},
                "next_due_at": {**STRING_OR_NULL, "format": "date-time"},
                "last_run_at": {**STRING_OR_NULL, "format": "date-time"},
                "last_success_at": {**STRING_OR_NULL, "format": "date-time"},
                "last_error": STRING_OR_NULL,
                "failures": {"type": "integer", "description": "Failed runs in a row"},
                "last_counts": {
                    "type": ["object", "null"],
                    "description": "What the last successful sync changed",
                    "properties": {
                        "created": {"type": "integer"},
                        "updated": {"type": "integer"},
                        "revoked": {"type": "integer"},
                        "errors": {"type": "integer"},
                    },
                    "required": ["created", "updated", "revoked", "errors"],
                },
            },
            "required": ["source", "scheduled", "every_hours", "next_due_at", "last_error"],
        },
        "ParticipantList": {
            "type": "object",
            "properties": {
                "participants": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            **PERSON,
                            "status": {"enum": ["active", "expired", "left"]},
                            "feed_id": {"type": ["integer", "null"]},
                            "feed_url": STRING_OR_NULL,
                            "page_url": STRING_OR_NULL,
                            "webcal_url": STRING_OR_NULL,
                        },
                        "required": ["user_id", "name", "email", "status", "feed_url"],
                    },
                }
            },
            "required": ["participants"],
        },
    }


def paths(operation: Any, json_content: Any) -> dict[str, dict[str, Any]]:
    """The paths (`operation` and `json_content` are openapi's `_operation` and `_json`)."""
    listing = operation(
        "listParticipants",
        "Every participant of a source with their feed's links (a mail-merge)",
        (
            "200",
            "The participants (text/csv with ?format=csv)",
            {
                **json_content("ParticipantList"),
                "text/csv": {"schema": {"type": "string"}},
            },
        ),
        ["400", "404"],
        parameters=[
            SOURCE,
            {
                "name": "format",
                "in": "query",
                "required": False,
                "schema": {"enum": ["json", "csv"], "default": "json"},
            },
            {
                "name": "all",
                "in": "query",
                "required": False,
                "description": "true: revoked participants too",
                "schema": {"type": "boolean", "default": False},
            },
        ],
    )
    sync = operation(
        "syncParticipants",
        "Create, update and revoke participant feeds from the roster: the source's own, the "
        "users named, or a CSV sent as the text/csv body",
        ("200", "What changed (or would, with dry_run)", json_content("ParticipantSyncReport")),
        ["404", "422", "502"],
        body="ParticipantSyncInput",
        body_required=False,
        parameters=[SOURCE],
    )
    sync["requestBody"]["content"]["text/csv"] = {"schema": {"type": "string"}}
    sync["parameters"].append(
        {
            "name": "dry_run",
            "in": "query",
            "required": False,
            "description": "true: change nothing (for a text/csv body)",
            "schema": {"type": "boolean", "default": False},
        }
    )
    show_schedule = operation(
        "getParticipantSchedule",
        "The automatic sync of the source's participants from its API roster",
        ("200", "The schedule and the last run", json_content("ParticipantSchedule")),
        ["404"],
        parameters=[SOURCE],
    )
    change_schedule = operation(
        "setParticipantSchedule",
        "Turn the automatic sync on (with an interval) or off",
        ("200", "The schedule as it now is", json_content("ParticipantSchedule")),
        ["404", "422"],
        body="ParticipantScheduleInput",
        parameters=[SOURCE],
        explained={"422": "Both an interval and enabled: false"},
    )
    return {
        "/participants/{source}": {"get": listing},
        "/participants/{source}/sync": {"post": sync},
        "/participants/{source}/schedule": {"get": show_schedule, "put": change_schedule},
    }


def extend(all_paths: dict[str, Any], all_schemas: dict[str, Any]) -> None:
    """Add the participants' paths and schemas to the document's."""
    from bridge.web import openapi  # the helpers are defined before openapi calls this

    all_schemas.update(schemas(openapi._text))
    all_paths.update(paths(openapi._operation, openapi._json))
