"""Benchmark: 10,000 participant feeds on one TagMango key brought up to date, and a webhook
reaching every holder of a mango while that work is under way.

The simulator holds subscribers over its two mangoes (every third in both, one in twelve
expired: `seed_subscribers`), as many as give `participants` active ones; its seeded calls
(group calls of each mango, series, 1:1 calls) and a 1:1 call for every tenth subscriber.
With `calbridge worker` processes running, `participants sync` (in the bench process, as the
CLI runs it) reads the subscriber list and creates one feed per active participant. Each
feed reads its participant's own query and the shared partitions of the mangoes they hold
(bridge/partitions.py); all are due at once.

Measured, on a fresh PostgreSQL database with a Redis job queue (or the PostgreSQL queue):
- seconds: from the sync's start until every partition has a good fetch;
- the floor: the fewest requests this needs at the 12 requests per second TagMango allows.
  Each partition needs one page per 100 calls its query lists (at least one), counted from
  the simulator's data, plus the subscriber list's pages. ratio = seconds / floor, target
  ≤ 1.2; calbridge's own budget is 10.8 per second, so it cannot go below about 1.11;
- upstream requests against that fewest (`request_ratio`), and the 429s the simulator
  answered (target 0);
- webhook: when half the partitions are fetched, a group call of the first mango moves and a
  delivery naming that mango is handled (`bridge.webhooks.handle_delivery`, what the web
  process runs). The seconds until the mango's partition holds the move, which is when every
  holder's feed shows it, with thousands of participants' reads still queued.

    python -m bench.bench_participants [--participants 10000] [--workers 2] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.bench_partitions import REFERENCE_RATE, TARGET_RATIO, busiest_window, partitions_fetched
from bench.databases import fresh_postgres
from bench.processes import (
    NEEDS_POSTGRES,
    Installation,
    Upstream,
    installation,
    postgres_server_url,
    redis_queue,
    upstream,
)
from bridge.jobs.schedule import RECENT_PAST
from bridge.participants.sync import sync_participants
from bridge.partitions import Partition
from bridge.simulator.tagmango import SimCall
from bridge.simulator.tagmango_data import MANGOES
from bridge.simulator.tagmango_roster import ROSTER_PREFIX, seed_subscribers
from bridge.simulator.tagmango_seed import seed_calls
from bridge.webhooks import handle_delivery

PROGRESS_EVERY = 1.0
PAGE_SIZE = 100  # the TagMango client's `limit`
HORIZON_DAYS = 180  # participant feeds' horizon (bridge.participants.sync)
WEBHOOK_TARGET_SECONDS = 10.0
WEBHOOK_POLL = 0.05


def run(
    participants: int = 10_000,
    *,
    workers: int = 2,
    threads: int = 8,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Provision and refresh `participants` participant feeds; see the module."""
    server = postgres_server_url()
    if server is None:
        return {"skipped": NEEDS_POSTGRES}
    timeout = timeout or max(120.0, 3 * participants / REFERENCE_RATE)
    api_key = f"bench-{secrets.token_hex(8)}"
    now = datetime.now(UTC)
    subscriptions = seed_subscribers(now, _subscribers_for(participants))
    calls = seed_calls(now) + _one_to_one_calls(sorted({s.user_id for s in subscriptions}), now)
    with (
        fresh_postgres(server) as database_url,
        redis_queue() as redis_url,
        upstream(calls, api_key, subscriptions=subscriptions) as api,
        installation(
            "calbridge-bench-participants-", database_url, redis_url or database_url
        ) as bridge,
    ):
        source_id = bridge.add_source(api.url, api_key)
        for _ in range(workers):
            bridge.worker(threads)
        started = time.time()
        report = sync_participants(bridge.services(), "bench")
        sync_seconds = time.time() - started
        partitions = len(bridge.services().store.source_partitions(source_id))
        done, latest, webhook = 0, None, None
        while time.time() - started < timeout:
            time.sleep(PROGRESS_EVERY)
            done, latest = partitions_fetched(bridge.services().store)
            if webhook is None and done >= partitions // 2:
                webhook = _webhook_round(bridge, api, source_id, now)
            if done >= partitions:
                break
            if any(process.poll() is not None for process in bridge.processes):
                raise RuntimeError(f"a worker exited:\n{bridge.logs()[-4000:]}")
        arrivals = api.arrivals()
        needed = _requests_needed(api, bridge.services().store.source_partitions(source_id), now)
    if done < partitions or latest is None or webhook is None:
        raise RuntimeError(f"only {done} of {partitions} partitions fetched in {timeout:.0f} s")
    elapsed = latest.timestamp() - started
    roster_requests = sum(a.path.startswith(ROSTER_PREFIX) for a in arrivals)
    floor = (needed + roster_requests) / REFERENCE_RATE
    too_many = sum(arrival.status == 429 for arrival in arrivals)
    ratio = elapsed / floor
    return {
        "participants": len(report.created),
        "skipped_inactive": len(report.skipped),
        "partitions": partitions,
        "workers": f"{workers} × calbridge worker --threads {threads}",
        "queue": "redis" if redis_url else "postgresql",
        "sync_seconds": round(sync_seconds, 1),
        "seconds": round(elapsed, 1),
        "floor_seconds": round(floor, 1),
        "upstream_requests": len(arrivals),
        "fewest_requests": needed + roster_requests,
        "request_ratio": round(len(arrivals) / (needed + roster_requests), 3),
        "roster_requests": roster_requests,
        "too_many_requests": too_many,
        "busiest_10s_window": busiest_window(sorted(a.at for a in arrivals if a.status != 429)),
        "webhook": webhook,
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "ok": ratio <= TARGET_RATIO and too_many == 0,
    }


