"""TagMango video-call JSON → Sessions (pure: no network, no Flask, no database).

`GET /api/v1/external/workshops/video-calls` answers `{total, data: [{date, calls: [...]}]}`,
sometimes wrapped in `{message, success, code, statusMessage, result: {...}}` (or with
`data` as the wrapper key). `parse_page` accepts all three and returns the sessions of one
page plus what the paginating client needs to know (`total`, raw call and group counts).

Only `fromTime`/`toTime` (UTC instants) are trusted for times: the grouping `date` is local
to whatever `x-timezone-offset` was sent and is used for counting only. One malformed call
is skipped with a warning that names it, and its id (when readable) is reported in
`skipped_ids`, so the archive keeps its last good version rather than taking it for a
cancellation; a body of the wrong shape raises `MalformedResponse`. What is documented about
these fields, and what is guessed, is in docs/upstream-apis.md, *TagMango: response envelope*.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feeds.model import InvalidSession, Session, SourceKind, Status
from feeds.rules import aware_utc
from feeds.text import html_to_text
from feeds.timezones import zone_names

CANCELLED_STATUSES = frozenset({"cancelled", "canceled", "deleted"})
KNOWN_CONFIRMED_STATUSES = frozenset({"available"})
# The docs never show a series field; `groupId` is what check-availability takes.
SERIES_FIELDS = ("groupId", "seriesId", "recurringGroupId", "groupID", "videoCallGroupId")
TIMEZONE_FIELDS = ("timezoneName", "timezone", "timeZone", "creatorTimezone")


# Bodies come from json.loads, so objects are plain dicts (checked as such: it is faster).


class MalformedResponse(ValueError):
    """The body is not a TagMango video-call list at all (not just one bad record)."""


@dataclass(frozen=True)
class ParsedPage:
    """One page of the video-call list.

    `call_count` and `group_count` count raw records, malformed ones included, so the
    paginating client can tell a full page from the last one; `dates` are the group dates.
    `skipped_ids` are the ids of calls skipped as malformed; `unidentified` counts skipped
    calls whose id could not be read either. `unknown_statuses` are the call statuses met that
    mean neither confirmed nor cancelled as far as is known (read as confirmed): the caller
    decides how often to say so (bridge.upstream.tagmango warns once per process).
    """

    sessions: list[Session]
    warnings: list[str] = field(default_factory=list)
    total: int | None = None
    call_count: int = 0
    group_count: int = 0
    dates: frozenset[str] = frozenset()
    skipped_ids: frozenset[str] = frozenset()
    unidentified: int = 0
    unknown_statuses: frozenset[str] = frozenset()


def parse_page(body: Any, source_name: str) -> ParsedPage:
    """Parse one decoded response body; raise MalformedResponse if its shape is wrong."""
    payload = _unwrap(body)
    warnings: list[str] = []
    unknown_statuses: set[str] = set()
    total = _parse_total(payload.get("total"), warnings)
    groups = payload.get("data")
    if not isinstance(groups, list):
        raise MalformedResponse(f"'data' is {_kind(groups)}, not a list of date groups")

    sessions: list[Session] = []
    dates: set[str] = set()
    skipped_ids: set[str] = set()
    unidentified = 0
    call_count = 0
    for group_index, group in enumerate(groups):
        if not isinstance(group, dict) or not isinstance(group.get("calls"), list):
            raise MalformedResponse(
                f"data[{group_index}] is not a date group with a 'calls' list: {_kind(group)}"
            )
        if isinstance(group.get("date"), str):
            dates.add(group["date"])
        for call_index, record in enumerate(group["calls"]):
            call_count += 1
            where = f"data[{group_index}].calls[{call_index}]"
            try:
                sessions.append(parse_call(record, source_name, warnings, unknown_statuses))
            except InvalidSession as exc:
                warnings.append(f"skipped TagMango call {_name_of(record, where)}: {exc}")
                call_id = _id_of(record)
                if call_id is None:
                    unidentified += 1
                else:
                    skipped_ids.add(call_id)
    return ParsedPage(
        sessions,
        warnings,
        total,
        call_count,
        len(groups),
        frozenset(dates),
        frozenset(skipped_ids),
        unidentified,
        frozenset(unknown_statuses),
    )


# `videocallType` values read as a call for every holder of its mango, or for one person. Only
# "onetoone" is documented (an example); the rest are guesses, and any other value is unknown.
GROUP_CALL_TYPES = frozenset({"group", "groupcall", "webinar"})
ONE_TO_ONE_TYPES = frozenset({"onetoone", "1to1", "11", "oneonone", "1on1", "personal"})


def parse_call(
    record: Any,
    source_name: str,
    warnings: list[str] | None = None,
    unknown_statuses: set[str] | None = None,
) -> Session:
    """One call object → Session; InvalidSession if its id or times are missing or invalid.

    Optional fields of the wrong type are ignored (with a warning, when a list is given); an
    unknown status is read as confirmed (and added to `unknown_statuses`, when a set is given).
    """
    if not isinstance(record, dict):
        raise InvalidSession(f"a call must be an object, not {_kind(record)}")
    call_id = record.get("_id")
    if not isinstance(call_id, str) or not call_id.strip():
        raise InvalidSession(f"'_id' is {_kind(call_id)}, not a non-empty string")
    call_id = call_id.strip()
    start = _instant(record.get("fromTime"), "fromTime")
    end = _instant(record.get("toTime"), "toTime")

    def optional(value: Any, what: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            return None if value.isspace() or not value else value
        if warnings is not None:
            warnings.append(f"TagMango call {call_id}: ignored '{what}' ({_kind(value)})")
        return None

    creator = record.get("creator")
    creator = creator if isinstance(creator, dict) else {}
    mango = record.get("mango")
    mango_id = mango if isinstance(mango, str) else None
    mango = mango if isinstance(mango, dict) else {}
    mango_title = optional(mango.get("title"), "mango.title")
    title = record.get("title")
    if not isinstance(title, str) or not title.strip():
        optional(title, "title")
        title = mango_title or "TagMango video call"

    description = optional(record.get("description"), "description") or optional(
        mango.get("description"), "mango.description"
    )
    meeting_url = optional(record.get("meetingUrl"), "meetingUrl")
    return Session(
        source_kind=SourceKind.TAGMANGO,
        source_name=source_name,
        upstream_id=call_id,
        title=title,
        start=start,
        end=end,
        series_key=_series_key(record),
        description=html_to_text(description) if description else "",
        status=_status(record.get("status"), unknown_statuses),
        meeting_url=meeting_url.strip() if meeting_url else None,
        organizer_name=optional(creator.get("name"), "creator.name"),
        organizer_email=optional(creator.get("email"), "creator.email"),
        platform=optional(record.get("platform"), "platform"),
        product_id=optional(mango.get("_id"), "mango._id") or mango_id,
        product_title=mango_title,
        timezone=_timezone(record),
        group_call=group_call(optional(record.get("videocallType"), "videocallType")),
    )


def group_call(videocall_type: str | None) -> bool | None:
    """Whether `videocallType` says every holder of the call's mango attends (True), that it
    is a 1:1 call (False), or neither (None: the enum is not documented)."""
    if videocall_type is None:
        return None
    kind = "".join(ch for ch in videocall_type.lower() if ch.isalnum())
    if kind in GROUP_CALL_TYPES:
        return True
    if kind in ONE_TO_ONE_TYPES:
        return False
    return None


def _unwrap(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise MalformedResponse(f"the body is {_kind(body)}, not a JSON object")
    if body.get("success") is False:
        raise MalformedResponse(f"the API reported failure: {body.get('message', body)!r}")
    for key in ("result", "data"):
        inner = body.get(key)
        if isinstance(inner, dict):
            return inner
    if "data" in body:
        return body
    raise MalformedResponse(
        f"no 'data' list and no 'result'/'data' envelope; keys: {sorted(body)[:10]}"
    )


def _parse_total(value: Any, warnings: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        warnings.append(f"ignored TagMango 'total' ({_kind(value)})")
        return None
    try:
        total = int(value)
    except ValueError:
        warnings.append(f"ignored TagMango 'total' {value!r}: not a number")
        return None
    if total < 0 or total != float(value):
        warnings.append(f"ignored TagMango 'total' {value!r}: not a count")
        return None
    return total


def _instant(value: Any, what: str) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise InvalidSession(f"'{what}' is {_kind(value)}, not an ISO date-time")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidSession(f"'{what}' {value!r} is not an ISO date-time") from exc
    return aware_utc(parsed, f"'{what}'", InvalidSession)


def _status(value: Any, unknown: set[str] | None) -> Status:
    if not isinstance(value, str) or not value.strip():
        return Status.CONFIRMED
    status = value.strip().lower()
    if status in CANCELLED_STATUSES:
        return Status.CANCELLED
    if status not in KNOWN_CONFIRMED_STATUSES and unknown is not None:
        unknown.add(status)
    return Status.CONFIRMED


def _series_key(record: Mapping[str, Any]) -> str | None:
    for name in SERIES_FIELDS:
        value = record.get(name)
        if value is None:
            continue
        if isinstance(value, dict):  # a populated reference: {"_id": ...}
            value = value.get("_id")
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def _timezone(record: Mapping[str, Any]) -> str | None:
    for name in TIMEZONE_FIELDS:
        value = record.get(name)
        if isinstance(value, str) and "/" in value and value.strip() in zone_names():
            return value.strip()  # an IANA name, not "+05:30"
    return None


def _id_of(record: Any) -> str | None:
    """The call's `_id` as parse_call reads it, or None when it has no usable one."""
    if isinstance(record, dict):
        call_id = record.get("_id")
        if isinstance(call_id, str) and call_id.strip():
            return call_id.strip()
    return None


def _name_of(record: Any, where: str) -> str:
    call_id = _id_of(record)
    return f"at {where}" if call_id is None else f"{call_id} ({where})"


def _kind(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return f"a {type(value).__name__}"
