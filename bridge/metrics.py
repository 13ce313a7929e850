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
        self.requests = self._counter(
            "calbridge_http_requests",
            "HTTP requests answered, by route and status.",
            "route",
            "status",
        )
        self.refresh_seconds = self._histogram(
            "calbridge_refresh_duration_seconds",
            "Time spent fetching one source from upstream and merging it into the archive.",
            "source",
        )
        self.upstream_errors = self._counter(
            "calbridge_upstream_errors",
            "Upstream fetches that failed after every retry, by source.",
            "source",
        )
        self.cancellation_holds = self._counter(
            "calbridge_cancellation_holds",
            "Upcoming sessions whose cancellation was held as a likely upstream glitch (most "
            "upcoming sessions vanished at once, or records without a readable id), counted "
            "once when the hold starts, by source.",
            "source",
        )
        self.job_seconds = self._histogram(
            "calbridge_job_duration_seconds",
            "Time a background refresh job took, by outcome (fetched, failed, fresh, busy).",
            "outcome",
        )
        self.budget_grants = self._counter(
            "calbridge_upstream_budget_grants",
            "Upstream requests granted by the shared rate budgets, by budget.",
            "budget",
        )
        self.budget_wait_seconds = self._counter(
            "calbridge_upstream_budget_wait_seconds",
            "Seconds requests waited for the shared rate budgets, by budget.",
            "budget",
        )
        self.stale_serves = self._counter(
            "calbridge_stale_serves",
            "Feeds served from the archive because an upstream was failing.",
        )

        self.push_requests = self._counter(
            "calbridge_push_requests",
            "Requests push jobs sent to users' CalDAV calendars, by method (PUT, DELETE, GET).",
            "method",
        )
        self.push_failures = self._counter(
            "calbridge_push_failures",
            "Failed pushes, by push target and reason (auth, unreachable, server, url, "
            "rejected, feed).",
            "target",
            "reason",
        )
        self.push_conflicts = self._counter(
            "calbridge_push_conflicts",
            "412 answers met by pushes: calbridge's event was changed or removed remotely.",
        )
        self.push_seconds = self._histogram(
            "calbridge_push_duration_seconds",
            "Time a push job took, by outcome (pushed, unchanged, failed).",
            "outcome",
        )

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def _histogram(self, name: str, documentation: str, *labels: str) -> Histogram:
        return Histogram(name, documentation, labels, registry=self.registry)

    def watch(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge whose value `read` gives when /metrics is scraped."""
        Gauge(name, documentation, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)
