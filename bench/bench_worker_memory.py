"""Benchmark: memory of one web process after serving many distinct feeds, against a few.

10,000 feeds on one TagMango source (all reading one partition, fetched once beforehand in the
bench process, so the web process never fetches) are served by `calbridge serve --no-worker
--workers 1` (SQLite). Subscribers (bench.poller, a separate process) GET 100 distinct feeds,
then the resident set size of the gunicorn worker (VmRSS of the master's child) is read; then
they GET the other 9,900, each once, and it is read again. Figure: RSS after 10,000 distinct
feeds ÷ RSS after 100 (target ≤ 1.5). The render cache is an LRU bounded in bytes and the
fetch-state cache is bounded in entries, so the process should stop growing.

    python -m bench.bench_worker_memory [--feeds 10000] [--first 100] [--events 50]
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from bench.poller import poll_in_subprocess
from bench.processes import installation, rss_kib, shared_calls, upstream
from bridge.partitions import Partition

TARGET_RATIO = 1.5


def run(feeds: int = 10_000, first: int = 100, events: int = 50) -> dict[str, Any]:
    """RSS after `first` distinct feeds and after `feeds`; see the module docstring."""
    api_key = f"bench-{secrets.token_hex(8)}"
    with (
        upstream(shared_calls(events, datetime.now(UTC)), api_key) as api,
        installation("calbridge-bench-memory-", cache_ttl=3600) as bridge,
    ):
        services = bridge.services(immediate_jobs=True)
        source_id = bridge.add_source(api.url, api_key)
        setup_started = time.monotonic()
        urls = bridge.create_feeds(source_id, [None] * feeds)
        services.refreshes.request(Partition(source_id), force=True)  # runs the fetch here
        if services.store.fetch_state(Partition(source_id)).last_success_at is None:
            raise RuntimeError(f"the partition's fetch failed:\n{bridge.logs()}")
        setup_seconds = time.monotonic() - setup_started
        server = bridge.serve("--no-worker", "--workers", "1", "--threads", "8")
        (worker,) = server.worker_pids()
        started_kib = rss_kib(worker)
        few = poll_in_subprocess(urls[:first], seconds=0, rate=0, once=True)
        few_kib = rss_kib(worker)
        rest = poll_in_subprocess(urls[first:], seconds=0, rate=0, once=True)
        all_kib = rss_kib(worker)
    statuses = few.statuses + rest.statuses
    ratio = all_kib / few_kib
    answers_ok = set(statuses) == {200} and not (few.errors or rest.errors)
    return {
        "feeds": feeds,
        "first": first,
        "events_per_feed": events,
        "setup_seconds": round(setup_seconds, 1),
        "server": "calbridge serve --no-worker --workers 1 --threads 8, SQLite",
        "rss_started_mb": round(started_kib / 1024, 1),
        "rss_first_mb": round(few_kib / 1024, 1),
        "rss_all_mb": round(all_kib / 1024, 1),
        "gets": sum(statuses.values()),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "seconds_serving_rest": round(rest.seconds, 1),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "answers_ok": answers_ok,
        "ok": ratio <= TARGET_RATIO and answers_ok,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--first", type=int, default=100)
    parser.add_argument("--events", type=int, default=50, help="calls on the source")
    args = parser.parse_args(argv)
    result = run(args.feeds, args.first, args.events)
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
