"""`calbridge participants …`: a personal feed for every participant of a source, kept in step.

`sync` reads the roster (a CSV, one user, or the source's API roster) and creates, updates and
revokes participant feeds (bridge/participants/sync.py); `list` prints every participant's
links for a mail-merge; `schedule` shows or changes how often the workers sync a source from
its API roster (bridge/participants/schedule.py).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from bridge.cli_support import emit, fail, json_option, load_services, reported_errors
from bridge.operations import get_source
from bridge.participants.schedule import (
    DEFAULT_EVERY_HOURS,
    MAX_EVERY_HOURS,
    after_sync,
    schedule_json,
    set_schedule,
)
from bridge.participants.sync import (
    SyncReport,
    list_participants,
    participants_csv,
    read_roster,
    sync_participants,
)


@click.group()
def participants() -> None:
    """Give every participant of a source their own feed, and keep the list in step."""


@participants.command("sync")
@click.argument("source_name", metavar="SOURCE")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help="Read the roster from this CSV (user_id, name, email, mangoes, status; '-': stdin).",
)
@click.option(
    "--user",
    "users",
    multiple=True,
    help="Only check this TagMango user (repeat); nobody else is revoked.",
)
@click.option("--creator-id", default=None, help="The TagMango creator id (found if not given).")
@click.option("--dry-run", is_flag=True, help="Show what would change, change nothing.")
@json_option
def participants_sync(
    source_name: str,
    csv_path: str | None,
    users: tuple[str, ...],
    creator_id: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Create a feed per participant, update names and emails, revoke those who left.

    Without --csv or --user the roster is the source's own: TagMango's subscribers or
    TrainerCentral's learners, and the workers sync it again every 24 hours from then on
    (see `participants schedule`); a --csv sync turns that off. Bad rows are reported with
    their line and the rest synced."""
    if csv_path is not None and users:
        fail("--csv and --user cannot be used together: give one of them")
    data = _read_file(csv_path) if csv_path is not None else None
    app = load_services()
    with reported_errors():
        source = get_source(app, source_name)
        roster = read_roster(app, source, csv_data=data, users=list(users), creator_id=creator_id)
        if as_json or not roster.members:
            report = sync_participants(app, source.name, dry_run=dry_run, roster=roster)
        else:
            with click.progressbar(
                length=len(roster.members), label="syncing participants", file=sys.stderr
            ) as bar:
                report = sync_participants(
                    app, source.name, dry_run=dry_run, roster=roster, progress=bar.update
                )
        after_sync(app, source, report, from_csv=data is not None, users=list(users))
    emit(report.to_json(), as_json, _summary)


def _read_file(path: str) -> bytes:
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        fail(f"cannot read {path}: {error.strerror or error}")


def _summary(result: dict[str, Any]) -> str:
    report = SyncReport(**result)
    verb = "would be " if report.dry_run else ""
    lines = [f"{report.source}: roster from {report.roster}"]
    for what, rows in (
        ("created", report.created),
        ("updated", report.updated),
        ("revoked", report.revoked),
        ("skipped", report.skipped),
    ):
        lines.append(f"{len(rows)} {verb}{what}")
        for row in rows:
            extra = row.get("reason") or row.get("ics_url") or ""
            lines.append(f"  {row['user_id']}\t{row['name']}\t{extra}".rstrip())
    lines.append(f"{report.unchanged} unchanged")
    for error in report.errors:
        where = f"line {error['line']}: " if error["line"] else ""
        lines.append(f"error: {where}{error['message']}")
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines)


@participants.command("list")
@click.argument("source_name", metavar="SOURCE")
@click.option(
    "--format",
    "output",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
    help="csv for a mail-merge; json for scripts.",
)
@click.option("--all", "include_revoked", is_flag=True, help="Also list revoked participants.")
def participants_list(source_name: str, output: str, include_revoked: bool) -> None:
    """One row per participant: user id, name, email, feed, subscribe page and webcal URLs."""
    with reported_errors():
        rows = list_participants(load_services(), source_name, include_revoked=include_revoked)
    if output == "json":
        click.echo(json.dumps(rows, ensure_ascii=False))
    else:
        click.echo(participants_csv(rows), nl=False)


@participants.command("schedule")
@click.argument("source_name", metavar="SOURCE")
@click.option(
    "--every",
    "every_hours",
    type=click.IntRange(1, MAX_EVERY_HOURS),
    default=None,
    metavar="HOURS",
    help=f"Sync from the source's API roster every HOURS hours (1 to {MAX_EVERY_HOURS}; "
    f"a sync from the API roster turns it on every {DEFAULT_EVERY_HOURS}).",
)
@click.option("--off", is_flag=True, help="Stop the automatic syncs of this source.")
@json_option
def participants_schedule(
    source_name: str, every_hours: int | None, off: bool, as_json: bool
) -> None:
    """Show or change how often the workers sync SOURCE's participants from its API roster.

    Without options: whether it is on, the next and the last run and the last error."""
    if off and every_hours is not None:
        fail("--every and --off cannot be used together: give one of them", code=2)
    app = load_services()
    with reported_errors():
        source = get_source(app, source_name)
        row = set_schedule(app, source, every_hours=every_hours, off=off)
    emit(schedule_json(source, row), as_json, _schedule_text)


def _schedule_text(shown: dict[str, Any]) -> str:
    name = shown["source"]
    if shown["every_hours"] is None:
        return (
            f"{name}: participants are not synced automatically (a sync from the API roster, "
            f"or `calbridge participants schedule {name} --every HOURS`, turns it on)"
        )
    state = f"every {shown['every_hours']} hours" if shown["scheduled"] else "off"
    lines = [f"{name}: automatic participant sync {state}"]
    if shown["scheduled"]:
        lines.append(f"next run: {shown['next_due_at']}")
    lines.append(f"last run: {shown['last_run_at'] or 'never'}")
    counts = shown["last_counts"]
    if counts is not None:
        lines.append(
            f"last success: {shown['last_success_at']} ({counts['created']} created, "
            f"{counts['updated']} updated, {counts['revoked']} revoked, "
            f"{counts['errors']} errors)"
        )
    if shown["last_error"]:
        lines.append(f"last error ({shown['failures']} failures in a row): {shown['last_error']}")
    return "\n".join(lines)
