"""Benchmark: a TagMango webhook → the feed's body changed, p99, with a one-hour TTL.

One `calbridge serve` (gunicorn, one web process running the refresh jobs, SQLite, the
embedded queue) with CALBRIDGE_CACHE_TTL=3600 serves the feed of a TagMango source whose
webhooks are registered with the simulator (`calbridge source webhooks --register` does the
same). Each round renames one upcoming call in the simulator, which delivers
`webinar.created.single` to calbridge at once; the bench polls the feed every 20 ms until the
new title is in it. Latency: from the change (the delivery leaves the simulator a few
milliseconds later) to the first answer carrying it. Figure: p99 over the rounds, target
≤ 5 s. Without the webhook the change would wait for the TTL: an hour.

    python -m bench.bench_webhook [--rounds 30]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.bench_outage import wait_for_feeds
from bench.processes import installation, shared_calls, upstream
from bridge import operations

TARGET_SECONDS = 5.0
TTL = 3600
POLL_EVERY = 0.02
GIVE_UP_AFTER = 30.0


def run(*, rounds: int = 30) -> dict[str, Any]:
    api_key = f"bench-{secrets.token_hex(8)}"
    calls = shared_calls(20, datetime.now(UTC))
    latencies: list[float] = []
    with (
        upstream(calls, api_key) as api,
        installation("calbridge-bench-webhook-", cache_ttl=TTL) as bridge,
    ):
        source_id = bridge.add_source(api.url, api_key)
        (url,) = bridge.create_feeds(source_id, [None])
        registered = list(operations.register_webhooks(bridge.services(), "bench").registered)
        bridge.serve("--workers", "1", "--threads", "8")
        wait_for_feeds([url])
        with httpx.Client(timeout=30) as client:
            for number in range(rounds):
                title = f"Renamed in round {number}"
                changed = time.monotonic()
                api.simulator.update_call(calls[number % len(calls)].id, title=title)
                while title.encode() not in client.get(url).content:
                    if time.monotonic() - changed > GIVE_UP_AFTER:
                        raise RuntimeError(f"round {number}: no change within {GIVE_UP_AFTER} s")
                    time.sleep(POLL_EVERY)
                latencies.append(time.monotonic() - changed)
        deliveries = len(api.simulator.webhooks.deliveries)
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "rounds": rounds,
        "ttl_s": TTL,
        "registered": registered,
        "deliveries": deliveries,
        "median_s": round(statistics.median(latencies), 3),
        "p99_s": round(p99, 3),
        "max_s": round(ordered[-1], 3),
        "target_s": TARGET_SECONDS,
        "ok": p99 <= TARGET_SECONDS and deliveries >= rounds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    result = run(rounds=args.rounds)
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
