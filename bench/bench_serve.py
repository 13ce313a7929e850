"""Benchmark: a cached feed served by calbridge under gunicorn, against nginx serving its bytes.

Sets calbridge up as an operator would: a database (SQLite file, or `--database-url`), a
TagMango source pointing at the simulator (in a child process) seeded with `--events` calls,
a feed on it, then `gunicorn -w 2 -k gthread --threads 8 wsgi:app` with CALBRIDGE_* variables.
After warming every worker's cache it loads the feed URL with wrk from a separate process
(`-t2 -c16`, `--seconds` each) three times:

- nginx serving the very same bytes as a static file (the machine's ceiling);
- calbridge, plain GETs (target: ≥ 0.3 × nginx's requests/s, 0 errors);
- calbridge, conditional GETs with the feed's ETag in If-None-Match, answered 304
  (target: ≥ 2 × the plain GETs' requests/s).

    python -m bench.bench_serve [--events 1000] [--seconds 20] [--database-url URL] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.bench_refresh import simulator
from bench.loadtools import (
    SETUP_HINT,
    LoadToolError,
    WrkResult,
    combine,
    free_port,
    missing_tools,
    nginx_serving,
    run_wrk,
    stop_process,
    tree_cpu_seconds,
    wait_for_port,
)
from bridge import operations
from bridge.app import create_app
from bridge.settings import Settings
from bridge.simulator.tagmango import DEMO_HOST, DEMO_KEY

SERVE_TARGET = 0.3  # calbridge req/s ≥ 0.3 × nginx req/s for the same bytes
CONDITIONAL_TARGET = 2.0  # 304 req/s ≥ 2 × plain GET req/s
SLICES = 10  # interleaved load slices per URL
REPO_ROOT = Path(__file__).resolve().parent.parent  # where wsgi.py is
SECRET_KEY = "bench-secret-key-0123456789abcdef"


def bridge_environment(directory: Path, port: int, database_url: str | None) -> dict[str, str]:
    """The CALBRIDGE_* variables of the benchmarked installation."""
    return {
        "CALBRIDGE_SECRET_KEY": SECRET_KEY,
        "CALBRIDGE_DATABASE_URL": database_url or f"sqlite:///{directory / 'calbridge.db'}",
        "CALBRIDGE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CALBRIDGE_INSTANCE_PATH": str(directory),
        # Long enough that no refetch or re-render happens during the measurement.
        "CALBRIDGE_CACHE_TTL": "3600",
    }


def create_feed(environment: dict[str, str], api_base: str) -> str:
    """Register the simulator as a TagMango source and create a feed on it; its .ics URL."""
    app = create_app(Settings.from_env(environment))
    services = app.extensions["calbridge"]
    try:
        operations.add_tagmango_source(
            services, name="bench", token=DEMO_KEY, whitelabel_host=DEMO_HOST, api_base=api_base
        )
        feed = operations.create_feed(
            services, name="Bench feed", sources=["bench"], timezone="Europe/Berlin"
        )
    finally:
        services.store.close()
    return feed.links.ics_url


@contextmanager
def gunicorn(
    app: str,
    environment: dict[str, str],
    port: int,
    log: Path,
    *,
    workers: int,
    threads: int,
) -> Iterator[subprocess.Popen[bytes]]:
    """`gunicorn -w W -k gthread --threads T <app>` on 127.0.0.1:port, stopped afterwards."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CALBRIDGE_")}
    env.update(environment)
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(REPO_ROOT),
        app,
    ]
    with log.open("ab") as log_file:
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=log_file)
        try:
            try:
                wait_for_port(port, process, timeout=60)
            except LoadToolError as error:
                raise LoadToolError(f"gunicorn did not start: {error}\n{log.read_text()}") from None
            yield process
        finally:
            stop_process(process)


