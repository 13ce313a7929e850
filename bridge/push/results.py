"""What one push did: its status, the objects it created, updated and deleted, the requests it
sent and, when it failed, why and when it is tried again (the `push run --json` output)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class PushStatus(Enum):
    PUSHED = "pushed"  # the remote now equals the feed (requests were sent)
    UNCHANGED = "unchanged"  # nothing to send
    FAILED = "failed"
    DEFERRED = "deferred"  # failing, and its retry is not due yet: nothing was tried
    BUSY = "busy"  # another push of the target is running
    GONE = "gone"  # the target was removed


@dataclass
class PushResult:
    target_id: int
    status: PushStatus = PushStatus.UNCHANGED
    created: int = 0
    updated: int = 0
    deleted: int = 0
    conflicts: int = 0  # 412 answers met (and resolved, or left for the next attempt)
    requests: dict[str, int] = field(default_factory=dict)  # sent, by method
    error: str | None = None
    next_attempt_at: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.target_id,
            "status": self.status.value,
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "conflicts": self.conflicts,
            "requests": dict(sorted(self.requests.items())),
            "error": self.error,
            "next_attempt_at": _iso(self.next_attempt_at),
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
