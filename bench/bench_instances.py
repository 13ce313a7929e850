"""Benchmark: upstream requests made by several calbridge processes, against one process.

The same installation twice, each time on a fresh PostgreSQL database with a Redis job queue
(the PostgreSQL queue when Redis is unreachable), a TTL of 2 s and `feeds` participant feeds
of one TagMango source pointing at the simulator:

- reference: one `calbridge serve` (one web process that also runs the refresh jobs);
- measured: four processes: by default 4 × `calbridge serve`, each with its own port and its
  own job threads and scheduler (`--layout split`: 2 × `calbridge serve --no-worker` and
  2 × `calbridge worker`).

Once every feed has data, subscribers (bench.poller, in a separate process) GET every feed at
the same steady rate through all the web processes in turn for `seconds`; the simulator
counts the upstream requests that arrive meanwhile. Figure: requests with four processes ÷
requests with one (target ≤ 1.05). Reported too: the shortest gap between two reads of one
partition (never below the TTL's 0.9 that `fetched_recently` allows).

    python -m bench.bench_instances [--feeds 6] [--seconds 24] [--rate 20] [--layout serve]
"""

from __future__ import annotations

import argparse
import itertools
import json
import secrets
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from bench.bench_outage import wait_for_feeds
from bench.databases import fresh_postgres
from bench.loadtools import free_port
from bench.poller import poll_in_subprocess
from bench.processes import (
    NEEDS_POSTGRES,
    Arrival,
    installation,
    participant_calls,
    postgres_server_url,
    redis_queue,
    upstream,
)

TARGET_RATIO = 1.05
TTL = 2
LAYOUTS = ("serve", "split")


def _start(bridge: Any, processes: int, layout: str) -> list[int]:
    """Start the processes; the ports of the web processes."""
    if processes == 1:
        bridge.serve("--workers", "1", "--threads", "8")
        return [bridge.port]
    if layout == "serve":
        ports = [bridge.port, *(free_port() for _ in range(processes - 1))]
        running = [bridge.serve("--workers", "1", port=port, wait=False) for port in ports]
    else:
        webs = processes // 2
        ports = [bridge.port, *(free_port() for _ in range(webs - 1))]
        running = [bridge.serve("--no-worker", port=port, wait=False) for port in ports]
        for _ in range(processes - webs):
            bridge.worker(4)
    for serve in running:
        serve.wait_healthy()
    return ports


def _first_pages(arrivals: list[Arrival]) -> dict[str | None, list[float]]:
    """When each partition (its `user` filter) was read: the arrivals of its page 1."""
    reads: dict[str | None, list[float]] = defaultdict(list)
    for arrival in arrivals:
        if arrival.page == "1":
            reads[arrival.user].append(arrival.at)
    return reads


def measure(
    server: str, processes: int, *, feeds: int, seconds: float, rate: float, layout: str
) -> dict[str, Any]:
    """Upstream requests of one installation with `processes` processes under the same load."""
    api_key = f"bench-{secrets.token_hex(8)}"
    users = [f"participant-{number}" for number in range(feeds)]
    with (
        fresh_postgres(server) as database_url,
        redis_queue() as redis_url,
        upstream(participant_calls(users, datetime.now(UTC), per_user=3), api_key) as api,
        installation(
            "calbridge-bench-instances-", database_url, redis_url or database_url, TTL
        ) as bridge,
    ):
        source_id = bridge.add_source(api.url, api_key)
        urls = bridge.create_feeds(source_id, list(users))
        ports = _start(bridge, processes, layout)
        wait_for_feeds(urls)
        subscribed = [
            url.replace(f":{bridge.port}/", f":{port}/") for url in urls for port in ports
        ]
        started = time.time()
        polled = poll_in_subprocess(subscribed, seconds=seconds, rate=rate)
        arrivals = [a for a in api.arrivals(since=started) if a.at < started + polled.seconds]
    reads = _first_pages(arrivals)
    gaps = [b - a for times in reads.values() for a, b in itertools.pairwise(times)]
    return {
        "processes": processes,
        "queue": "redis" if redis_url else "postgresql",
        "web_ports": len(ports),
        "subscriber_gets": polled.to_json(),
        "upstream_requests": len(arrivals),
        "too_many_requests": sum(a.status == 429 for a in arrivals),
        "reads_per_partition": sorted(len(times) for times in reads.values()),
        "shortest_gap_s": round(min(gaps), 2) if gaps else None,
    }


def run(
    *,
    feeds: int = 6,
    seconds: float = 24.0,
    rate: float = 20.0,
    processes: int = 4,
    layout: str = "serve",
) -> dict[str, Any]:
    """One process, then `processes`, under the same load; see the module docstring."""
    server = postgres_server_url()
    if server is None:
        return {"skipped": NEEDS_POSTGRES}
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    options = {"feeds": feeds, "seconds": seconds, "rate": rate, "layout": layout}
    one = measure(server, 1, **options)
    many = measure(server, processes, **options)
    # No request at all in the reference window (a tiny window on a starved machine) leaves
    # nothing to compare with: no ratio, and the row fails.
    ratio = (
        many["upstream_requests"] / one["upstream_requests"] if one["upstream_requests"] else None
    )
    described = (
        f"{processes} × calbridge serve"
        if layout == "serve"
        else f"{processes // 2} × calbridge serve --no-worker + "
        f"{processes - processes // 2} × calbridge worker"
    )
    return {
        "feeds": feeds,
        "ttl_s": TTL,
        "seconds": seconds,
        "subscriber_rate": rate,
        "layout": described,
        "one": one,
        "many": many,
        "ratio": None if ratio is None else round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "ok": ratio is not None and ratio <= TARGET_RATIO and many["too_many_requests"] == 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--feeds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=24.0)
    parser.add_argument("--rate", type=float, default=20.0, help="subscriber GETs per second")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--layout", choices=LAYOUTS, default="serve")
    args = parser.parse_args(argv)
    result = run(
        feeds=args.feeds,
        seconds=args.seconds,
        rate=args.rate,
        processes=args.processes,
        layout=args.layout,
    )
    print(json.dumps(result, indent=2))
    return 0 if result.get("ok", True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