def floor_etag(body: bytes) -> str:
    """The ETag bench.floor_app gives `body` (the same rule as calbridge's)."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def warm_up(url: str, seconds: float, max_rounds: int = 8) -> tuple[bytes, str, list[float]]:
    """Fetch the feed until it is served (the first request refreshes from the simulator),
    then load it in short wrk rounds until two rounds agree within 20 %: by then every
    worker has fetched and rendered the feed and no render is still running.
    Returns (body, ETag, requests/s of each round)."""
    deadline = time.monotonic() + 120
    while True:
        response = httpx.get(url, timeout=120)
        if response.status_code == 200:
            break
        if time.monotonic() > deadline:
            raise LoadToolError(f"the feed answered {response.status_code}: {response.text}")
        time.sleep(0.5)
    rounds: list[float] = []
    while len(rounds) < max_rounds:
        rounds.append(run_wrk(url, seconds=seconds, threads=2, connections=16).requests_per_second)
        if len(rounds) >= 2 and abs(rounds[-1] - rounds[-2]) <= 0.2 * max(rounds[-2:]):
            break
    again = httpx.get(url, timeout=60)
    if again.content != response.content or again.headers["etag"] != response.headers["etag"]:
        raise LoadToolError("the feed changed between two requests; the cache is not warm")
    return response.content, response.headers["etag"], [round(rate, 1) for rate in rounds]


@dataclass
class Target:
    """One URL under load: what wrk measured in each slice and the server's CPU time."""

    url: str
    server_pid: int
    headers: tuple[str, ...] = ()
    slices: list[WrkResult] = field(default_factory=list)
    cpu_seconds: float = 0.0

    def load(self, seconds: float, threads: int, connections: int) -> None:
        cpu_before = tree_cpu_seconds(self.server_pid)
        result = run_wrk(
            self.url,
            seconds=seconds,
            threads=threads,
            connections=connections,
            headers=self.headers,
        )
        self.cpu_seconds += tree_cpu_seconds(self.server_pid) - cpu_before
        self.slices.append(result)

    def summary(self) -> dict[str, Any]:
        total = combine(self.slices)
        return {
            **total.to_json(),
            "slices_rps": [round(r.requests_per_second, 1) for r in self.slices],
            "server_cpu_seconds": round(self.cpu_seconds, 2),
            "server_cpu_ms_per_request": round(1000 * self.cpu_seconds / total.requests, 3)
            if total.requests
            else None,
        }


def check_answers(summaries: dict[str, dict[str, Any]], body_bytes: int) -> None:
    """wrk counts 200s and 304s alike: make sure, from the bytes it read per response, that the
    plain GETs got the whole feed and the conditional GETs got bodiless 304s throughout."""
    for name, summary in summaries.items():
        if not summary["requests"]:
            continue
        per_response = summary["transfer_bytes_per_second"] / summary["requests_per_second"]
        if name.endswith("_304") and per_response > 2048:
            raise LoadToolError(
                f"{name}: {per_response:.0f} bytes per response; the conditional GETs were "
                "not all answered 304 (did the feed change during the run?)"
            )
        if not name.endswith("_304") and per_response < 0.95 * body_bytes:
            raise LoadToolError(
                f"{name}: {per_response:.0f} bytes per response, less than the feed's "
                f"{body_bytes}; not every GET was answered with the feed"
            )


