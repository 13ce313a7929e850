"""`/api/v1/participants`: `calbridge participants sync|list` over HTTP (admin token needed).

`GET /api/v1/participants/<source>` lists the participants and their links (`?format=csv`
for a mail-merge); `POST /api/v1/participants/<source>/sync` syncs from the source's roster,
from the users named in a JSON body, or from a CSV sent as a `text/csv` body (a sync from the
source's roster turns its automatic sync on, one from a CSV turns it off: see
bridge/participants/schedule.py). `GET|PUT /api/v1/participants/<source>/schedule` shows and
changes that automatic sync (`calbridge participants schedule`). Authentication and error
answers are those of bridge/web/api.py.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from bridge.operations import get_source
from bridge.participants.roster import MAX_CSV_BYTES
from bridge.participants.schedule import (
    DEFAULT_EVERY_HOURS,
    after_sync,
    schedule_json,
    set_schedule,
)
from bridge.participants.sync import list_participants, participants_csv, sync_participants
from bridge.services import services
from bridge.web import api
from bridge.web.openapi import API_PREFIX

blueprint = Blueprint("participants_api", __name__, url_prefix=f"{API_PREFIX}/participants")
blueprint.before_request(api.require_admin_token)
for _handlers in api.blueprint.error_handler_spec[None].values():
    for _error, _handler in _handlers.items():
        blueprint.register_error_handler(_error, _handler)


def _flag(name: str) -> bool:
    value = request.args.get(name, "false")
    if value not in ("true", "false"):
        raise api.ApiError(
            400, "invalid_request", f"Query parameter {name!r} must be true or false, got {value!r}"
        )
    return value == "true"


@blueprint.get("/<string(maxlength=100):source>")
def list_route(source: str) -> Response:
    output = request.args.get("format", "json")
    if output not in ("json", "csv"):
        raise api.ApiError(
            400, "invalid_request", f"Query parameter 'format' must be json or csv, got {output!r}"
        )
    rows = list_participants(services(), source, include_revoked=_flag("all"))
    if output == "csv":
        return Response(participants_csv(rows), content_type="text/csv; charset=utf-8")
    return jsonify({"participants": rows})


@blueprint.post("/<string(maxlength=100):source>/sync")
def sync_route(source: str) -> Response:
    dry_run = _flag("dry_run")
    app = services()
    row = get_source(app, source)
    if request.mimetype == "text/csv":
        request.max_content_length = MAX_CSV_BYTES
        report = sync_participants(
            app, row.name, csv_data=request.get_data(cache=False), dry_run=dry_run
        )
        after_sync(app, row, report, from_csv=True, users=None)
        return jsonify(report.to_json())
    body = api.checked("ParticipantSyncInput", api.read_json(optional=True))
    users = body.get("users")
    report = sync_participants(
        app,
        row.name,
        users=users,
        creator_id=body.get("creator_id"),
        dry_run=bool(body.get("dry_run", dry_run)),
    )
    after_sync(app, row, report, from_csv=False, users=users)
    return jsonify(report.to_json())


@blueprint.get("/<string(maxlength=100):source>/schedule")
def schedule_route(source: str) -> Response:
    app = services()
    row = get_source(app, source)
    return jsonify(schedule_json(row, app.store.participant_sync(row.id)))


@blueprint.put("/<string(maxlength=100):source>/schedule")
def set_schedule_route(source: str) -> Response:
    app = services()
    row = get_source(app, source)
    body = api.checked("ParticipantScheduleInput", api.read_json())
    every_hours = body.get("every_hours")
    enabled = body.get("enabled", True)
    if enabled and every_hours is None:
        current = app.store.participant_sync(row.id)
        every_hours = current.every_hours if current is not None else DEFAULT_EVERY_HOURS
    changed = set_schedule(app, row, every_hours=every_hours, off=not enabled)
    return jsonify(schedule_json(row, changed))
