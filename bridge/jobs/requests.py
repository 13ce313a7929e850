"""Asking for a refresh: claim the partition in the database, then queue one job.

The claim (`Store.claim_refresh`) is one conditional UPDATE, so however many web and worker
processes ask at once (subscribers of a stale feed, sweeps, webhooks), a partition has at
most one job queued and one running (a job clears its claim when it starts). A forced request
(a webhook: upstream says something changed) also marks the queued job to ignore the
once-per-TTL rule.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from enum import IntEnum
from typing import Protocol

from bridge.partitions import Partition
from bridge.store import Store

log = logging.getLogger(__name__)


class Priority(IntEnum):
    """Queue priority of a refresh job (higher runs first)."""

    IDLE = 0  # due by the schedule, nobody polls it
    POLLED = 10  # due by the schedule, subscribers read it
    PROVISIONED = 12  # made in bulk (a participant sync): below webhooks, which must not wait
    WEBHOOK = 15  # upstream said the source changed
    READER = 20  # a subscriber is reading stale or missing data now
    NEW_FEED = 30  # a feed was just created: its first subscriber is about to come


class RefreshQueue(Protocol):
    """Where refresh jobs go (bridge.jobs.queue.JobQueue; tests pass a recorder)."""

    def enqueue_refresh(self, partition: Partition, priority: int) -> None: ...


class RefreshRequests:
    """How the web, the CLI and the scheduler ask for a partition to be refreshed."""

    def __init__(self, store: Store, queue: RefreshQueue, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.queue = queue
        self.clock = clock

    def request(
        self, partition: Partition, *, priority: int = Priority.READER, force: bool = False
    ) -> bool:
        """Queue a refresh unless one is queued already; True when this call queued it. A
        queue that cannot be reached is logged, not raised: readers are served regardless."""
        if not self.store.claim_refresh(partition, self.clock(), force=force):
            return False
        try:
            self.queue.enqueue_refresh(partition, priority)
        except Exception:
            self.store.release_claim(partition)
            log.exception("could not queue a refresh of partition %s", partition)
            return False
        return True
