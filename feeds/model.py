"""The normalized model every upstream is turned into.

A `Session` is one occurrence of a live session, whatever platform it came from.
Instants are always timezone-aware UTC; the parsers reject anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import urlsplit


class SourceKind(StrEnum):
    TAGMANGO = "tagmango"
    TRAINERCENTRAL = "trainercentral"


class Status(StrEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class Scope(StrEnum):
    """How much of each event a feed (or share link) reveals."""

    FULL = "full"  # join links and organizer e-mail
    NO_LINKS = "no-links"  # no join links, no e-mail addresses
    BUSY = "busy"  # every title "Busy", no description, no links


class InvalidSession(ValueError):
    """An upstream record that cannot become a Session (the message says why)."""


_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f]")


def is_web_url(url: str) -> bool:
    """Whether `url` is an http(s) address with a host and nothing a browser would reinterpret
    (whitespace, control characters): the only meeting links calbridge redirects to."""
    if _UNSAFE_IN_URL.search(url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def as_utc(value: datetime, what: str = "instant") -> datetime:
    """Return `value` in UTC; naive datetimes are refused, never guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidSession(f"{what} {value.isoformat()} has no timezone")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Session:
    """One occurrence of a live session, normalized from either platform.

    `sequence` and `changed_at` are not upstream facts: the archive fills them in
    (SEQUENCE and DTSTAMP/LAST-MODIFIED of the event). Parsers leave the defaults.
    """

    source_kind: SourceKind
    source_name: str
    upstream_id: str
    title: str
    start: datetime
    end: datetime
    series_key: str | None = None
    description: str = ""
    status: Status = Status.CONFIRMED
    meeting_url: str | None = None
    organizer_name: str | None = None
    organizer_email: str | None = None
    platform: str | None = None
    product_id: str | None = None
    product_title: str | None = None
    timezone: str | None = None
    sequence: int = 0
    changed_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.upstream_id:
            raise InvalidSession("session has no upstream id")
        object.__setattr__(self, "start", as_utc(self.start, "start"))
        object.__setattr__(self, "end", as_utc(self.end, "end"))
        if self.end <= self.start:
            raise InvalidSession(
                f"session {self.upstream_id}: end {self.end.isoformat()} is not after "
                f"start {self.start.isoformat()}"
            )
        if self.changed_at is not None:
            object.__setattr__(self, "changed_at", as_utc(self.changed_at, "changed_at"))
        if self.sequence < 0:
            raise InvalidSession(f"session {self.upstream_id}: negative sequence")

    @property
    def key(self) -> str:
        """Identity of the occurrence across refreshes: platform + upstream id."""
        return f"{self.source_kind.value}-{self.upstream_id}"

    @property
    def cancelled(self) -> bool:
        return self.status is Status.CANCELLED
