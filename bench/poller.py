"""Subscribers, in a process of their own: GET feed URLs at a steady rate and time each answer.

Each of `connections` threads keeps one HTTP/1.1 connection (`http.client`) and sends its
share of `rate` requests per second, the URLs taken in turn; a request that is late starts at
once (no catching up in bursts). For every answer it notes the time to first byte (request
sent → status line and headers read, before the body) and the status. Run by the benches as

    python -m bench.poller --seconds S --rate R [--connections C] [--once] < urls.txt

printing one JSON object: `ttfb_ms` (a list), `statuses` ({status: count}), `errors`, `seconds`.
With `--once` every URL is fetched once, as fast as the connections go (no rate).
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class PollResult:
    ttfb_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    seconds: float = 0.0

    def percentile(self, fraction: float) -> float | None:
        """The `fraction` quantile of the TTFBs (nearest rank), in ms."""
        if not self.ttfb_ms:
            return None
        ordered = sorted(self.ttfb_ms)
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": len(self.ttfb_ms),
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
            "errors": self.errors,
            "seconds": round(self.seconds, 2),
            "ttfb_p50_ms": _round(self.percentile(0.50)),
            "ttfb_p99_ms": _round(self.percentile(0.99)),
            "ttfb_max_ms": _round(max(self.ttfb_ms, default=None)),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class _Connection:
    def __init__(self, netloc: str) -> None:
        self.netloc = netloc
        self.http: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, float]:
        """(status, TTFB in ms); reads and drops the body."""
        if self.http is None:
            self.http = http.client.HTTPConnection(self.netloc, timeout=120)
        started = time.perf_counter()
        try:
            self.http.request("GET", path)
            response = self.http.getresponse()
            ttfb = (time.perf_counter() - started) * 1000
            response.read()
        except (OSError, http.client.HTTPException):
            self.http.close()
            self.http = None
            raise
        if response.will_close:
            self.http.close()
            self.http = None
        return response.status, ttfb


def poll(
    urls: list[str], *, seconds: float, rate: float, connections: int = 4, once: bool = False
) -> PollResult:
    """GET `urls` in turn at `rate` per second for `seconds` (or each once); see the module."""
    result = PollResult()
    lock = threading.Lock()
    targets = [(urlsplit(url).netloc, urlsplit(url).path) for url in urls]
    started = time.monotonic()
    deadline = started + seconds
    interval = connections / rate if rate > 0 else 0.0

    def run(number: int) -> None:
        pool: dict[str, _Connection] = {}
        index, next_at = number, started + interval * number / connections
        while index < len(targets) if once else time.monotonic() < deadline:
            if not once:
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                next_at = max(next_at + interval, time.monotonic())
                if time.monotonic() >= deadline:
                    break
            netloc, path = targets[index % len(targets)]
            index += connections
            connection = pool.setdefault(netloc, _Connection(netloc))
            try:
                status, ttfb = connection.get(path)
            except (OSError, http.client.HTTPException):
                with lock:
                    result.errors += 1
                continue
            with lock:
                result.statuses[status] += 1
                result.ttfb_ms.append(ttfb)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - started
    return result


def poll_in_subprocess(
    urls: list[str], *, seconds: float, rate: float, connections: int = 4, once: bool = False
) -> PollResult:
    """`poll` in a separate Python process (its CPU is not the bench's, nor the server's)."""
    command = [sys.executable, "-m", "bench.poller", "--seconds", str(seconds), "--rate", str(rate)]
    command += ["--connections", str(connections), *(["--once"] if once else [])]
    finished = subprocess.run(
        command,
        input="\n".join(urls),
        capture_output=True,
        text=True,
        timeout=seconds + 600,
        check=False,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"the poller failed: {finished.stderr.strip()}")
    raw = json.loads(finished.stdout)
    return PollResult(
        raw["ttfb_ms"],
        Counter({int(k): v for k, v in raw["statuses"].items()}),
        raw["errors"],
        raw["seconds"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second in all")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--once", action="store_true", help="each URL once, as fast as possible")
    args = parser.parse_args(argv)
    urls = [line.strip() for line in sys.stdin if line.strip()]
    result = poll(
        urls, seconds=args.seconds, rate=args.rate, connections=args.connections, once=args.once
    )
    json.dump(
        {
            "ttfb_ms": [round(value, 3) for value in result.ttfb_ms],
            "statuses": {str(k): v for k, v in result.statuses.items()},
            "errors": result.errors,
            "seconds": result.seconds,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
