"""The normalized model every upstream is turned into.

A `Session` is one occurrence of a live session, whatever platform it came from.
Instants are always timezone-aware UTC; the parsers reject anything else. Titles are
normalised (`normalize_title`) whatever the platform wrote.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from ipaddress import ip_address
from urllib.parse import urlsplit

from feeds.rules import aware_utc


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


# Characters a browser drops, rewrites or shows misleadingly: whitespace, controls, invisible
# formatting (zero-width, bidi overrides), private-use and unassigned code points.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zs", "Zl", "Zp"})
# An ASCII host name (IDNs in their xn-- form) or IPv4 address; IPv6 literals are checked apart.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def is_web_url(url: str) -> bool:
    """Whether `url` is an http(s) address that every browser reads as calbridge does: the only
    meeting links calbridge redirects to.

    That is `http(s)://` then an ASCII host name or IP address and an optional port, with no
    user name or password (`https://zoom.us@evil.example` goes to evil.example), no backslash
    (browsers read it as `/`, Python does not) and no whitespace, control or invisible
    character anywhere.
    """
    if "\\" in url or any(unicodedata.category(char) in _UNSAFE_CATEGORIES for char in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not 0-65535
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc:
        return False
    host = parts.hostname
    if not host:
        return False
    if ":" in host:
        return _is_ip_address(host)
    return _HOST_NAME.fullmatch(host) is not None


def _is_ip_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


# Control characters no text is written with (tab and line breaks are whitespace instead).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WHITESPACE_RUNS = re.compile(r"\s+")  # any Unicode space, tab or line break


def normalize_title(title: str) -> str:
    """A title as every calendar shows it alike: no control characters, each run of whitespace
    one space, none at either end. libical (Evolution, KDE) trims a SUMMARY's trailing spaces
    while other clients keep them, and a line break in a title shows differently everywhere."""
    if title.isprintable() and "  " not in title and title[:1] != " " and title[-1:] != " ":
        return title  # the common case (isprintable: no control and no space but " ")
    return _WHITESPACE_RUNS.sub(" ", CONTROL_CHARACTERS.sub("", title)).strip(" ")


def as_utc(value: datetime, what: str = "instant") -> datetime:
    """Return `value` in UTC; naive datetimes are refused (InvalidSession), never guessed."""
    return aware_utc(value, what, InvalidSession)


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
    # The replay of a session that has ended (TagMango's webinar.completed.all webhook).
    recording_url: str | None = None
    # TagMango: a call for every holder of its mango (True), a 1:1 call (False), or not said.
    group_call: bool | None = None
    sequence: int = 0
    changed_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.upstream_id:
            raise InvalidSession("session has no upstream id")
        # Titles are normalised here, the one place every parser and the archive go through.
        object.__setattr__(self, "title", normalize_title(self.title))
        if self.product_title is not None:
            object.__setattr__(self, "product_title", normalize_title(self.product_title) or None)
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
