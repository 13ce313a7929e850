"""Benchmark: peak memory of rendering a very large feed (100,000 sessions by default).

A fresh Python process builds the sessions and renders them once (bench.bench_render's
sessions and options); its peak resident set size (`ru_maxrss`) is the figure. Target:
≤ 400 MB for 100,000 sessions.

    python -m bench.bench_memory [--sessions 100000]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench.bench_render import RSS_TARGET_MB, peak_rss_mb

__all__ = ["RSS_TARGET_MB", "run"]


def run(sessions: int = 100_000) -> dict[str, Any]:
    """Peak RSS of a fresh process rendering `sessions` sessions, against the target."""
    peak = peak_rss_mb(sessions)
    return {
        "sessions": sessions,
        "peak_rss_mb": round(peak, 1),
        "target_mb": RSS_TARGET_MB,
        "ok": peak <= RSS_TARGET_MB,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    args = parser.parse_args(argv)
    result = run(args.sessions)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
