"""What every upstream client gives the refresh loop: complete sessions for a window.

A client either returns every session in the window (plus warnings about records it
had to skip, and which those were) or raises an `UpstreamError`. It never returns a
partial list, because the refresh loop treats a missing session as a cancellation; an
answer that contradicts itself (a `total` larger than what was listed) is an error too.

Every `FetchResult` holds its sessions to the field limits of `feeds.limits` as it is made,
so each source's data is capped in this one place, whatever client or parser produced it;
each field cut is added to `warnings`, which the refresh loop logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from feeds.limits import cap_id, cap_sessions
from feeds.model import Session


@dataclass(frozen=True)
class FetchResult:
    """Complete data for the requested window, or an UpstreamError is raised instead.

    `skipped_ids` are upstream ids of records that were listed but could not be read, and
    `unidentified` counts skipped records whose id could not be read either: the archive
    must not take any of them for a cancellation. Long ids are capped like the sessions'
    (`feeds.limits.cap_id`), so a skipped id matches the id its session was archived under.
    """

    sessions: list[Session]
    warnings: list[str] = field(default_factory=list)
    skipped_ids: frozenset[str] = frozenset()
    unidentified: int = 0

    def __post_init__(self) -> None:
        capped, notes = cap_sessions(self.sessions)
        object.__setattr__(self, "skipped_ids", frozenset(map(cap_id, self.skipped_ids)))
        if notes:
            object.__setattr__(self, "sessions", capped)
            object.__setattr__(self, "warnings", [*self.warnings, *notes])


@runtime_checkable
class SourceClient(Protocol):
    """A configured upstream source (TagMango, TrainerCentral) that can list its sessions."""

    def fetch(self, window_start: datetime, window_end: datetime) -> FetchResult:
        """Every session starting in [window_start, window_end), or raise UpstreamError."""
        ...
