"""The session archive: every occurrence ever seen per partition, and how a fetch is merged in.

A partition is one upstream query (a source, narrowed by a feed's filters); each has its own
archive, so the rules below compare a fetch only with earlier fetches of the same query.

Rules (docs/architecture.md, *Identity, history and cancellations*):
- new occurrence → inserted with sequence 0; first seen = last changed = now;
- changed content → last changed = now; the sequence rises only when what a calendar shows
  of the occurrence changed: time, title, status, meeting or replay link
  (`SIGNIFICANT_FIELDS`);
- one occurrence's sequence is comparable across the partitions of its source, because a feed
  may read several (a participant's own query and the mangoes they hold) and shows the
  version with the highest: a version new to a partition, or changed in it, takes the
  highest sequence any partition gave the occurrence when that version shows the same, else
  one more, and never less than its own before plus one (`_Sequences`, kept per occurrence
  in one row, so a merge reads one row per changed occurrence however many partitions hold
  it);
- an archived occurrence starting inside the fetched window that upstream no longer lists
  → vanished; when it is still upcoming it becomes cancelled (sequence + 1), when it has
  started it is kept as it was, for history;
- a vanished occurrence listed again → restored (its content updated like any change);
- an occurrence whose record upstream listed but could not be read (`skipped_ids`) → left
  exactly as it was: never cancelled, never changed;
- a mass disappearance (`holds_cancellations`: more than HOLD_SHARE of the upcoming
  occurrences, and at least HOLD_MIN_VANISHING, in one fetch) looks like an upstream glitch:
  the cancellations are held. The vanishing rows keep their content and only get `vanished_at`
  (a pending cancellation: upcoming, not cancelled, vanished before it started); a later fetch
  at least CONFIRM_DELAY after `vanished_at` that still lacks them cancels them, one that lists
  them restores them. Everything else in a held fetch is merged as usual;
- records upstream listed without a readable id (`unidentified`) may each be one vanishing
  occurrence, so when no more occurrences vanish than there are such records, their
  cancellation is held too, but only for UNIDENTIFIED_HOLD_MAX after `vanished_at` (an id-less
  broken record may stay upstream for good; real cancellations must not wait for ever). More
  vanishing than id-less records cannot all be explained by them, so that ground holds nothing.
A hold starts once per occurrence (`holds_started`, what metrics and logs count), however many
fetches it lasts.

Content is the Session as JSON, without `sequence`/`changed_at` (which the archive owns) and
without fields at their default values, so adding a field to Session later neither changes
existing hashes nor bumps every sequence.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session as DbSession

from feeds.model import Session, Status

from .rows import ArchiveChange, ChangeKind, MergeResult, StoreError
from .tables import ArchivedSessionTable, OccurrenceSequenceTable

# A replay link counts: clients that only look at SEQUENCE would never show it otherwise.
SIGNIFICANT_FIELDS = ("start", "end", "title", "status", "meeting_url", "recording_url")
# A fetch that would cancel more than this share of a partition's upcoming occurrences, and at
# least HOLD_MIN_VANISHING of them, is held until a second read confirms it.
HOLD_SHARE = 0.5
HOLD_MIN_VANISHING = 5
# How much later the confirming read must be: longer than a common upstream glitch (a few
# minutes), shorter than the default cache TTL (10 minutes).
CONFIRM_DELAY = timedelta(minutes=5)
# How long records without a readable id may keep vanished occurrences from being cancelled.
UNIDENTIFIED_HOLD_MAX = timedelta(hours=3)
_ARCHIVE_OWNED = frozenset({"sequence", "changed_at"})
_FIELDS = {f.name: f for f in dataclasses.fields(Session) if f.name not in _ARCHIVE_OWNED}
_HINTS = typing.get_type_hints(Session)
_LOOKUP_CHUNK = 500  # ids per IN (...) clause, well under every backend's parameter limit


def _value_type(name: str) -> Any:
    """The non-None type of a Session field (`datetime | None` → datetime)."""
    hint = _HINTS[name]
    candidates = [arg for arg in typing.get_args(hint) if arg is not type(None)] or [hint]
    return candidates[0]


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot archive a {type(value).__name__} value")


def _decode(name: str, value: Any) -> Any:
    if value is None:
        return None
    kind = _value_type(name)
    if kind is datetime:
        return datetime.fromisoformat(value)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(value)
    return value


def session_content(session: Session) -> dict[str, Any]:
    """The archived JSON of a session: all fields but sequence/changed_at, defaults left out."""
    content: dict[str, Any] = {}
    for name, spec in _FIELDS.items():
        value = getattr(session, name)
        if spec.default is not dataclasses.MISSING and value == spec.default:
            continue
        content[name] = _encode(value)
    return content


def session_from_content(
    content: dict[str, Any], *, sequence: int = 0, changed_at: datetime | None = None
) -> Session:
    """Rebuild the Session stored by `session_content`; fields unknown here are ignored."""
    values = {name: _decode(name, value) for name, value in content.items() if name in _FIELDS}
    return Session(**values, sequence=sequence, changed_at=changed_at)


def content_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _significant_change(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return any(old.get(name) != new.get(name) for name in SIGNIFICANT_FIELDS)


def _dedupe(sessions: Iterable[Session]) -> dict[str, tuple[dict[str, Any], str]]:
    """Content and content hash by upstream id; identical repeats (pagination overlap) collapse."""
    listed: dict[str, tuple[dict[str, Any], str]] = {}
    for session in sessions:
        content = session_content(session)
        digest = content_hash(content)
        seen = listed.get(session.upstream_id)
        if seen is not None and seen[1] != digest:
            raise StoreError(
                f"upstream listed session {session.upstream_id} twice with different content"
            )
        listed[session.upstream_id] = (content, digest)
    return listed


def _load_rows(
    db: DbSession,
    partition: tuple[int, str],
    upstream_ids: Sequence[str],
    window_start: datetime,
    window_end: datetime,
) -> dict[str, ArchivedSessionTable]:
    """Archived rows of the partition that are listed now or start inside the window."""
    table = ArchivedSessionTable
    source_id, partition_key = partition
    archive = select(table).where(
        table.source_id == source_id, table.partition_key == partition_key
    )
    in_window = archive.where(table.start_at >= window_start, table.start_at < window_end)
    rows = {row.upstream_id: row for row in db.scalars(in_window)}
    missing = [upstream_id for upstream_id in upstream_ids if upstream_id not in rows]
    for offset in range(0, len(missing), _LOOKUP_CHUNK):
        chunk = missing[offset : offset + _LOOKUP_CHUNK]
        rows.update(
            (row.upstream_id, row)
            for row in db.scalars(archive.where(table.upstream_id.in_(chunk)))
        )
    return rows


def _store_content(row: ArchivedSessionTable, content: dict[str, Any], digest: str) -> None:
    start = datetime.fromisoformat(content["start"])
    end = datetime.fromisoformat(content["end"])
    row.content, row.content_hash = content, digest
    row.start_at, row.end_at, row.series_key = start, end, content.get("series_key")


def holds_cancellations(upcoming: int, vanishing: int) -> bool:
    """Whether `vanishing` of a partition's `upcoming` occurrences disappearing in one fetch
    looks like an upstream glitch rather than real cancellations."""
    return vanishing >= HOLD_MIN_VANISHING and vanishing > upcoming * HOLD_SHARE


def _hold_ends(
    missing_since: datetime, *, mass_disappearance: bool, maybe_unidentified: bool
) -> datetime | None:
    """When the cancellation of an occurrence missing since `missing_since` may be published,
    or None when nothing holds it (see the module docstring for both grounds)."""
    ends = []
    if mass_disappearance:
        ends.append(missing_since + CONFIRM_DELAY)
    if maybe_unidentified:
        ends.append(missing_since + UNIDENTIFIED_HOLD_MAX)
    return max(ends, default=None)


def _shown_as_upcoming(row: ArchivedSessionTable, now: datetime) -> bool:
    """Not started, not cancelled, and listed at the last fetch or pending a cancellation."""
    if row.start_at <= now or row.content.get("status") == Status.CANCELLED.value:
        return False
    return row.vanished_at is None or row.vanished_at < row.start_at


def _shown_hash(content: dict[str, Any]) -> str:
    """A hash of what a calendar shows of the version (`SIGNIFICANT_FIELDS`)."""
    return content_hash({name: content.get(name) for name in SIGNIFICANT_FIELDS})


class _Sequences:
    """The highest sequence each occurrence has in any partition of the source, and what that
    version shows (OccurrenceSequenceTable): read once per merge, raised as versions pass it."""

    def __init__(self, db: DbSession, source_id: int, upstream_ids: Sequence[str]) -> None:
        self.db, self.source_id = db, source_id
        table = OccurrenceSequenceTable
        self.rows: dict[str, OccurrenceSequenceTable] = {}
        for offset in range(0, len(upstream_ids), _LOOKUP_CHUNK):
            chunk = upstream_ids[offset : offset + _LOOKUP_CHUNK]
            query = select(table).where(table.source_id == source_id, table.upstream_id.in_(chunk))
            self.rows.update((row.upstream_id, row) for row in db.scalars(query))

    def next(self, upstream_id: str, own: int | None, content: dict[str, Any]) -> int:
        """The sequence of a version that is new to its partition (`own` None) or changed in
        what it shows: the highest one's if it shows the same, else one more; never below
        `own` + 1."""
        shown = _shown_hash(content)
        row = self.rows.get(upstream_id)
        if row is None:
            sequence = 0 if own is None else own + 1
            row = OccurrenceSequenceTable(
                source_id=self.source_id, upstream_id=upstream_id, sequence=-1, shown_hash=""
            )
            self.db.add(row)
            self.rows[upstream_id] = row
        else:
            highest = row.sequence if row.shown_hash == shown else row.sequence + 1
            sequence = highest if own is None else max(highest, own + 1)
        if sequence > row.sequence:
            row.sequence, row.shown_hash = sequence, shown
        return sequence


def forget_sequences(db: DbSession, occurrences: Iterable[tuple[int, str]]) -> None:
    """Forget the sequence rows of these (source id, upstream id) that no partition holds
    any more (after a prune of the archive)."""
    by_source: dict[int, list[str]] = {}
    for source_id, upstream_id in sorted(set(occurrences)):
        by_source.setdefault(source_id, []).append(upstream_id)
    archive, sequences = ArchivedSessionTable, OccurrenceSequenceTable
    for source_id, upstream_ids in by_source.items():
        for offset in range(0, len(upstream_ids), _LOOKUP_CHUNK):
            chunk = upstream_ids[offset : offset + _LOOKUP_CHUNK]
            held = select(archive.upstream_id).where(
                archive.source_id == source_id, archive.upstream_id.in_(chunk)
            )
            kept = set(db.scalars(held.distinct()))
            gone = [upstream_id for upstream_id in chunk if upstream_id not in kept]
            if gone:
                db.execute(
                    delete(sequences).where(
                        sequences.source_id == source_id, sequences.upstream_id.in_(gone)
                    )
                )


def _cancel(row: ArchivedSessionTable, now: datetime, sequences: _Sequences) -> None:
    archived = session_from_content(row.content)
    content = session_content(dataclasses.replace(archived, status=Status.CANCELLED))
    _store_content(row, content, content_hash(content))
    row.sequence = sequences.next(row.upstream_id, row.sequence, content)
    row.last_changed_at = now


def merge_into_archive(
    db: DbSession,
    partition: tuple[int, str],
    sessions: Iterable[Session],
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    *,
    skipped_ids: Iterable[str] = (),
    unidentified: int = 0,
) -> MergeResult:
    """Merge one complete fetch of `[window_start, window_end)` into the partition's archive.

    `partition` is (source id, partition key). `skipped_ids` and `unidentified` describe the
    records upstream listed that could not be read (see FetchResult). The caller holds the
    source's write lock (see Store.merge_sessions) and commits.
    """
    listed = _dedupe(sessions)
    skipped = set(skipped_ids) - listed.keys()
    rows = _load_rows(db, partition, list(listed), window_start, window_end)
    in_window = {
        upstream_id: row
        for upstream_id, row in rows.items()
        if window_start <= row.start_at < window_end and upstream_id not in skipped
    }
    upcoming = [uid for uid, row in in_window.items() if _shown_as_upcoming(row, now)]
    vanishing = [uid for uid in upcoming if uid not in listed]
    mass_disappearance = holds_cancellations(len(upcoming), len(vanishing))
    maybe_unidentified = 0 < len(vanishing) <= unidentified
    counts = dict.fromkeys(("inserted", "changed", "vanished", "unchanged", "restored"), 0)
    changes: list[ArchiveChange] = []
    resequenced = [
        upstream_id
        for upstream_id, (content, digest) in listed.items()
        if (row := rows.get(upstream_id)) is None
        or (row.content_hash != digest and _significant_change(row.content, content))
    ]
    sequences = _Sequences(db, partition[0], resequenced + vanishing)

    def log(row: ArchivedSessionTable, kind: ChangeKind) -> None:
        changes.append(ArchiveChange(row.upstream_id, kind, row.start_at, row.end_at))

    for upstream_id, (content, digest) in listed.items():
        row = rows.get(upstream_id)
        if row is None:
            row = ArchivedSessionTable(
                source_id=partition[0],
                partition_key=partition[1],
                upstream_id=upstream_id,
                sequence=sequences.next(upstream_id, None, content),
                first_seen_at=now,
                last_changed_at=now,
                last_seen_at=now,
            )
            _store_content(row, content, digest)
            db.add(row)
            counts["inserted"] += 1
            log(row, ChangeKind.ADDED)
            continue
        reappeared = row.vanished_at is not None
        if row.content_hash == digest and not reappeared:
            counts["unchanged"] += 1
        else:
            if row.content_hash != digest:
                if _significant_change(row.content, content):
                    row.sequence = sequences.next(upstream_id, row.sequence, content)
                _store_content(row, content, digest)
                row.last_changed_at = now
            counts["restored" if reappeared else "changed"] += 1
            row.vanished_at = None
            log(row, ChangeKind.CHANGED)
        row.last_seen_at = now

    held_until: list[datetime] = []
    holds_started = 0
    for upstream_id in vanishing:
        row = in_window[upstream_id]
        missing_since = row.vanished_at or now
        hold_ends = _hold_ends(
            missing_since,
            mass_disappearance=mass_disappearance,
            maybe_unidentified=maybe_unidentified,
        )
        if hold_ends is not None and now < hold_ends:
            if row.vanished_at is None:  # its hold starts now
                holds_started += 1
            row.vanished_at = missing_since
            held_until.append(hold_ends)
            continue
        row.vanished_at = missing_since
        _cancel(row, now, sequences)
        counts["vanished"] += 1
        log(row, ChangeKind.CANCELLED)
    for upstream_id, row in in_window.items():
        if upstream_id in listed or row.vanished_at is not None:
            continue
        row.vanished_at = now  # started or already cancelled: kept as it was
        counts["vanished"] += 1
    return MergeResult(
        **counts,
        held=len(held_until),
        holds_started=holds_started,
        confirm_at=min(held_until, default=None),
        changes=tuple(changes),
    )


def to_session(row: ArchivedSessionTable) -> Session:
    """The archived occurrence as a Session with sequence and changed_at filled in."""
    return session_from_content(row.content, sequence=row.sequence, changed_at=row.last_changed_at)
