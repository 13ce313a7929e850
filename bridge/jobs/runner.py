"""The workers: Huey consumer threads that run refresh jobs, plus the scheduler's sweep.

`calbridge serve` starts a `JobRunner` inside each web process (`start`/`stop`), so the
embedded mode needs nothing else; `calbridge serve --no-worker` starts none, and
`calbridge worker` runs one in the foreground (`run`) until SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging

from huey.consumer import Consumer

from .queue import JobQueue
from .schedule import Scheduler

log = logging.getLogger(__name__)

DEFAULT_THREADS = 4
# How the consumer polls a queue that cannot block (SQLite): quickly after work, at least
# every MAX_POLL_DELAY when idle, so a queued refresh starts within a fraction of a second.
INITIAL_POLL_DELAY = 0.05
MAX_POLL_DELAY = 0.25


class _EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """A consumer that leaves signal handling to its host process (gunicorn's worker)."""

    def _set_signal_handlers(self) -> None:
        pass


class JobRunner:
    """Runs refresh jobs from the queue and keeps the schedule sweeping."""

    def __init__(self, queue: JobQueue, scheduler: Scheduler, *, threads: int = DEFAULT_THREADS):
        self.queue = queue
        self.scheduler = scheduler
        self.threads = threads
        self._consumer: Consumer | None = None

    def _create_consumer(self, kind: type[Consumer]) -> Consumer:
        return kind(
            self.queue.huey,
            workers=self.threads,
            worker_type="thread",
            periodic=False,
            initial_delay=INITIAL_POLL_DELAY,
            max_delay=MAX_POLL_DELAY,
        )

    def start(self) -> None:
        """Run the jobs in threads of this process (until `stop`)."""
        if self.queue.immediate or self._consumer is not None:
            return
        self._consumer = self._create_consumer(_EmbeddedConsumer)
        self._consumer.start()
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        if self._consumer is not None:
            self._consumer.stop(graceful=True)
            self._consumer = None

    def run(self) -> None:
        """Run the jobs in the foreground until SIGINT (waits for running jobs) or SIGTERM."""
        self.scheduler.start()
        try:
            self._create_consumer(Consumer).run()
        finally:
            self.scheduler.stop()
