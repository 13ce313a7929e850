"""What every upstream client gives the refresh loop: complete sessions for a window.

A client either returns every session in the window (plus warnings about records it
had to skip) or raises an `UpstreamError`. It never returns a partial list, because
the refresh loop treats a missing session as a cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from feeds.model import Session


@dataclass(frozen=True)
class FetchResult:
    """Complete data for the requested window, or an UpstreamError is raised instead."""

    sessions: list[Session]
    warnings: list[str] = field(default_factory=list)


@runtime_checkable
class SourceClient(Protocol):
    """A configured upstream source (TagMango, TrainerCentral) that can list its sessions."""

    def fetch(self, window_start: datetime, window_end: datetime) -> FetchResult:
        """Every session starting in [window_start, window_end), or raise UpstreamError."""
        ...
