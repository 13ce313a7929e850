"""`Services`: what the web blueprints, the CLI and the workers share, built once per app.

`build_services` wires them from the settings; `bridge.app.create_app` puts them on the
Flask app, and `services()` finds them inside a request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app

from bridge.crypto import CredentialBox
from bridge.jobs.fetcher import Outcome, PartitionFetcher
from bridge.jobs.locks import partition_locks
from bridge.jobs.queue import IMMEDIATE, JobQueue
from bridge.jobs.requests import RefreshRequests
from bridge.jobs.runner import JobRunner
from bridge.jobs.schedule import POLLED_WITHIN, Scheduler
from bridge.metrics import Metrics
from bridge.participants.schedule import ParticipantSyncSweep, run_scheduled_sync
from bridge.partitions import Partition
from bridge.push.pusher import Pusher
from bridge.push.triggers import PushTriggers
from bridge.rendering import FeedRenderer
from bridge.settings import Settings
from bridge.signing import JoinSigner
from bridge.store import Store
from bridge.store.instance_queries import UID_DOMAIN
from bridge.upstream.budget import add_budget_listener, configure_budgets
from bridge.upstream.clients import build_client

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SUMMARY_MAX_AGE = 1.0  # seconds a scrape's schedule summary serves the other gauges


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    """Everything with state or I/O that requests, commands and jobs use."""

    settings: Settings
    store: Store
    metrics: Metrics
    clock: Clock
    signer: JoinSigner
    queue: JobQueue
    refreshes: RefreshRequests
    fetcher: PartitionFetcher
    feeds: FeedRenderer
    jobs: JobRunner
    pusher: Pusher
    pushes: PushTriggers
    participant_syncs: ParticipantSyncSweep


def build_services(
    settings: Settings,
    *,
    clock: Clock = utcnow,
    client_factory: Callable[..., object] = build_client,
    immediate_jobs: bool = False,
    store: Store | None = None,
) -> Services:
    """Open the store (migrating it; tests may pass their own), the queue and the rest.
    `immediate_jobs` runs each refresh job in the caller as it is queued (tests only)."""
    if store is None:
        box = CredentialBox(settings.secret_key, settings.secret_key_fallbacks)
        store = Store(settings.database_url, box)
    store.migrate()
    configure_budgets(settings)
    metrics = Metrics()
    signer = JoinSigner(settings.secret_key, settings.secret_key_fallbacks)
    fetcher = PartitionFetcher(
        store,
        settings,
        metrics,
        partition_locks(settings.database_url, settings.instance_path),
        clock=clock,
        client_factory=client_factory,
    )

    def run_refresh(partition: Partition) -> bool:
        return fetcher.refresh(partition) is not Outcome.RETRY

    def run_push(target_id: int) -> bool:
        return pusher.run_job(target_id)

    def run_participant_sync(source_id: int) -> None:
        run_scheduled_sync(built, source_id)

    queue = JobQueue(
        IMMEDIATE if immediate_jobs else settings.queue_location,
        run_refresh,
        run_push,
        run_participant_sync,
    )
    refreshes = RefreshRequests(store, queue, clock)
    feeds = FeedRenderer(
        store,
        settings,
        metrics,
        refreshes,
        signer,
        clock=clock,
        uid_domain=uid_domain(store, settings),
    )
    pusher = Pusher(store, feeds, metrics, fetcher.locks, clock=clock)
    pushes = PushTriggers(store, feeds, queue, clock)
    fetcher.on_change = pushes.after_refresh
    participant_syncs = ParticipantSyncSweep(store, queue, clock)
    jobs = JobRunner(
        queue,
        Scheduler(store, refreshes, clock, also=[pushes.sweep, participant_syncs.sweep]),
    )
    _watch_schedule(metrics, store, queue, clock)
    metrics.watch(
        "calbridge_push_targets_failing",
        "Push targets whose last push failed.",
        store.failing_push_targets,
    )
    built = Services(
        settings=settings,
        store=store,
        metrics=metrics,
        clock=clock,
        signer=signer,
        queue=queue,
        refreshes=refreshes,
        fetcher=fetcher,
        feeds=feeds,
        jobs=jobs,
        pusher=pusher,
        pushes=pushes,
        participant_syncs=participant_syncs,
    )
    return built


def uid_domain(store: Store, settings: Settings) -> str:
    """The domain of every event UID: the one the installation's first start stored (see
    Settings.first_uid_domain), so moving the service to another public URL changes no UID."""
    stored = store.instance_setting(UID_DOMAIN, settings.first_uid_domain)
    if settings.uid_domain is not None and settings.uid_domain != stored:
        log.warning(
            "CALBRIDGE_UID_DOMAIN is %s, but this installation's event UIDs use %s since its "
            "first start; keeping %s (a new domain would make every calendar recreate every "
            "event)",
            settings.uid_domain,
            stored,
            stored,
        )
    return stored


def _watch_schedule(metrics: Metrics, store: Store, queue: JobQueue, clock: Clock) -> None:
    """Gauges of the shared schedule, read from the database when /metrics is scraped (one
    query per scrape for the three of them), and the budgets' grants."""
    read: list[tuple[float, tuple[int, int, float]]] = []

    def summary(field: int) -> float:
        if not read or time.monotonic() - read[0][0] > SUMMARY_MAX_AGE:
            now = clock()
            read[:] = [(time.monotonic(), store.schedule_summary(now, now - POLLED_WITHIN))]
        return read[0][1][field]

    metrics.watch("calbridge_queue_depth", "Refresh jobs waiting in the job queue.", queue.depth)
    metrics.watch(
        "calbridge_partitions", "Partitions (upstream queries) scheduled.", lambda: summary(0)
    )
    metrics.watch(
        "calbridge_partitions_queued",
        "Partitions with a refresh job queued (claimed in the database).",
        lambda: summary(1),
    )
    metrics.watch(
        "calbridge_partition_data_age_seconds",
        "Age of the oldest good data among the partitions subscribers read.",
        lambda: summary(2),
    )

    def count_grant(budget: str, waited: float) -> None:
        metrics.budget_grants.labels(budget).inc()
        metrics.budget_wait_seconds.labels(budget).inc(waited)

    add_budget_listener(count_grant)


def services() -> Services:
    """The current app's services (inside a request or app context)."""
    return current_app.extensions["calbridge"]
