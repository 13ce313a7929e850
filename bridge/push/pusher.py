"""The push job: make a user's CalDAV calendar hold exactly the feed's events, sending only
what changed.

`Pusher.push(target_id)` holds the target's lock (one push per target across every process),
then decides in two steps whether anything must be sent:

1. the cheap test, without rendering: no change was logged for the feed's partitions since
   the number the last good push covered, the feed's token (whose generation signs the join
   links) is the same, and the feed was compared in full less than RECONCILE_EVERY ago;
2. the exact test: the feed's calendar objects (`FeedRenderer.calendar_objects`, cached per
   rendered feed) are fingerprinted by (uid, etag) and compared with the fingerprint of what
   the target holds. Objects change without a change-log entry too (a rotated token's join
   links, a session sliding out of the history window), which is why step 1 alone is only
   trusted for RECONCILE_EVERY.

When they differ, each UID is compared with the ETag of the bytes last sent for it: a new UID
is PUT with If-None-Match: *, a changed one PUT with If-Match (the server's ETag), a removed
one DELETEd with If-Match. Every accepted request is recorded at once (bridge.store.
push_queries), so the remote never holds an event of calbridge's it does not know about, and
only hrefs recorded there are ever replaced or deleted: events the user made are never touched.

Conflicts (412: someone changed or removed calbridge's event in the remote calendar): calbridge
is the source of truth for the UIDs it created, so the event is read again (GET, checking it
still holds calbridge's UID) and overwritten (or deleted) with If-Match on the ETag just read;
one that is gone is created again. A second 412 in a row leaves the object for the next
attempt. A push is one pass: it never loops, and each object costs at most three requests.

A failure (refused login, server unreachable or failing, an object it rejects) is recorded on
the target with the time and the next attempt, FIRST_RETRY later, doubling with each
consecutive failure up to MAX_RETRY; the scheduler's sweep queues it then (bridge.push.triggers).
Until then the pushes refreshes queue are deferred (nothing is sent); `push run` still tries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from bridge.crypto import CredentialError
from bridge.feed_views import FeedUnavailable, FeedView
from bridge.jobs.locks import PartitionLocks
from bridge.metrics import Metrics
from bridge.partitions import Partition
from bridge.rendering import FeedRenderer
from bridge.store import FeedRow, Store
from bridge.store.change_log import ChangesPruned
from bridge.store.push_queries import PushOutcome, PushTargetRow
from feeds.calendar_objects import CalendarObject

from .remote import REMOTE_TIMEOUT, Remote, RemoteFailure, open_remote
from .results import PushResult, PushStatus
from .sending import ObjectSender

log = logging.getLogger(__name__)

# How long "nothing logged since the last push" is trusted before the feed is compared in full.
RECONCILE_EVERY = timedelta(hours=1)
# The retry after a failed push, doubled per consecutive failure up to MAX_RETRY.
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=6)
MAX_PROBLEMS_SHOWN = 3


def retry_delay(failures_before: int) -> timedelta:
    """The wait after a failed push that follows `failures_before` consecutive failures."""
    return min(FIRST_RETRY * 2 ** min(failures_before, 20), MAX_RETRY)


RemoteFactory = Callable[[str, str, str, float], Remote]


class Pusher:
    """Runs push jobs: the archive's feed → one user's CalDAV calendar."""

    def __init__(
        self,
        store: Store,
        feeds: FeedRenderer,
        metrics: Metrics,
        locks: PartitionLocks,
        *,
        clock: Callable[[], datetime],
        remote_factory: RemoteFactory = open_remote,
        timeout: float = REMOTE_TIMEOUT,
    ) -> None:
        self.store = store
        self.feeds = feeds
        self.metrics = metrics
        self.locks = locks
        self.clock = clock
        self.remote_factory = remote_factory
        self.timeout = timeout

    def run_job(self, target_id: int) -> bool:
        """The body of a queued push; False when the target was busy (the job runs again)."""
        try:
            return self.push(target_id).status is not PushStatus.BUSY
        except Exception:  # the job's own machinery (say, the database refused a connection)
            log.exception("push job of target %s failed", target_id)
            return True

    def push(self, target_id: int, *, force: bool = False) -> PushResult:
        """Bring the target's calendar up to date; `force` skips the cheap test (step 1)."""
        started = time.monotonic()
        with self.locks.hold_named(f"push:{target_id}") as held:
            if not held:
                return PushResult(target_id, PushStatus.BUSY)
            target = self.store.push_target(target_id)
            if target is None:
                return PushResult(target_id, PushStatus.GONE)
            result = self._push(target, force)
        self.metrics.push_seconds.labels(result.status.value).observe(time.monotonic() - started)
        for method, count in result.requests.items():
            self.metrics.push_requests.labels(method).inc(count)
        if result.conflicts:
            self.metrics.push_conflicts.inc(result.conflicts)
        return result

    def withdraw(self, target_id: int) -> PushResult:
        """Delete every event calbridge created in the target's calendar (before the target
        is removed); the result's error says what could not be deleted."""
        with self.locks.hold_named(f"push:{target_id}") as held:
            if not held:
                return PushResult(target_id, PushStatus.BUSY)
            target = self.store.push_target(target_id)
            if target is None:
                return PushResult(target_id, PushStatus.GONE)
            result = PushResult(target_id, PushStatus.PUSHED)
            try:
                problems = self._send(target, {}, result)
            except RemoteFailure as failure:
                problems = [failure.message]
            if problems:
                result.status, result.error = PushStatus.FAILED, "; ".join(problems)
            return result

    def _push(self, target: PushTargetRow, force: bool) -> PushResult:
        now = self.clock()
        if not force and _backing_off(target, now):
            # A refresh's push while the retry waits: the retry will send it all, and a
            # server refusing the login is not asked again before the backoff says so.
            return PushResult(
                target.id, PushStatus.DEFERRED, next_attempt_at=target.next_attempt_at
            )
        feed = self.store.feed(target.feed_id)
        if feed is None or feed.revoked_at is not None:
            # Nothing to retry: a revoked feed's join links are dead, and stay so.
            message = f"feed {target.feed_id} was revoked: nothing is pushed any more"
            return self._failed(target, "feed", message, now, retry=False)
        latest = self.store.latest_change_number()  # read before the data: a later change
        partitions = self.feeds.partitions(feed)  # is then pushed by the next job
        if not force and self._nothing_logged(target, feed, partitions, now):
            outcome = PushOutcome(
                now,
                _next_check(target.checked_at or now),
                pushed_through=latest,
                generation=feed.generation,
            )
            self.store.finish_push(target.id, outcome)
            return PushResult(target.id, next_attempt_at=outcome.next_attempt_at)
        self.feeds.fetch_states(partitions, fresh=True)  # see what this process just merged
        try:
            listing = self.feeds.calendar_objects(FeedView.of_feed(feed))
        except FeedUnavailable as error:
            return self._failed(target, "feed", error.reason, now)
        wanted = listing.objects
        result = PushResult(target.id)
        if listing.fingerprint != target.fingerprint:
            try:
                problems = self._send(target, wanted, result)
            except RemoteFailure as failure:
                return self._failed(target, failure.reason, failure.message, now, result=result)
            if problems:
                message = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
                if len(problems) > MAX_PROBLEMS_SHOWN:
                    message += f" (and {len(problems) - MAX_PROBLEMS_SHOWN} more)"
                return self._failed(target, "rejected", message, now, result=result)
            result.status = PushStatus.PUSHED
        finished = self.clock()
        outcome = PushOutcome(
            finished,
            _next_check(finished),
            pushed_through=latest,
            generation=feed.generation,
            checked=True,
        )
        self.store.finish_push(target.id, outcome)
        result.next_attempt_at = outcome.next_attempt_at
        if result.status is PushStatus.PUSHED:
            log.info(
                "push %s: %d created, %d updated, %d deleted",
                target.id,
                result.created,
                result.updated,
                result.deleted,
            )
        return result

    def _nothing_logged(
        self, target: PushTargetRow, feed: FeedRow, partitions: list[Partition], now: datetime
    ) -> bool:
        if target.failing or target.checked_at is None or target.generation != feed.generation:
            return False
        if now - target.checked_at >= RECONCILE_EVERY:
            return False
        try:
            page = self.store.changes_since(partitions, target.pushed_through, limit=1)
        except ChangesPruned:
            return False
        return not page.changes

    def _failed(
        self,
        target: PushTargetRow,
        reason: str,
        message: str,
        now: datetime,
        *,
        retry: bool = True,
        result: PushResult | None = None,
    ) -> PushResult:
        next_attempt = now + retry_delay(target.failures) if retry else None
        self.store.finish_push(target.id, PushOutcome(now, next_attempt, error=message))
        self.metrics.push_failures.labels(str(target.id), reason).inc()
        log.warning("push %s failed: %s", target.id, message)
        result = result or PushResult(target.id)
        result.status = PushStatus.FAILED
        result.error = message
        result.next_attempt_at = next_attempt
        return result

    # -- sending ---------------------------------------------------------------------------

    def _send(
        self, target: PushTargetRow, wanted: dict[str, CalendarObject], result: PushResult
    ) -> list[str]:
        """Send the differences; returns the objects' problems (the push went on past them).
        Raises RemoteFailure for what stops the whole push."""
        held = self.store.pushed_objects(target.id)
        deletes = [pushed for uid, pushed in held.items() if uid not in wanted]
        changes = [
            (obj, held.get(uid))
            for uid, obj in wanted.items()
            if uid not in held or held[uid].local_etag != obj.etag
        ]
        if not deletes and not changes:
            return []
        try:
            password = self.store.push_password(target.id)
        except CredentialError as error:
            raise RemoteFailure("auth", f"the stored password cannot be read: {error}") from None
        remote = self.remote_factory(target.url, target.username, password, self.timeout)
        sending = ObjectSender(self.store, target.id, remote, result)
        try:
            for pushed in deletes:
                sending.delete(pushed)
            for obj, pushed in changes:
                if pushed is None:
                    sending.create(obj)
                else:
                    sending.update(obj, pushed)
        finally:
            result.requests = dict(remote.sent)
            remote.close()
        return sending.problems


def _backing_off(target: PushTargetRow, now: datetime) -> bool:
    """Whether the target failed and the wait after that failure has not run out yet."""
    if not target.failing or target.last_error_at is None:
        return False
    return now < target.last_error_at + retry_delay(target.failures - 1)


def _next_check(checked_at: datetime) -> datetime:
    """When the sweep queues a push that has nothing logged to send: the full comparison."""
    return checked_at + RECONCILE_EVERY
