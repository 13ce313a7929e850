"""Keeping a source's participant feeds in step with its roster, and listing their links.

`sync_participants` reads a roster (a CSV, one user, or the source's own API roster, see
bridge/participants/upstream_roster.py) and reconciles: one feed per active participant
(TagMango: their `user` filter; TrainerCentral has no per-user filter, so each learner gets
their own link to the source's sessions), created once; names, emails and mangoes kept up to
date; the feed of a participant who left or whose subscription expired revoked (410, join
links refused). A second run with the same roster changes nothing.

Safety: a roster problem that names a user leaves that user's feed alone; when a row could
not be read at all, or the whole roster comes back empty, nobody absent is revoked.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge.jobs.requests import Priority
from bridge.links import FeedLinks
from bridge.operations import OperationError, get_source
from bridge.participants.roster import ACTIVE, Member, Roster, RosterProblem, read_csv
from bridge.participants.upstream_roster import (
    SUBSCRIBERS_PATH,
    RosterGone,
    TagMangoRoster,
    trainercentral_roster,
)
from bridge.partitions import HELD_MANGOES, Partition, SourceConfigError, partition_for
from bridge.services import Services
from bridge.store.participant_queries import REVOKED_BY_HAND, FeedSpec, ParticipantRow
from bridge.store.rows import SourceRow
from bridge.upstream.clients import build_client, tagmango_config
from feeds.model import SourceKind

Progress = Callable[[int], None]
LIST_FIELDS = (
    "user_id", "name", "email", "status", "feed_id", "feed_url", "page_url", "webcal_url",
)  # fmt: skip


@dataclass
class SyncReport:
    """What a sync did (or, with dry_run, would do)."""

    source: str
    roster: str
    dry_run: bool
    created: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    revoked: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def read_roster(
    app: Services,
    source: SourceRow,
    *,
    csv_data: bytes | str | None = None,
    users: list[str] | None = None,
    creator_id: str | None = None,
) -> Roster:
    """The roster to sync from: the CSV, the users named, or the source's API roster."""
    if csv_data is not None:
        return read_csv(csv_data)
    credentials = app.store.source_credentials(source)
    if source.kind == SourceKind.TRAINERCENTRAL:
        if users:
            raise OperationError("--user reads TagMango subscriptions; use --csv for others")
        client = build_client(
            source.kind, source.name, source.settings, credentials, Partition(source.id)
        )
        try:
            return trainercentral_roster(client)  # type: ignore[arg-type]
        finally:
            client.close()
    config = tagmango_config(source.name, source.settings, credentials)
    path = source.settings.get("roster_path") or SUBSCRIBERS_PATH
    with TagMangoRoster(config, subscribers_path=path, now=app.clock) as reader:
        if users:
            return _members(reader, users, "the users named")
        try:
            creator = creator_id or source.settings.get("creator_id") or reader.creator_id()
            return reader.subscribers(creator)
        except RosterGone as gone:
            known = [p.user_id for p in app.store.participants(source.id) if p.active]
            if not known:
                raise OperationError(
                    f"TagMango answered 404 for the subscriber list ({gone}); the endpoint is "
                    "deprecated. Give the roster as a CSV (--csv FILE) or one user at a time "
                    "(--user ID)"
                ) from None
            roster = _members(reader, known, "the participants already known")
            roster.notes.append(
                f"the subscriber list answered 404 (deprecated endpoint): checked the "
                f"{len(known)} participants already known one by one instead; add new ones "
                "with --csv or --user"
            )
            return roster


def _members(reader: TagMangoRoster, users: list[str], what: str) -> Roster:
    roster = Roster(f"TagMango subscriptions of {what}", complete=False)
    for user_id in dict.fromkeys(users):
        one = reader.member(user_id)
        roster.members.extend(one.members)
        roster.problems.extend(one.problems)
    return roster


def sync_participants(
    app: Services,
    source_name: str,
    *,
    csv_data: bytes | str | None = None,
    users: list[str] | None = None,
    creator_id: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    roster: Roster | None = None,
) -> SyncReport:
    """Reconcile the source's participant feeds with its roster (see the module docstring)."""
    source = get_source(app, source_name)
    if roster is None:
        roster = read_roster(app, source, csv_data=csv_data, users=users, creator_id=creator_id)
    report = SyncReport(source.name, roster.origin, dry_run, notes=list(roster.notes))
    report.errors = [problem.to_json() for problem in roster.problems]
    known = {p.user_id: p for p in app.store.participants(source.id)}
    for member in roster.members:
        _reconcile(app, source, member, known.get(member.user_id), report)
        if progress is not None:
            progress(1)
    if roster.complete:
        _revoke_absent(app, source, roster, known, report)
    return report


