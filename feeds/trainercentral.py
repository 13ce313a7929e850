"""TrainerCentral `talks.json` pages → Sessions (pure: no network, no Flask).

One response page carries `sessions[]` (the workshops), `talks[]` (their occurrences),
`sessionMembers[]` (who runs them) and `meta.totalSessionsCount`. Every value is a string,
numbers, booleans and epoch-millisecond times included. Each talk becomes one `Session`
(upstream id = talk id) joined to its workshop through `talks[].session`; all talks of one
workshop share `series_key` = the workshop id.

A record that cannot be read is skipped with a warning naming it, so one bad talk never
hides the others, and a skipped talk's id is reported (`skipped_ids`) so the archive keeps its
last good version rather than taking it for a cancellation. A talk whose session record could
not be read is skipped too: built without it, it would lose its title and join link. A body of
the wrong shape raises `TalksFormatError`. What is known of these fields: docs/upstream-apis.md,
*TrainerCentral: response*.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from feeds.model import InvalidSession, Session, SourceKind, Status, is_web_url
from feeds.text import html_to_text

PLATFORM = "TrainerCentral"
FALLBACK_TITLE = "TrainerCentral workshop"

ROLE_ADMIN = "0"
ROLE_SPEAKER = "1"
# Speakers run the session; an admin is the next best organizer. Attendees never are.
_ORGANIZER_ROLES = (ROLE_SPEAKER, ROLE_ADMIN)

_NOT_DELETED = frozenset({"", "-1"})
# Instants outside this range are garbage, not sessions (e.g. seconds sent as milliseconds).
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class TalksFormatError(ValueError):
    """The body is not a talks.json page at all (wrong type or wrong shape of a list)."""


class _SkipRecord(Exception):
    """One record cannot become a Session; the message says which one and why."""


@dataclass(frozen=True)
class TalksPage:
    """One parsed talks.json page.

    `talk_ids` and `session_ids` list every id present in the page, including those of
    records skipped as malformed, so a paginating client can tell which items a page
    covered. `total` is `meta.totalSessionsCount` as an int (None when absent or unreadable).
    `skipped_ids` are the talks skipped as malformed; `unidentified` counts the talks and
    sessions skipped because they had no id at all.
    """

    sessions: list[Session]
    warnings: list[str]
    total: int | None
    session_count: int
    talk_count: int
    session_ids: tuple[str, ...] = ()
    talk_ids: tuple[str, ...] = ()
    skipped_ids: tuple[str, ...] = ()
    unidentified: int = 0


def parse_talks_page(body: Any, *, source_name: str) -> TalksPage:
    """Parse one decoded talks.json body into Sessions, skipping malformed records."""
    if not isinstance(body, Mapping):
        raise TalksFormatError(f"expected a JSON object, got {_kind(body)}")
    if body and not any(key in body for key in ("talks", "sessions", "meta", "sessionMembers")):
        keys = ", ".join(sorted(str(key) for key in body)[:8])
        raise TalksFormatError(f"no talks, sessions or meta in the response (keys: {keys})")
    raw_talks = _list_field(body, "talks")
    raw_sessions = _list_field(body, "sessions")
    raw_members = _list_field(body, "sessionMembers")
    warnings: list[str] = []
    total = _total(body.get("meta"), warnings)

    workshops: dict[str, Mapping[str, Any]] = {}
    unidentified = 0
    for index, record in enumerate(raw_sessions):
        session_id = _id_of(record, "sessionId")
        if session_id is None:
            warnings.append(f"skipped session #{index}: {_describe_bad_record(record)}")
            unidentified += 1
            continue
        workshops.setdefault(session_id, record)

    organizers = _organizers(raw_members)
    sessions: list[Session] = []
    talk_ids: list[str] = []
    skipped_ids: list[str] = []
    workshops_lost = unidentified > 0
    for index, record in enumerate(raw_talks):
        talk_id = _id_of(record, "talkId")
        if talk_id is None:
            warnings.append(f"skipped talk #{index}: {_describe_bad_record(record)}")
            unidentified += 1
            continue
        talk_ids.append(talk_id)
        try:
            if workshops_lost and _workshop_id(record) not in workshops:
                raise _SkipRecord("its session's record on this page could not be read")
            sessions.append(_talk_to_session(record, talk_id, workshops, organizers, source_name))
        except (_SkipRecord, InvalidSession) as exc:
            warnings.append(f"skipped talk {talk_id}{_label(record)}: {exc}")
            skipped_ids.append(talk_id)

    return TalksPage(
        sessions=sessions,
        warnings=warnings,
        total=total,
        session_count=len(raw_sessions),
        talk_count=len(raw_talks),
        session_ids=tuple(workshops),
        talk_ids=tuple(talk_ids),
        skipped_ids=tuple(skipped_ids),
        unidentified=unidentified,
    )


def _talk_to_session(
    talk: Mapping[str, Any],
    talk_id: str,
    workshops: Mapping[str, Mapping[str, Any]],
    organizers: Mapping[str, tuple[str | None, str | None]],
    source_name: str,
) -> Session:
    session_id = _workshop_id(talk)
    workshop: Mapping[str, Any] = workshops.get(session_id or "", {})

    start = _instant(talk, "scheduledTime")
    end = _instant(talk, "scheduledEndTime")
    workshop_start = _instant(workshop, "scheduledTime")
    workshop_end = _instant(workshop, "scheduledEndTime")
    if start is None:
        start = workshop_start
    if end is None and start is not None and workshop_start and workshop_end:
        # A recurring workshop's own times belong to one occurrence: keep its duration.
        end = start + (workshop_end - workshop_start)
    if end is None:
        end = workshop_end
    if start is None or end is None:
        missing = "scheduledTime" if start is None else "scheduledEndTime"
        raise _SkipRecord(f"no {missing} on the talk or its session")

    organizer_name, organizer_email = organizers.get(session_id or "", (None, None))
    description = _text(talk.get("description")) or _text(workshop.get("description")) or ""
    return Session(
        source_kind=SourceKind.TRAINERCENTRAL,
        source_name=source_name,
        upstream_id=talk_id,
        title=_text(talk.get("name")) or _text(workshop.get("name")) or FALLBACK_TITLE,
        start=start,
        end=end,
        series_key=session_id,
        description=html_to_text(description),
        status=Status.CANCELLED if _cancelled(talk) or _cancelled(workshop) else Status.CONFIRMED,
        meeting_url=_web_url(talk.get("joinURL")) or _web_url(workshop.get("joinURL")),
        organizer_name=organizer_name,
        organizer_email=organizer_email,
        platform=PLATFORM,
        timezone=_text(workshop.get("timezone")),
    )


def _workshop_id(talk: Mapping[str, Any]) -> str | None:
    """The id of the session (workshop) a talk belongs to."""
    return _text(talk.get("session")) or _text(talk.get("sessionId"))


def _organizers(members: list[Any]) -> dict[str, tuple[str | None, str | None]]:
    """Session id → (name, e-mail) of its first speaker, else its first admin."""
    best: dict[str, tuple[int, str | None, str | None]] = {}
    for member in members:
        if not isinstance(member, Mapping):
            continue
        role = _text(member.get("role"))
        session_id = _text(member.get("session")) or _text(member.get("sessionId"))
        if role not in _ORGANIZER_ROLES or session_id is None:
            continue
        name, email = _text(member.get("name")), _text(member.get("emailId"))
        if name is None and email is None:
            continue
        rank = _ORGANIZER_ROLES.index(role)
        if session_id not in best or rank < best[session_id][0]:
            best[session_id] = (rank, name, email)
    return {session_id: (name, email) for session_id, (_, name, email) in best.items()}


def _cancelled(record: Mapping[str, Any]) -> bool:
    deleted = _text(record.get("deletedTime"))
    if deleted is not None and deleted not in _NOT_DELETED:
        return True
    return (_text(record.get("isCancelled")) or "").lower() == "true"


def _instant(record: Mapping[str, Any], field: str) -> datetime | None:
    """An epoch-ms string (or number) as UTC; None when absent or "-1"."""
    value = record.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _SkipRecord(f"{field} {value!r} is not an epoch-ms time")
    text = str(value).strip()
    if text in _NOT_DELETED:
        return None
    try:
        millis = int(value) if isinstance(value, (int, float)) else int(text)
        when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    except (ValueError, OverflowError):
        raise _SkipRecord(f"{field} {value!r} is not an epoch-ms time") from None
    if not _EARLIEST <= when < _LATEST:
        raise _SkipRecord(f"{field} {value!r} is not a plausible epoch-ms time")
    return when


def _total(meta: Any, warnings: list[str]) -> int | None:
    if not isinstance(meta, Mapping) or meta.get("totalSessionsCount") is None:
        return None
    value = meta["totalSessionsCount"]
    try:
        total = int(str(value).strip())
    except ValueError:
        total = -1
    if total < 0:
        warnings.append(f"ignored meta.totalSessionsCount {value!r}: not a count")
        return None
    return total


def _list_field(body: Mapping[str, Any], name: str) -> list[Any]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise TalksFormatError(f"`{name}` should be a list, got {_kind(value)}")
    return value


def _id_of(record: Any, alias: str) -> str | None:
    """The record's `id` (or its `talkId`/`sessionId` alias); None if it has none."""
    if not isinstance(record, Mapping):
        return None
    return _text(record.get("id")) or _text(record.get(alias))


def _describe_bad_record(record: Any) -> str:
    if not isinstance(record, Mapping):
        return f"expected an object, got {_kind(record)}"
    return f"no id{_label(record)}"


def _label(record: Mapping[str, Any]) -> str:
    name = _text(record.get("name"))
    return f" ({name!r})" if name else ""


def _text(value: Any) -> str | None:
    """A non-empty stripped string, or None. Numbers are accepted as their text."""
    if value is None or isinstance(value, (bool, Mapping, list)):
        return None
    text = str(value).strip()
    return text or None


def _web_url(value: Any) -> str | None:
    url = _text(value)
    return url if url and is_web_url(url) else None


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
