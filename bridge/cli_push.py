"""`calbridge push …`: push feeds into CalDAV calendars users already have (bridge.push)."""

from __future__ import annotations

import sys
from typing import Any

import click

from bridge.cli_support import emit, json_option, load_services, reported_errors
from bridge.push import operations


@click.group()
def push() -> None:
    """Write a feed's sessions into a CalDAV calendar you already have (Nextcloud, iCloud,
    Fastmail, Radicale...), and keep it equal to the feed."""


@push.command("add")
@click.argument("feed_id", metavar="FEED", type=int)
@click.option(
    "--url",
    required=True,
    help="The calendar's CalDAV collection URL, e.g. "
    "https://cloud.example.com/remote.php/dav/calendars/me/personal/",
)
@click.option("--username", required=True, help="The login name on the CalDAV server.")
@click.option(
    "--password",
    required=True,
    prompt=True,
    hide_input=True,
    envvar="CALBRIDGE_PUSH_PASSWORD",
    help="The password (an app password where the server offers them); stored encrypted. "
    "Asked for when not given, or read from CALBRIDGE_PUSH_PASSWORD.",
)
@json_option
def push_add(feed_id: int, as_json: bool, **options: Any) -> None:
    """Push feed FEED (its id) into a CalDAV calendar; the first push is queued at once."""
    with reported_errors():
        result = operations.add_push_target(load_services(), feed_id=feed_id, **options)
    emit(
        result,
        as_json,
        lambda r: (
            f"push {r['id']}: feed {r['feed_id']} → {r['url']} "
            f"(`calbridge push run {r['id']}` pushes now)"
        ),
    )


def _status_line(target: dict[str, Any]) -> str:
    line = f"{target['id']}\tfeed {target['feed_id']}\t{target['url']}\t{target['status']}"
    line += f"\t{target['events']} events"
    if target["last_push_at"]:
        line += f"\tlast push {target['last_push_at']}"
    if target["last_error"]:
        line += f"\terror at {target['last_error_at']}: {target['last_error']}"
    if target["next_attempt_at"]:
        line += f"\tnext attempt {target['next_attempt_at']}"
    return line


@push.command("list")
@json_option
def push_list(as_json: bool) -> None:
    """List push targets with their last push, last error and next attempt."""
    rows = operations.list_push_targets(load_services())
    emit(rows, as_json, lambda rs: "\n".join(_status_line(r) for r in rs) or "no push targets")


@push.command("remove")
@click.argument("target_id", metavar="ID", type=int)
@click.option(
    "--delete-events",
    is_flag=True,
    help="First delete the events calbridge created in the calendar (by default they stay).",
)
@json_option
def push_remove(target_id: int, delete_events: bool, as_json: bool) -> None:
    """Stop pushing into a calendar (ID from `push list`)."""
    with reported_errors():
        result = operations.remove_push_target(
            load_services(), target_id, delete_events=delete_events
        )
    emit(result, as_json, lambda r: f"removed push {r['id']} ({r['url']})")


@push.command("run")
@click.argument("target_id", metavar="[ID]", type=int, required=False)
@json_option
def push_run(target_id: int | None, as_json: bool) -> None:
    """Push now: one target (ID) or every one. Only what changed is sent; exits 1 if a push
    failed (it is also retried later, with backoff)."""
    with reported_errors():
        results = operations.run_pushes(load_services(), target_id)

    def human(rs: list[dict[str, Any]]) -> str:
        lines = []
        for r in rs:
            if r["status"] != "failed":  # failures go to stderr, below
                lines.append(
                    f"push {r['id']}: {r['status']} ({r['created']} created, {r['updated']} "
                    f"updated, {r['deleted']} deleted)"
                )
        return "\n".join(lines) if rs else "no push targets"

    if as_json:
        emit(results, True)
    elif text := human(results):
        click.echo(text)
    failed = [r for r in results if r["status"] == "failed"]
    if failed:
        for r in failed:
            click.echo(f"calbridge: error: push {r['id']} failed: {r['error']}", err=True)
        sys.exit(1)
