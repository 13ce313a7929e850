"""The refresh engine's rows of the suite: outage, instances, partitions, participants,
worker-memory, webhook, and the CalDAV sync built on it (caldav-sync).

Each `run_<part>(sizes)` runs its bench module at the sizes given and returns (raw result,
table rows), like the other parts in bench.suite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench import (
    bench_caldav,
    bench_instances,
    bench_outage,
    bench_participants,
    bench_partitions,
    bench_webhook,
    bench_worker_memory,
)
from bench.rows import Row, checked_row, status_of

if TYPE_CHECKING:
    from bench.suite import Sizes


def _skipped(part: str, result: dict[str, Any], target: str) -> list[Row]:
    return [Row(part, "–", "–", None, target, "skipped", result["skipped"])]


def run_outage(sizes: Sizes) -> tuple[dict[str, Any], list[Row]]:
    result = bench_outage.run(
        feeds=sizes.outage_feeds, seconds=sizes.outage_seconds, slices=sizes.outage_slices
    )
    healthy, outage = result["healthy"], result["outage"]
    statuses = ", ".join(f"{n} × {code}" for code, n in outage["statuses"].items())
    return result, [
        checked_row(
            "outage",
            f"upstream hanging ({result['upstream_requests_held']} requests held): TTFB p99 "
            f"{outage['ttfb_p99_ms']:.1f} ms, {statuses}",
            f"upstream healthy: TTFB p99 {healthy['ttfb_p99_ms']:.1f} ms",
            result,
            f"≤ {bench_outage.TARGET_RATIO}",
        )
    ]


def run_instances(sizes: Sizes) -> tuple[dict[str, Any], list[Row]]:
    target = f"≤ {bench_instances.TARGET_RATIO}"
    result = bench_instances.run(feeds=sizes.instances_feeds, seconds=sizes.instances_seconds)
    if "skipped" in result:
        return result, _skipped("instances", result, target)
    one, many = result["one"], result["many"]
    gaps = {
        key: "–" if run["shortest_gap_s"] is None else f"{run['shortest_gap_s']} s"
        for key, run in (("one", one), ("many", many))
    }
    return result, [
        checked_row(
            "instances",
            f"{result['layout']}: {many['upstream_requests']} upstream requests in "
            f"{result['seconds']:.0f} s",
            f"1 × calbridge serve: {one['upstream_requests']}",
            result,
            target,
            f"{result['feeds']} feeds, TTL {result['ttl_s']} s; shortest gap between two reads "
            f"of a partition: {gaps['many']} ({many['processes']} processes), {gaps['one']} (1)",
        )
    ]


def run_partitions(sizes: Sizes) -> tuple[dict[str, Any], list[Row]]:
    target = f"≤ {bench_partitions.TARGET_RATIO}; 0 × 429"
    result = bench_partitions.run(sizes.partitions)
    if "skipped" in result:
        return result, _skipped("partitions", result, target)
    return result, [
        checked_row(
            "partitions",
            f"{result['partitions']:,} partitions, one key: {result['seconds']:.1f} s, "
            f"{result['too_many_requests']} × 429",
            f"{result['partitions']:,} / 12 req/s: {result['reference_seconds']:.1f} s",
            result,
            target,
            f"{result['workers']}; busiest 10 s: {result['busiest_10s_window']} requests",
        )
    ]


def run_participants(sizes: Sizes) -> tuple[dict[str, Any], list[Row]]:
    target = f"≤ {bench_participants.TARGET_RATIO}; 0 × 429"
    result = bench_participants.run(sizes.participants)
    if "skipped" in result:
        return result, _skipped("participants", result, target)
    webhook = result["webhook"]
    return result, [
        checked_row(
            "participants",
            f"{result['participants']:,} participant feeds up to date: {result['seconds']:.1f} s, "
            f"{result['upstream_requests']:,} requests, {result['too_many_requests']} × 429",
            f"fewest requests ({result['fewest_requests']:,}) / 12 req/s: "
            f"{result['floor_seconds']:.1f} s",
            result,
            target,
            f"requests / fewest {result['request_ratio']}; a webhook for a mango reached its "
            f"holders in {webhook['seconds']} s with {webhook['jobs_queued_at_delivery']:,} "
            f"jobs queued (target ≤ {webhook['target_seconds']:.0f} s: "
            f"{'met' if webhook['ok'] else 'MISSED'})",
        )
    ]


def run_worker_memory(sizes: Sizes) -> tuple[dict[str, Any], list[Row]]:
    result = bench_worker_memory.run(sizes.worker_memory_feeds, sizes.worker_memory_first)
    return result, [
        checked_row(
            "worker-memory",
            f"after {result['feeds']:,} distinct feeds: {result['rss_all_mb']:.0f} MB RSS",
            f"after {result['first']:,}: {result['rss_first_mb']:.0f} MB",
            result,
            f"≤ {bench_worker_memory.TARGET_RATIO}",
        )
    ]


def run_webhook(sizes: Sizes) -> tuple[dict[str, Any], list[Row]]:
    result = bench_webhook.run(rounds=sizes.webhook_rounds)
    return result, [
        Row(
            "webhook",
            f"webhook → feed changed, TTL 1 h: p99 {result['p99_s']:.2f} s over "
            f"{result['rounds']} changes (median {result['median_s']:.2f} s)",
            "without the webhook: the TTL, 3600 s",
            None,
            f"≤ {bench_webhook.TARGET_SECONDS:.0f} s",
            status_of(result["ok"]),
        )
    ]


def run_caldav(sizes: Sizes) -> tuple[dict[str, Any], list[Row]]:
    result = bench_caldav.run(events=sizes.caldav_events, rounds=sizes.caldav_rounds)
    events = f"{result['events']:,}"
    return result, [
        Row(
            "caldav-sync",
            f"sync after 1 change of {events} events: {result['incremental_bytes']:,} B, "
            f"{result['incremental_ms']:.1f} ms; bytes {result['bytes_ratio']:.4f}, "
            f"time {result['time_ratio']:.3f} (two round trips: "
            f"{result['two_trips_time_ratio']:.3f})",
            f"full .ics GET and read: {result['full_bytes']:,} B, {result['full_ms']:.0f} ms",
            max(result["bytes_ratio"], result["time_ratio"]),
            f"≤ {bench_caldav.TARGET}",
            status_of(result["ok"]),
        )
    ]