def _reconcile(
    app: Services,
    source: SourceRow,
    member: Member,
    known: ParticipantRow | None,
    report: SyncReport,
) -> None:
    who = {"user_id": member.user_id, "name": member.name, "email": member.email}
    if member.status != ACTIVE:
        if known is not None and known.active:
            report.revoked.append({**who, "feed_id": known.feed_id, "reason": member.status})
            if not report.dry_run:
                app.store.revoke_participant(source.id, member.user_id, member.status)
        else:
            report.skipped.append({**who, "reason": f"not an active subscriber ({member.status})"})
        return
    if known is not None and known.status == REVOKED_BY_HAND:
        reason = f"their feed {known.feed_id} was revoked by hand; it is not made again"
        report.skipped.append({**who, "reason": reason})
        return
    if known is not None and known.active:
        held = _held_mangoes(source, member)
        if (known.name, known.email, known.mangoes, known.held_mangoes) == (
            member.name,
            member.email,
            member.mangoes,
            held,
        ):
            report.unchanged += 1
            return
        report.updated.append({**who, "feed_id": known.feed_id})
        if not report.dry_run:
            _update(app, source, member, known, held)
        return
    spec = _feed_spec(source, member)
    try:
        partition_for(source.id, source.kind, spec.filters)
    except SourceConfigError as error:
        problem = RosterProblem(str(error), member.line, member.user_id)
        report.errors.append(problem.to_json())
        return
    if report.dry_run:
        report.created.append({**who, "feed_id": None})
        return
    _row, feed, token = app.store.add_participant(
        source.id,
        member.user_id,
        name=member.name,
        email=member.email,
        mangoes=member.mangoes,
        feed=spec,
    )
    app.feeds.prepare(feed, priority=Priority.PROVISIONED)
    links = FeedLinks.for_token(app.settings.public_url, token)
    report.created.append({**who, "feed_id": feed.id, **vars(links)})


def _update(
    app: Services, source: SourceRow, member: Member, known: ParticipantRow, held: tuple[str, ...]
) -> None:
    """Keep the member's new details; when their mangoes changed, their feed reads the
    partitions of the mangoes they hold now (registered at once, so they are fetched)."""
    filters = _filters(source, member) if held != known.held_mangoes else None
    app.store.update_participant(
        source.id,
        member.user_id,
        name=member.name,
        email=member.email,
        mangoes=member.mangoes,
        feed_filters=filters,
    )
    feed = app.store.feed(known.feed_id) if filters is not None and known.feed_id else None
    if feed is not None:
        app.feeds.prepare(feed, priority=Priority.PROVISIONED)


def _held_mangoes(source: SourceRow, member: Member) -> tuple[str, ...]:
    """The mangoes whose partitions the member's feed reads besides their own query
    (bridge/partitions.py): those they hold that the source does not leave out."""
    if source.kind != SourceKind.TAGMANGO:
        return ()
    allowed = set(source.settings.get("mangoes") or ())
    return tuple(sorted({m for m in member.mangoes if m and (not allowed or m in allowed)}))


def _filters(source: SourceRow, member: Member) -> dict[str, Any]:
    if source.kind != SourceKind.TAGMANGO:
        return {}
    return {
        "user": member.user_id,
        "mangoes": [],
        HELD_MANGOES: list(_held_mangoes(source, member)),
    }


def _feed_spec(source: SourceRow, member: Member) -> FeedSpec:
    label = member.name or member.user_id
    filters = _filters(source, member)
    return FeedSpec(
        name=f"{source.name}: {label}"[:200],
        source_ids=(source.id,),
        timezone=source.settings.get("timezone") or "UTC",
        history_days=30,
        horizon_days=180,
        filters=filters,
        alarm_minutes=10,
    )


def _revoke_absent(
    app: Services,
    source: SourceRow,
    roster: Roster,
    known: dict[str, ParticipantRow],
    report: SyncReport,
) -> None:
    listed = {m.user_id for m in roster.members} | {p.user_id for p in roster.problems if p.user_id}
    absent = [p for p in known.values() if p.active and p.user_id not in listed]
    if not absent:
        return
    unreadable = sum(1 for p in roster.problems if p.user_id is None)
    if unreadable:
        report.notes.append(
            f"{unreadable} roster rows could not be read, so the {len(absent)} participants "
            "missing from it were left as they are; fix those rows and sync again"
        )
        return
    if not roster.members:
        raise OperationError(
            f"the roster ({roster.origin}) lists nobody; refusing to revoke all "
            f"{len(absent)} participant feeds of {source.name!r}"
        )
    for participant in absent:
        report.revoked.append(
            {
                "user_id": participant.user_id,
                "name": participant.name,
                "email": participant.email,
                "feed_id": participant.feed_id,
                "reason": "left",
            }
        )
        if not report.dry_run:
            app.store.revoke_participant(source.id, participant.user_id, "left")


def list_participants(
    app: Services, source_name: str, *, include_revoked: bool = False
) -> list[dict[str, Any]]:
    """One row per participant (active ones unless `include_revoked`): their feed's links."""
    source = get_source(app, source_name)
    rows = []
    for participant in app.store.participants(source.id):
        if not (participant.active or include_revoked):
            continue
        token = app.store.participant_token(participant) if participant.active else None
        links = FeedLinks.for_token(app.settings.public_url, token) if token else None
        rows.append(
            {
                "user_id": participant.user_id,
                "name": participant.name,
                "email": participant.email,
                "status": participant.status,
                "feed_id": participant.feed_id,
                "feed_url": links.ics_url if links else None,
                "page_url": links.page_url if links else None,
                "webcal_url": links.webcal_url if links else None,
            }
        )
    return rows


def participants_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV for a mail-merge; a cell a spreadsheet would run as a formula
    (starting with = + - @) is written with a leading apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(LIST_FIELDS)
    for row in rows:
        writer.writerow([_cell(row[name]) for name in LIST_FIELDS])
    return out.getvalue()


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
