"""A roster: who a source's participants are, read from a CSV the creator writes or exports.

The roster model (`Member`, `Roster`, `RosterProblem`) is shared by every reader (this CSV
reader, bridge/participants/upstream_roster.py for TagMango and TrainerCentral). The CSV is
read tolerantly: the header row in any order and case, a UTF-8 byte-order mark, `,`, `;` or a
tab as the separator (told from the header), quoted fields (with separators or line breaks
inside), extra columns (ignored). A malformed row is reported with its line number, and the
rest are imported; only a file that cannot be read at all (not UTF-8, no `user_id` column,
too big) is refused as a whole.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bridge.operations import OperationError

ACTIVE = "active"
EXPIRED = "expired"
LEFT = "left"
MAX_CSV_BYTES = 20 * 1024 * 1024
MAX_MEMBERS = 100_000
MAX_USER_ID = 255
MAX_NAME = 200
MAX_EMAIL = 320
MAX_MANGOES = 50
MAX_MANGO_ID = 100

# Subscription statuses (TagMango documents none: docs/upstream-apis.md, *Participants:
# roster*). Anything else is reported, and that participant left as they are.
ACTIVE_STATUSES = frozenset({"", "active", "activated", "subscribed", "paid", "success", "trial"})
ENDED_STATUSES = {
    **dict.fromkeys(("expired", "inactive", "ended", "lapsed"), EXPIRED),
    **dict.fromkeys(
        ("cancelled", "canceled", "revoked", "refunded", "left", "deleted", "unsubscribed"), LEFT
    ),
}
COLUMNS = {
    "user_id": ("user_id", "userid", "user", "fan_id"),
    "name": ("name", "full_name", "fan_name"),
    "email": ("email", "email_id", "e_mail", "mail"),
    "mangoes": ("mangoes", "mangos", "mango", "mango_ids"),
    "status": ("status", "subscription_status"),
}
_ALIASES = {alias: column for column, aliases in COLUMNS.items() for alias in aliases}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SEPARATORS = (",", ";", "\t")


class RosterFormatError(OperationError):
    """A roster that cannot be read at all; the message says why (and where)."""


@dataclass(frozen=True)
class Member:
    """One participant as the roster lists them; `status` is active, expired or left."""

    user_id: str
    name: str = ""
    email: str = ""
    mangoes: tuple[str, ...] = ()
    status: str = ACTIVE
    line: int | None = None  # where a CSV listed them


@dataclass(frozen=True)
class RosterProblem:
    """A row or record that could not be used. `user_id`, when it could be read, protects
    that participant: their feed is left as it is rather than revoked as absent."""

    message: str
    line: int | None = None
    user_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "user_id": self.user_id, "message": self.message}


@dataclass
class Roster:
    """What a reader found. `complete`: the whole roster, so a participant missing from it
    has left; otherwise only the members listed are looked at."""

    origin: str
    members: list[Member] = field(default_factory=list)
    problems: list[RosterProblem] = field(default_factory=list)
    complete: bool = True
    notes: list[str] = field(default_factory=list)


def normal_status(raw: Any) -> str | None:
    """active, expired or left for a status word (any case); None for an unknown one."""
    word = str(raw if raw is not None else "").strip().lower().replace(" ", "_")
    if word in ACTIVE_STATUSES:
        return ACTIVE
    return ENDED_STATUSES.get(word)


def split_mangoes(value: str) -> tuple[str, ...]:
    """Mango ids separated by `;` or `,` (spaces around them ignored), each once."""
    return tuple(dict.fromkeys(part.strip() for part in re.split(r"[;,]", value) if part.strip()))


def check_member(
    user_id: str, name: str, email: str, mangoes: Iterable[str]
) -> tuple[Member | None, str | None]:
    """A member from raw values, or why not (one sentence)."""
    user_id, name, email = user_id.strip(), " ".join(name.split()), email.strip()
    mangoes = tuple(mangoes)
    if not user_id:
        return None, "the user_id is empty"
    if len(user_id) > MAX_USER_ID or _CONTROL.search(user_id):
        return None, f"the user_id must be 1 to {MAX_USER_ID} characters without line breaks"
    if len(name) > MAX_NAME:
        return None, f"the name is longer than {MAX_NAME} characters"
    if email and (len(email) > MAX_EMAIL or "@" not in email or re.search(r"\s", email)):
        return None, f"{email[:60]!r} is not an email address"
    if len(mangoes) > MAX_MANGOES or any(len(m) > MAX_MANGO_ID for m in mangoes):
        return None, f"at most {MAX_MANGOES} mango ids of at most {MAX_MANGO_ID} characters"
    return Member(user_id, name, email, mangoes), None


def read_csv(data: bytes | str, origin: str = "CSV") -> Roster:
    """The roster in a CSV file's contents (see the module docstring for what is tolerated).
    Raises RosterFormatError when the file cannot be read at all."""
    text = _decode(data)
    lines = text.splitlines(keepends=True)
    header_at = next((n for n, line in enumerate(lines) if line.strip()), None)
    if header_at is None:
        raise RosterFormatError("the CSV is empty: it needs a header row naming user_id")
    separator, columns = _header(lines[header_at], header_at + 1)
    reader = csv.reader(
        io.StringIO("".join(lines[header_at + 1 :])), delimiter=separator, strict=True
    )
    roster = Roster(origin)
    first_line: dict[str, int] = {}
    offset = header_at + 1  # physical lines before the reader's first
    end = 0
    while True:
        start = end + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            end = reader.line_num
            roster.problems.append(RosterProblem(f"unreadable row: {error}", start + offset))
            continue
        end = reader.line_num
        if not any(value.strip() for value in fields):
            continue  # a blank line
        line = start + offset
        if len(roster.members) + len(roster.problems) >= MAX_MEMBERS:
            raise RosterFormatError(f"line {line}: the CSV has more than {MAX_MEMBERS:,} rows")
        _add_row(roster, fields, columns, line, first_line)
    return roster


def _add_row(
    roster: Roster, fields: list[str], columns: dict[str, int], line: int, seen: dict[str, int]
) -> None:
    width = max(columns.values()) + 1
    values = {name: fields[index] if index < len(fields) else "" for name, index in columns.items()}
    user_id = values["user_id"].strip() or None
    if len(fields) < width:
        problem = f"{len(fields)} fields, but the header has {width}"
        roster.problems.append(RosterProblem(problem, line, user_id))
        return
    member, problem = check_member(
        values["user_id"],
        values.get("name", ""),
        values.get("email", ""),
        split_mangoes(values.get("mangoes", "")),
    )
    status = normal_status(values.get("status", ""))
    if member is not None and status is None:
        problem = f"unknown status {values['status'].strip()[:40]!r} (use active or expired)"
    if member is None or status is None:
        roster.problems.append(RosterProblem(problem or "unreadable", line, user_id))
        return
    if member.user_id in seen:
        problem = f"user {member.user_id} is already listed on line {seen[member.user_id]}"
        roster.problems.append(RosterProblem(problem, line, member.user_id))
        return
    seen[member.user_id] = line
    roster.members.append(Member(**{**vars(member), "status": status, "line": line}))


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    if len(data) > MAX_CSV_BYTES:
        raise RosterFormatError(f"the CSV is larger than {MAX_CSV_BYTES // 2**20} MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise RosterFormatError(
            f"line {line}: the CSV is not UTF-8 (byte {error.start}); save it as UTF-8"
        ) from None


def _header(text: str, line: int) -> tuple[str, dict[str, int]]:
    """The separator and the column of each known field, told from the header row."""
    best: tuple[int, str, dict[str, int]] | None = None
    for separator in _SEPARATORS:
        try:
            names = next(csv.reader([text], delimiter=separator))
        except csv.Error:
            continue
        columns: dict[str, int] = {}
        for index, raw in enumerate(names):
            key = re.sub(r"[\s-]+", "_", raw.strip().lower())
            column = _ALIASES.get(key)
            if column is not None and column not in columns:
                columns[column] = index
        if best is None or len(columns) > best[0]:
            best = (len(columns), separator, columns)
    if best is None or "user_id" not in best[2]:
        shown = text.strip()[:80]
        raise RosterFormatError(
            f"line {line}: the header row names no user_id column (it reads {shown!r}); "
            "the columns are user_id, name, email, mangoes and an optional status"
        )
    return best[1], best[2]
