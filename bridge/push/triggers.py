"""What queues push jobs: a refresh that changed data, the sweep of due pushes, an operator.

After a refresh merged a change into a partition, `after_refresh` queues a push of every
target whose feed reads that partition. The scheduler's sweep (every worker, every second)
calls `sweep`, which queues the targets whose `next_attempt_at` has come: a retry after a
failure, or the periodic full comparison (bridge.push.pusher, RECONCILE_EVERY). The sweep
claims each target by moving its next attempt CLAIM_HOLD later in one conditional UPDATE, so
several workers never queue it twice; the job sets the real next attempt when it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from bridge.jobs.requests import Priority
from bridge.partitions import Partition
from bridge.rendering import FeedRenderer
from bridge.store import Store

log = logging.getLogger(__name__)

# How long a claimed due push waits for its job before another sweep may queue it again.
CLAIM_HOLD = timedelta(minutes=5)
SWEEP_BATCH = 100


class PushQueue(Protocol):
    """Where push jobs go (bridge.jobs.queue.JobQueue)."""

    def enqueue_push(self, target_id: int, priority: int) -> None: ...


class PushTriggers:
    """Queues push jobs; every method logs a queue it cannot reach rather than raising."""

    def __init__(
        self,
        store: Store,
        feeds: FeedRenderer,
        queue: PushQueue,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.feeds = feeds
        self.queue = queue
        self.clock = clock

    def request(self, target_id: int, priority: int = Priority.POLLED) -> bool:
        """Queue one push of the target; False when the queue could not be reached."""
        try:
            self.queue.enqueue_push(target_id, priority)
        except Exception:
            log.exception("could not queue a push of target %s", target_id)
            return False
        return True

    def after_refresh(self, partition: Partition) -> int:
        """Queue a push of each target whose feed reads `partition` (whose data just
        changed); returns how many were queued."""
        queued = 0
        for target_id, feed_id in self.store.push_targets_reading(partition.source_id):
            feed = self.store.feed(feed_id)
            if feed is not None and partition in self.feeds.partitions(feed):
                queued += self.request(target_id, Priority.WEBHOOK)
        return queued

    def sweep(self) -> int:
        """Queue the pushes that are due (retries, periodic comparisons)."""
        due = self.store.claim_due_pushes(self.clock(), CLAIM_HOLD, SWEEP_BATCH)
        return sum(self.request(target_id) for target_id in due)