def run(
    *,
    events: int = 1000,
    seconds: float = 20.0,
    slices: int = SLICES,
    threads: int = 2,
    connections: int = 16,
    workers: int = 2,
    worker_threads: int = 8,
    warm_seconds: float = 2.0,
    database_url: str | None = None,
    floor: bool = True,
) -> dict[str, Any]:
    """Measure nginx, calbridge and calbridge-304 requests/s; or say why it was skipped.

    Each URL gets `seconds` of load in `slices` interleaved slices (nginx, calbridge, 304,
    nginx, ...), so a change in the machine's other load hits them alike. With `floor`, the
    same bytes served by a minimal WSGI app (bench.floor_app) under the same gunicorn
    settings are measured too, plain and 304: what any Python app under gunicorn can reach.
    """
    missing = missing_tools()
    if missing:
        return {"skipped": f"{' and '.join(missing)} not installed: {SETUP_HINT}"}
    slice_seconds = max(1, round(seconds / slices))
    first_call = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    with (
        tempfile.TemporaryDirectory(prefix="calbridge-bench-serve-") as temp,
        simulator(events, 0.0, now=first_call) as api_base,
    ):
        directory = Path(temp)
        port = free_port()
        environment = bridge_environment(directory, port, database_url)
        feed_url = create_feed(environment, api_base)
        options = {"workers": workers, "threads": worker_threads}
        with ExitStack() as running:
            server = running.enter_context(
                gunicorn("wsgi:app", environment, port, directory / "gunicorn.log", **options)
            )
            body, etag, warm_rounds = warm_up(feed_url, warm_seconds)
            conditional = httpx.get(feed_url, headers={"If-None-Match": etag}, timeout=60)
            if conditional.status_code != 304:
                raise LoadToolError(f"a conditional GET answered {conditional.status_code}")
            nginx = running.enter_context(nginx_serving({"feed.ics": body}))
            static_url = f"{nginx.url}/feed.ics"
            if httpx.get(static_url, timeout=60).content != body:
                raise LoadToolError("nginx does not serve the feed's bytes")
            targets = {
                "nginx": Target(static_url, nginx.pid),
                "calbridge": Target(feed_url, server.pid),
                "calbridge_304": Target(feed_url, server.pid, (f"If-None-Match: {etag}",)),
            }
            if floor:
                (directory / "feed.ics").write_bytes(body)
                floor_port = free_port()
                floor_env = {"CALBRIDGE_BENCH_FLOOR_FILE": str(directory / "feed.ics")}
                floor_server = running.enter_context(
                    gunicorn(
                        "bench.floor_app:app",
                        floor_env,
                        floor_port,
                        directory / "floor.log",
                        **options,
                    )
                )
                floor_url = f"http://127.0.0.1:{floor_port}/feed.ics"
                if httpx.get(floor_url, timeout=60).content != body:
                    raise LoadToolError("the floor app does not serve the feed's bytes")
                targets["gunicorn_floor"] = Target(floor_url, floor_server.pid)
                targets["gunicorn_floor_304"] = Target(
                    floor_url, floor_server.pid, (f"If-None-Match: {floor_etag(body)}",)
                )
            for _ in range(slices):
                for target in targets.values():
                    target.load(slice_seconds, threads, connections)
    summaries = {name: target.summary() for name, target in targets.items()}
    check_answers(summaries, len(body))
    static, plain, not_modified = (summaries[n] for n in ("nginx", "calbridge", "calbridge_304"))
    serve_ratio = plain["requests_per_second"] / static["requests_per_second"]
    conditional_ratio = not_modified["requests_per_second"] / plain["requests_per_second"]
    return {
        "events": events,
        "vevents": body.count(b"BEGIN:VEVENT"),
        "body_bytes": len(body),
        "database": "postgresql" if database_url else "sqlite",
        "gunicorn": f"-w {workers} -k gthread --threads {worker_threads}",
        "wrk": f"-t{threads} -c{connections}, {slices} × {slice_seconds} s per URL, interleaved",
        "warm_up_rounds_rps": warm_rounds,
        **summaries,
        "serve_ratio": round(serve_ratio, 3),
        "serve_target": SERVE_TARGET,
        "serve_ok": serve_ratio >= SERVE_TARGET and plain["errors"] == 0,
        "conditional_ratio": round(conditional_ratio, 3),
        "conditional_target": CONDITIONAL_TARGET,
        "conditional_ok": conditional_ratio >= CONDITIONAL_TARGET and not_modified["errors"] == 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0, help="of load per URL")
    parser.add_argument("--slices", type=int, default=SLICES, help="interleaved slices per URL")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file")
    parser.add_argument("--no-floor", action="store_true", help="skip the minimal WSGI app")
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = parser.parse_args(argv)
    result = run(
        events=args.events,
        seconds=args.seconds,
        slices=args.slices,
        connections=args.connections,
        database_url=args.database_url,
        floor=not args.no_floor,
    )
    if args.json or "skipped" in result:
        print(json.dumps(result, indent=None if args.json else 2))
        return 0
    for name in ("nginx", "calbridge", "calbridge_304", "gunicorn_floor", "gunicorn_floor_304"):
        if name in result:
            target = result[name]
            print(
                f"{name:>20}: {target['requests_per_second']:8.0f} req/s, "
                f"{target['server_cpu_ms_per_request']} ms server CPU per request, "
                f"{target['errors']} errors"
            )
    print(
        f"{result['vevents']} events, {result['body_bytes']} bytes: serve ratio "
        f"{result['serve_ratio']} (target ≥ {SERVE_TARGET}), 304 ratio "
        f"{result['conditional_ratio']} (target ≥ {CONDITIONAL_TARGET})"
    )
    return 0 if result["serve_ok"] and result["conditional_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
