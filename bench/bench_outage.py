"""Benchmark: feed latency while the upstream hangs, against the same while it is healthy.

One `calbridge serve` (gunicorn, one web process running the refresh jobs, SQLite, the
embedded queue) with a TTL of 2 s, so refreshes keep being attempted, serves a few
participant feeds of a TagMango source that points at the simulator on loopback. Subscribers
in a separate process (bench.poller) GET the feeds at a steady rate and time each answer to
its first byte. Phases alternate, healthy then outage, `slices` times each: during an outage
every upstream request hangs (held 45 s, longer than calbridge's 30 s read timeout), so every
refresh job blocks in the upstream; each outage slice starts once the TTL has passed and
refreshes are hanging. Figure: TTFB p99 during the outage ÷ TTFB p99 while healthy (target
≤ 1.5), with every answer a 200 from the archive.

    python -m bench.bench_outage [--feeds 4] [--seconds 20] [--rate 40] [--slices 4]
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.poller import PollResult, poll_in_subprocess
from bench.processes import installation, participant_calls, upstream

TARGET_RATIO = 1.5
TTL = 2
SETTLE_SECONDS = TTL + 1.5  # after a switch: refreshes have started (and hang) or recovered


def wait_for_feeds(urls: list[str], timeout: float = 60.0) -> None:
    """Until every feed answers 200 (its first fetch landed)."""
    deadline = time.monotonic() + timeout
    for url in urls:
        while httpx.get(url, timeout=30).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} had no data within {timeout:.0f} s")
            time.sleep(0.2)


def _merge(results: list[PollResult]) -> PollResult:
    merged = PollResult()
    for result in results:
        merged.ttfb_ms.extend(result.ttfb_ms)
        merged.statuses.update(result.statuses)
        merged.errors += result.errors
        merged.seconds += result.seconds
    return merged


def run(
    *, feeds: int = 4, seconds: float = 20.0, rate: float = 40.0, slices: int = 4
) -> dict[str, Any]:
    """Measure TTFB p99 healthy and during a hanging upstream; see the module docstring."""
    api_key = f"bench-{secrets.token_hex(8)}"
    users = [f"participant-{number}" for number in range(feeds)]
    slice_seconds = seconds / slices
    healthy: list[PollResult] = []
    outage: list[PollResult] = []
    with (
        upstream(participant_calls(users, datetime.now(UTC), per_user=5), api_key) as api,
        installation("calbridge-bench-outage-", cache_ttl=TTL) as bridge,
    ):
        source_id = bridge.add_source(api.url, api_key)
        urls = bridge.create_feeds(source_id, list(users))
        bridge.serve("--workers", "1", "--threads", "8")
        wait_for_feeds(urls)
        poll_in_subprocess(urls, seconds=1, rate=rate)  # warm every render
        try:
            for _ in range(slices):
                healthy.append(poll_in_subprocess(urls, seconds=slice_seconds, rate=rate))
                api.start_outage()
                time.sleep(SETTLE_SECONDS)
                outage.append(poll_in_subprocess(urls, seconds=slice_seconds, rate=rate))
                api.end_outage()
                if len(outage) < slices:
                    time.sleep(SETTLE_SECONDS)  # the held refreshes end, the data is fresh
        finally:
            api.end_outage()
        held = api.held
    well, hanging = _merge(healthy), _merge(outage)
    well_p99, hang_p99 = well.percentile(0.99), hanging.percentile(0.99)
    if not well_p99 or hang_p99 is None:
        raise RuntimeError("the poller timed no answers")
    ratio = hang_p99 / well_p99
    answers_ok = set(well.statuses) == {200} == set(hanging.statuses) and not (
        well.errors or hanging.errors
    )
    return {
        "feeds": feeds,
        "ttl_s": TTL,
        "server": "calbridge serve --workers 1 --threads 8 (jobs in the web process), SQLite",
        "load": f"{rate:.0f} GETs/s from bench.poller, 4 connections, {slices} slices per phase",
        "healthy": well.to_json(),
        "outage": hanging.to_json(),
        "upstream_requests_held": held,
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "answers_ok": answers_ok,
        "ok": ratio <= TARGET_RATIO and answers_ok and held > 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--feeds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0, help="of load per phase")
    parser.add_argument("--rate", type=float, default=40.0, help="GETs per second")
    parser.add_argument("--slices", type=int, default=4, help="healthy/outage alternations")
    args = parser.parse_args(argv)
    result = run(feeds=args.feeds, seconds=args.seconds, rate=args.rate, slices=args.slices)
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
