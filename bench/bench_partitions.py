"""Benchmark: refreshing many partitions of one TagMango key at the rate its budget allows.

10,000 participant feeds (distinct `user` filters) on one TagMango source are 10,000
partitions, each one upstream query answered with one page by the simulator, which enforces
TagMango's 120 requests / 10 s per key with 429s. The feeds are created directly through the
store (their partitions registered, due at once) on a fresh PostgreSQL database with a Redis
job queue (or the PostgreSQL queue when Redis is unreachable); then `calbridge worker`
processes start and refresh them all. Measured: the wall time from the workers' launch until
every partition has a successful fetch (`fetch_states.last_success_at`), against 10,000 /
12 requests per second (target ratio ≤ 1.2), and the 429s the simulator answered (target 0).

calbridge's own budget is 108 requests / 10 s (10.8 per second, below TagMango's 120), so the
ratio cannot go below 12 / 10.8 ≈ 1.11 at full size, where the first window's burst of 108
hardly counts; at small sizes (`--partitions 60`) the burst covers everything and the ratio
says little.

By default each participant's query is answered with one empty page (no calls), which the
client reads in one request. `--calls N` gives every participant N calls: a short page whose
`total` agrees ends the read (`plan_next_round`), so that is one request too. The
`participants` part (bench.bench_participants) measures the whole path: a roster sync, group
calls shared through the mangoes' partitions, and pages counted from the data.

    python -m bench.bench_partitions [--partitions 10000] [--workers 2] [--threads 8] [--calls 0]
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from bench.databases import fresh_postgres
from bench.processes import (
    NEEDS_POSTGRES,
    installation,
    participant_calls,
    postgres_server_url,
    redis_queue,
    upstream,
)
from bridge.store.tables import FetchStateTable

TARGET_RATIO = 1.2
REFERENCE_RATE = 12.0  # requests per second the reference assumes
PROGRESS_EVERY = 1.0


def partitions_fetched(store: Any) -> tuple[int, datetime | None]:
    """(partitions with a good fetch, the latest good fetch)."""
    with store._read() as db:
        done, latest = db.execute(
            select(
                func.count(FetchStateTable.last_success_at),
                func.max(FetchStateTable.last_success_at),
            )
        ).one()
    if latest is not None and latest.tzinfo is None:
        latest = latest.replace(tzinfo=UTC)
    return int(done), latest


def run(
    partitions: int = 10_000,
    *,
    workers: int = 2,
    threads: int = 8,
    calls: int = 0,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Refresh `partitions` participant partitions with `workers` × `threads`; see the module."""
    server = postgres_server_url()
    if server is None:
        return {"skipped": NEEDS_POSTGRES}
    reference = partitions / REFERENCE_RATE
    timeout = timeout or max(60.0, 3 * reference)
    api_key = f"bench-{secrets.token_hex(8)}"
    users = [f"participant-{number:05d}" for number in range(partitions)]
    now = datetime.now(UTC)
    with (
        fresh_postgres(server) as database_url,
        redis_queue() as redis_url,
        upstream(participant_calls(users, now, calls), api_key) as api,
        installation(
            "calbridge-bench-partitions-", database_url, redis_url or database_url
        ) as bridge,
    ):
        source_id = bridge.add_source(api.url, api_key)
        setup_started = time.monotonic()
        bridge.create_feeds(source_id, list(users))
        setup_seconds = time.monotonic() - setup_started
        store = bridge.services().store
        started = time.time()
        for _ in range(workers):
            bridge.worker(threads)
        done, latest = 0, None
        while time.time() - started < timeout:
            time.sleep(PROGRESS_EVERY)
            done, latest = partitions_fetched(store)
            if done >= partitions:
                break
            if any(process.poll() is not None for process in bridge.processes):
                raise RuntimeError(f"a worker exited:\n{bridge.logs()[-4000:]}")
        arrivals = api.arrivals()
    if done < partitions or latest is None:
        raise RuntimeError(f"only {done} of {partitions} partitions fetched in {timeout:.0f} s")
    elapsed = latest.timestamp() - started
    first = min(arrival.at for arrival in arrivals)
    too_many = sum(arrival.status == 429 for arrival in arrivals)
    ratio = elapsed / reference
    busiest = busiest_window(sorted(a.at for a in arrivals if a.status != 429))
    return {
        "partitions": partitions,
        "calls_per_participant": calls,
        "workers": f"{workers} × calbridge worker --threads {threads}",
        "queue": "redis" if redis_url else "postgresql",
        "setup_seconds": round(setup_seconds, 1),
        "seconds": round(elapsed, 1),
        "seconds_from_first_request": round(latest.timestamp() - first, 1),
        "reference_seconds": round(reference, 1),
        "upstream_requests": len(arrivals),
        "too_many_requests": too_many,
        "busiest_10s_window": busiest,
        "requests_per_second": round(len(arrivals) / elapsed, 2),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "ok": ratio <= TARGET_RATIO and too_many == 0,
    }


def busiest_window(stamps: list[float], period: float = 10.0) -> int:
    """The most requests answered in any `period` seconds (TagMango allows 120)."""
    busiest, first = 0, 0
    for last, stamp in enumerate(stamps):
        while stamp - stamps[first] >= period:
            first += 1
        busiest = max(busiest, last - first + 1)
    return busiest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--partitions", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--calls", type=int, default=0, help="calls per participant")
    args = parser.parse_args(argv)
    result = run(args.partitions, workers=args.workers, threads=args.threads, calls=args.calls)
    print(json.dumps(result, indent=2))
    return 0 if result.get("ok", True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
