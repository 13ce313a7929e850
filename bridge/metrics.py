"""Prometheus metrics of one app instance, exposed at /metrics.

Each app gets its own registry so tests (and several apps in one process) never
share counters. Under gunicorn every worker reports its own numbers.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    """The counters and histograms calbridge exports."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "calbridge_http_requests",
            "HTTP requests answered, by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.refresh_seconds = Histogram(
            "calbridge_refresh_duration_seconds",
            "Time spent fetching one source from upstream and merging it into the archive.",
            ["source"],
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "calbridge_upstream_errors",
            "Upstream fetches that failed after every retry, by source.",
            ["source"],
            registry=self.registry,
        )
        self.cancellation_holds = Counter(
            "calbridge_cancellation_holds",
            "Upcoming sessions whose cancellation was held as a likely upstream glitch (most "
            "upcoming sessions vanished at once, or records without a readable id), counted "
            "once when the hold starts, by source.",
            ["source"],
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "calbridge_job_duration_seconds",
            "Time a background refresh job took, by outcome (fetched, failed, fresh, busy).",
            ["outcome"],
            registry=self.registry,
        )
        self.budget_grants = Counter(
            "calbridge_upstream_budget_grants",
            "Upstream requests granted by the shared rate budgets, by budget.",
            ["budget"],
            registry=self.registry,
        )
        self.budget_wait_seconds = Counter(
            "calbridge_upstream_budget_wait_seconds",
            "Seconds requests waited for the shared rate budgets, by budget.",
            ["budget"],
            registry=self.registry,
        )
        self.stale_serves = Counter(
            "calbridge_stale_serves",
            "Feeds served from the archive because an upstream was failing.",
            registry=self.registry,
        )

        self.push_requests = Counter(
            "calbridge_push_requests",
            "Requests push jobs sent to users' CalDAV calendars, by method (PUT, DELETE, GET).",
            ["method"],
            registry=self.registry,
        )
        self.push_failures = Counter(
            "calbridge_push_failures",
            "Failed pushes, by push target and reason (auth, unreachable, server, url, "
            "rejected, feed).",
            ["target", "reason"],
            registry=self.registry,
        )
        self.push_conflicts = Counter(
            "calbridge_push_conflicts",
            "412 answers met by pushes: calbridge's event was changed or removed remotely.",
            registry=self.registry,
        )
        self.push_seconds = Histogram(
            "calbridge_push_duration_seconds",
            "Time a push job took, by outcome (pushed, unchanged, failed).",
            ["outcome"],
            registry=self.registry,
        )

    def watch(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge whose value `read` gives when /metrics is scraped."""
        Gauge(name, documentation, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)
