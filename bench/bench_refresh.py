"""Benchmark: how fast the TagMango client reads a many-page list behind a slow upstream.

The simulator adds `latency` seconds to every request. Read one page at a time, 20
pages cost 20 × latency; the client fetches page 1, then keeps `concurrency` pages in flight,
so the floor is `latency × (1 + ceil((pages - 1) / concurrency))`. The result reports
the measured time against that floor (target ratio ≤ 1.3).

    python -m bench.bench_refresh [--pages 20] [--page-size 100] [--latency 0.1]
                                  [--concurrency 4] [--repeats 3] [--in-process] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bridge.simulator.server import start_server
from bridge.simulator.tagmango import DEMO_HOST, DEMO_KEY, SimCall, TagMangoSimulator
from bridge.upstream.http import RateBudget, UpstreamHTTP
from bridge.upstream.tagmango import TagMangoClient, TagMangoConfig

TARGET_RATIO = 1.3
NOW = datetime(2026, 2, 10, 12, tzinfo=UTC)


def synthetic_calls(count: int, now: datetime = NOW) -> list[SimCall]:
    """`count` one-hour calls spread over the next 180 days."""
    step = timedelta(days=180) / max(count, 1)
    return [
        SimCall(f"{i:024x}", f"Bench call {i}", now + step * i, now + step * i + timedelta(hours=1))
        for i in range(count)
    ]


class _CountingTransport(httpx.BaseTransport):
    """Counts the requests the client sends (the simulator's log lives in another process)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.count = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.count += 1
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def _serve(calls: int, latency: float, ports: Any, stop: Any, now: datetime = NOW) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = start_server(TagMangoSimulator(synthetic_calls(calls, now), latency=latency))
    ports.put(server.port)
    stop.wait()
    server.stop()


@contextmanager
def simulator(
    calls: int, latency: float, in_process: bool = False, now: datetime = NOW
) -> Iterator[str]:
    """The base URL of a simulator holding `calls` calls from `now` on, served in a child
    process unless `in_process` (bench.bench_serve uses it as the feed's upstream)."""
    if in_process:
        server = start_server(TagMangoSimulator(synthetic_calls(calls, now), latency=latency))
        try:
            yield server.url
        finally:
            server.stop()
        return
    context = multiprocessing.get_context("spawn")  # no fork of a threaded process
    ports, stop = context.Queue(), context.Event()
    child = context.Process(target=_serve, args=(calls, latency, ports, stop, now), daemon=True)
    child.start()
    try:
        yield f"http://127.0.0.1:{ports.get(timeout=60)}"
    finally:
        stop.set()
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()


def run(
    *,
    pages: int = 20,
    page_size: int = 100,
    latency: float = 0.1,
    concurrency: int = 4,
    repeats: int = 3,
    in_process: bool = False,
) -> dict[str, Any]:
    """Read `pages` × `page_size` calls `repeats` times; report the best time and its ratio.

    The simulator runs in a child process, as a real upstream is elsewhere, so its CPU
    time does not compete with the client's for the GIL (`in_process` is for quick checks).
    """
    calls = pages * page_size
    timings: list[float] = []
    requests_per_read = 0
    transport = _CountingTransport()
    with (
        simulator(calls, latency, in_process) as api_base,
        UpstreamHTTP("bench", budget=RateBudget(120, 10.0), transport=transport) as http,
    ):
        config = TagMangoConfig(
            "bench",
            DEMO_KEY,
            DEMO_HOST,
            api_base=api_base,
            page_size=page_size,
            concurrency=concurrency,
            max_pages=pages + 10,
        )
        client = TagMangoClient(config, http=http, now=lambda: NOW)
        for _ in range(repeats):
            before = transport.count
            began = time.perf_counter()
            result = client.fetch(NOW - timedelta(days=1), NOW + timedelta(days=200))
            timings.append(time.perf_counter() - began)
            requests_per_read = transport.count - before
            if len(result.sessions) != calls:
                raise AssertionError(f"read {len(result.sessions)} calls, not {calls}")
    best = min(timings)
    floor = latency * (1 + math.ceil((pages - 1) / concurrency))
    ratio = best / floor if floor else float("nan")
    return {
        "pages": pages,
        "page_size": page_size,
        "calls": calls,
        "latency_s": latency,
        "concurrency": concurrency,
        "requests_per_read": requests_per_read,
        "best_s": round(best, 4),
        "all_s": [round(t, 4) for t in timings],
        "serial_s": round(latency * pages, 4),
        "lower_bound_s": round(floor, 4),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "ok": ratio <= TARGET_RATIO,
        "simulator": "in-process" if in_process else "child process",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--in-process", action="store_true", help="simulator in this process")
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    result = run(
        pages=args.pages,
        page_size=args.page_size,
        latency=args.latency,
        concurrency=args.concurrency,
        repeats=args.repeats,
        in_process=args.in_process,
    )
    if args.json:
        print(json.dumps(result))
    else:
        ms = {key: round(result[key] * 1000) for key in ("latency_s", "best_s", "serial_s")}
        floor_ms = round(result["lower_bound_s"] * 1000)
        print(
            f"TagMango refresh: {result['calls']} calls in {result['pages']} pages, "
            f"{ms['latency_s']} ms latency, concurrency {result['concurrency']}: "
            f"best {ms['best_s']} ms over {result['requests_per_read']} requests "
            f"(serial {ms['serial_s']} ms, floor {floor_ms} ms), ratio {result['ratio']} "
            f"(target <= {TARGET_RATIO}): {'OK' if result['ok'] else 'SLOW'}"
        )
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
