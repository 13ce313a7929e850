"""Size limits on what upstreams send and on the feeds calbridge writes (pure: no I/O).

Every limit is a named constant here. `cap_session` applies the field limits to one parsed
session and says what it changed, so a runaway upstream field (a 5 MB title) becomes a short
field and a warning naming the record instead of a 10 MB feed. It is applied once for every
source, where a client's `FetchResult` is made (`bridge.upstream.base`), not in each parser.

Texts are cut at a character count and end in "…"; a meeting URL or e-mail address that is
too long is dropped (a cut one would be wrong); an identifier that is too long keeps its
start and gets a digest of the whole, so it stays unique and stable across refreshes.
"""

from __future__ import annotations

import dataclasses
import hashlib
from urllib.parse import urlsplit

from feeds.model import Session

__all__ = [
    "ELLIPSIS",
    "FEED_BYTE_BUDGET",
    "MAX_DESCRIPTION_CHARS",
    "MAX_EMAIL_CHARS",
    "MAX_HOST_CHARS",
    "MAX_ID_CHARS",
    "MAX_NAME_CHARS",
    "MAX_TITLE_CHARS",
    "MAX_URL_CHARS",
    "cap_id",
    "cap_session",
    "cap_sessions",
    "shorten",
]

# Fields of one session (characters).
MAX_TITLE_CHARS = 300
MAX_DESCRIPTION_CHARS = 8000  # Google Calendar keeps about 8 KB of an event's description
MAX_NAME_CHARS = 200  # organizer name, product title, platform
MAX_ID_CHARS = 200  # upstream id, series key, product id
MAX_URL_CHARS = 2048
MAX_HOST_CHARS = 253  # the longest DNS name
MAX_EMAIL_CHARS = 254  # RFC 5321's longest forward path
# A rendered feed: Google Calendar ignores feeds near 1 MB (docs/client-compatibility.md,
# *Feed size*); feeds.fitting keeps every feed at or under this many bytes.
FEED_BYTE_BUDGET = 900_000

ELLIPSIS = "…"
_DIGEST_CHARS = 16


def shorten(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters, else its start and "…" in `limit`."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ""
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def cap_id(value: str) -> str:
    """`value` if it has at most MAX_ID_CHARS characters, else its start and a digest of the
    whole in MAX_ID_CHARS: unique and stable, so the same long id always maps to one short id.

    Every id that is matched against capped sessions (say a skipped record's) goes through here.
    """
    if len(value) <= MAX_ID_CHARS:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]
    return f"{value[: MAX_ID_CHARS - _DIGEST_CHARS - 1]}~{digest}"


def url_problem(url: str) -> str | None:
    """Why `url` is too long to publish (its length or its host name's), or None."""
    if len(url) > MAX_URL_CHARS:
        return f"{len(url):,} characters, over the {MAX_URL_CHARS:,} limit"
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return None  # not a URL at all: the join route refuses it, no size problem here
    if len(host) > MAX_HOST_CHARS:
        return f"its host name has {len(host):,} characters, over the {MAX_HOST_CHARS} limit"
    return None


def _obviously_within_limits(s: Session) -> bool:
    """A quick check that holds for nearly every session (a fetch runs it on each)."""
    return (
        len(s.title) <= MAX_TITLE_CHARS
        and len(s.description) <= MAX_DESCRIPTION_CHARS
        and len(s.upstream_id) <= MAX_ID_CHARS
        and len(s.series_key or "") <= MAX_ID_CHARS
        and len(s.product_id or "") <= MAX_ID_CHARS
        and len(s.organizer_name or "") <= MAX_NAME_CHARS
        and len(s.product_title or "") <= MAX_NAME_CHARS
        and len(s.platform or "") <= MAX_NAME_CHARS
        and len(s.timezone or "") <= MAX_NAME_CHARS
        and len(s.organizer_email or "") <= MAX_EMAIL_CHARS
        and len(s.meeting_url or "") <= MAX_HOST_CHARS  # so its host name is short enough too
    )


def cap_session(session: Session) -> tuple[Session, list[str]]:
    """`session` with every field within its limit, and one warning per field changed.

    The common case (nothing too long) returns the same object and no warnings.
    """
    if _obviously_within_limits(session):
        return session, []
    changes: dict[str, object] = {}
    notes: list[str] = []

    def text(field: str, limit: int, what: str) -> None:
        value = getattr(session, field)
        if value is not None and len(value) > limit:
            changes[field] = shorten(value, limit)
            notes.append(f"{what} cut from {len(value):,} to {limit:,} characters")

    def identifier(field: str, what: str) -> None:
        value = getattr(session, field)
        if value is not None and len(value) > MAX_ID_CHARS:
            changes[field] = cap_id(value)
            notes.append(f"{what} of {len(value):,} characters shortened to {MAX_ID_CHARS}")

    identifier("upstream_id", "id")
    identifier("series_key", "series key")
    identifier("product_id", "product id")
    text("title", MAX_TITLE_CHARS, "title")
    text("description", MAX_DESCRIPTION_CHARS, "description")
    text("organizer_name", MAX_NAME_CHARS, "organizer name")
    text("product_title", MAX_NAME_CHARS, "product title")
    text("platform", MAX_NAME_CHARS, "platform")
    text("timezone", MAX_NAME_CHARS, "time zone")
    if session.meeting_url is not None and (problem := url_problem(session.meeting_url)):
        changes["meeting_url"] = None
        notes.append(f"meeting URL dropped ({problem})")
    email = session.organizer_email
    if email is not None and len(email) > MAX_EMAIL_CHARS:
        changes["organizer_email"] = None
        notes.append(f"organizer e-mail dropped ({len(email):,} characters)")
    if not changes:
        return session, []
    capped = dataclasses.replace(session, **changes)
    name = f"{capped.source_kind.value} session {capped.upstream_id}"
    return capped, [f"{name}: {note}" for note in notes]


def cap_sessions(sessions: list[Session]) -> tuple[list[Session], list[str]]:
    """`cap_session` over a list: the capped sessions (same order) and every warning."""
    capped: list[Session] = []
    warnings: list[str] = []
    for session in sessions:
        fixed, notes = cap_session(session)
        capped.append(fixed)
        warnings.extend(notes)
    return capped, warnings