def _subscribers_for(participants: int) -> int:
    """How many subscribers to seed for `participants` active ones (one in twelve of the
    seeded subscribers has expired: seed_subscribers)."""
    count = participants
    while count - (count + 6) // 12 < participants:
        count += 1
    return count


def _requests_needed(api: Upstream, keys: list[tuple[int, str]], now: datetime) -> int:
    """The fewest requests that read every partition: one page per PAGE_SIZE calls its query
    lists in the window of a fetch (the simulator's own filter), at least one."""
    start, end = now - RECENT_PAST, now + timedelta(days=HORIZON_DAYS)
    simulator = api.simulator
    calls = [c for c in simulator.calls() if start <= c.start <= end]
    needed = 0
    for source_id, key in keys:
        partition = Partition.from_key(source_id, key)
        user = partition.user
        if user is None:
            listed = sum(c.mango_id in partition.mangoes for c in calls)
        else:
            listed = sum(simulator.lists_for_user(c, user) for c in calls)
        needed += max(1, math.ceil(listed / PAGE_SIZE))
    return needed


def _one_to_one_calls(users: list[str], now: datetime) -> list[SimCall]:
    """A one-hour 1:1 call for every tenth user, over the coming weeks."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    return [
        SimCall(
            f"{0xB0B0 + index:024x}",
            f"1:1 with {user}",
            hour + timedelta(hours=5 + index % 700),
            hour + timedelta(hours=6 + index % 700),
            participants=(user,),
            one_to_one=True,
        )
        for index, user in enumerate(users)
        if index % 10 == 0
    ]


def _webhook_round(
    bridge: Installation, api: Upstream, source_id: int, now: datetime
) -> dict[str, Any]:
    """Move a group call of the first mango, deliver the webhook, time the move's arrival."""
    services = bridge.services()
    mango = MANGOES[0].id
    call = next(
        c
        for c in api.simulator.calls()
        if c.mango_id == mango
        and c.start > now + timedelta(days=2)
        and not (c.group_id or c.one_to_one)
        and c.status == "available"
    )
    moved = call.start + timedelta(minutes=30)
    api.simulator.update_call(call.id, start=moved, end=call.end + timedelta(minutes=30))
    queued_before = services.queue.depth()
    delivered = time.time()
    body = {
        "name": "Bench attendee",
        "email": "attendee@example.org",
        "callList": [{"webinarId": call.id}],
        "mangoes": mango,
    }
    source = services.store.source(source_id)
    assert source is not None
    outcome = handle_delivery(services, source, json.dumps(body).encode(), "webinar.created.single")
    partition = Partition(source_id, None, (mango,))
    while time.time() - delivered < 120:
        window = (moved - timedelta(seconds=1), moved + timedelta(seconds=1))
        held = services.store.archived_sessions([partition], *window)
        if any(s.upstream_id == call.id and s.start == moved for s in held):
            break
        time.sleep(WEBHOOK_POLL)
    else:
        raise RuntimeError("the webhook's change did not reach the mango partition in 120 s")
    seconds = time.time() - delivered
    return {
        "outcome": outcome,
        "seconds": round(seconds, 2),
        "ok": seconds <= WEBHOOK_TARGET_SECONDS,
        "jobs_queued_at_delivery": queued_before,
        "target_seconds": WEBHOOK_TARGET_SECONDS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--participants",
        type=int,
        default=10_000,
        help="participant feeds to provision (active subscribers)",
    )
    parser.add_argument("--workers", type=int, default=2, help="calbridge worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    args = parser.parse_args(argv)
    result = run(args.participants, workers=args.workers, threads=args.threads)
    print(json.dumps(result, indent=2))
    return 0 if result.get("ok", True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
