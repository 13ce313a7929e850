"""The benchmark suite behind `python -m bench`: runs the parts, prints one table, writes JSON.

Every figure is a ratio measured in one run against its reference (naive icalendar, a full
render, the refresh lower bound, nginx, plain GETs), so it holds on a noisy machine; the
machine's load average before and after is recorded with the results.

Parts (each `run_<part>(sizes) -> (raw result, rows)`):

- render: 10,000 sessions → feed bytes vs the naive icalendar way; the re-render after one
  session changed vs the full render (bench.bench_render).
- refresh: 20 pages × 100 calls behind 100 ms latency vs page 1 + ⌈19 / concurrency⌉ rounds
  (bench.bench_refresh).
- serve: the cached 1,000-event feed through gunicorn vs nginx serving its bytes, and
  conditional GETs (304) vs plain GETs (bench.bench_serve; needs `bash bench/setup.sh`).
- memory: peak RSS of a fresh process rendering 100,000 sessions (bench.bench_memory).
- outage: feed TTFB p99 while the upstream hangs vs while it is healthy (bench.bench_outage).
- instances: upstream requests of 4 calbridge processes vs 1 (bench.bench_instances).
- partitions: 10,000 partitions of one TagMango key refreshed vs 10,000 / 12 req/s, and the
  429s (bench.bench_partitions; ~16 minutes at full size).
- participants: 10,000 participant feeds provisioned by a roster sync and brought up to date
  vs the fewest requests at 12 req/s, the 429s, and a webhook for a mango timed while their
  reads are queued (bench.bench_participants; ~25 minutes at full size).
- worker-memory: RSS of a web process after 10,000 distinct feeds vs after 100
  (bench.bench_worker_memory).
- caldav-sync: bytes and time of an incremental CalDAV sync after one change in a
  1,000-event calendar vs a full .ics GET (bench.bench_caldav).

instances, partitions and participants need PostgreSQL (CALBRIDGE_BENCH_DATABASE_URL or
CALBRIDGE_TEST_DATABASE_URL) and use Redis for the queue when it is reachable; without
PostgreSQL they are skipped.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import bench_memory, bench_refresh, bench_render, bench_serve
from bench.engine_rows import (
    run_caldav,
    run_instances,
    run_outage,
    run_participants,
    run_partitions,
    run_webhook,
    run_worker_memory,
)
from bench.rows import Row, checked_row, status_of

__all__ = ["Row", "Sizes", "run_suite"]

PARTS = (
    "render",
    "refresh",
    "serve",
    "memory",
    "outage",
    "instances",
    "partitions",
    "participants",
    "worker-memory",
    "webhook",
    "caldav-sync",
)
ALIASES = {"re-render": "render", "rerender": "render", "304": "serve"}
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Sizes:
    """How big each part runs: the issue's sizes by default, `quick()` for smoke tests."""

    render_sessions: int = 10_000
    render_repeat: int = 2
    refresh_pages: int = 20
    refresh_page_size: int = 100
    refresh_latency: float = 0.1
    refresh_repeats: int = 3
    serve_events: int = 1000
    serve_seconds: float = 20.0
    serve_slices: int = bench_serve.SLICES
    serve_floor: bool = True
    memory_sessions: int = 100_000
    outage_feeds: int = 4
    outage_seconds: float = 20.0
    outage_slices: int = 4
    instances_feeds: int = 6
    instances_seconds: float = 24.0
    partitions: int = 10_000
    participants: int = 10_000
    worker_memory_feeds: int = 10_000
    worker_memory_first: int = 100
    webhook_rounds: int = 30
    caldav_events: int = 1000
    caldav_rounds: int = 10

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            render_sessions=200, render_repeat=1,
            refresh_pages=3, refresh_page_size=10, refresh_latency=0.02, refresh_repeats=1,
            serve_events=20, serve_seconds=1.0, serve_slices=1, serve_floor=False,
            memory_sessions=500,
            outage_feeds=2, outage_seconds=3.0, outage_slices=1,
            instances_feeds=2, instances_seconds=5.0,
            partitions=60, participants=60,
            worker_memory_feeds=100, worker_memory_first=10,
            webhook_rounds=3,
            caldav_events=20, caldav_rounds=1,
        )  # fmt: skip


def run_render(sizes: Sizes) -> tuple[dict[str, Any], list[Row]]:
    result = bench_render.run(sizes.render_sessions, sizes.render_repeat)
    full, rerender = result["full_ratio"], result["rerender_ratio"]
    n = result["sessions"]
    return dict(result), [
        Row(
            "render",
            f"{n:,} sessions → feed: {result['full_seconds']:.3f} s",
            f"naive icalendar: {result['naive_seconds']:.3f} s",
            full,
            f"≤ {bench_render.FULL_RENDER_TARGET}",
            status_of(full <= bench_render.FULL_RENDER_TARGET),
        ),
        Row(
            "re-render",
            f"1 of {n:,} changed: {result['rerender_seconds']:.4f} s",
            f"full render: {result['full_seconds']:.3f} s",
            rerender,
            f"≤ {bench_render.RERENDER_TARGET}",
            status_of(rerender <= bench_render.RERENDER_TARGET),
        ),
    ]


def run_refresh(sizes: Sizes) -> tuple[dict[str, Any], list[Row]]:
    result = bench_refresh.run(
        pages=sizes.refresh_pages,
        page_size=sizes.refresh_page_size,
        latency=sizes.refresh_latency,
        repeats=sizes.refresh_repeats,
    )
    pages, rounds = result["pages"], result["concurrency"]
    return result, [
        checked_row(
            "refresh",
            f"{pages} pages × {result['page_size']} calls, {result['latency_s'] * 1000:.0f} ms "
            f"latency: {result['best_s']:.3f} s",
            f"lower bound, page 1 + ⌈{pages - 1}/{rounds}⌉ rounds: {result['lower_bound_s']:.3f} s",
            result,
            f"≤ {bench_refresh.TARGET_RATIO}",
        )
    ]


def run_serve(sizes: Sizes) -> tuple[dict[str, Any], list[Row]]:
    result = bench_serve.run(
        events=sizes.serve_events,
        seconds=sizes.serve_seconds,
        slices=sizes.serve_slices,
        floor=sizes.serve_floor,
    )
    if "skipped" in result:
        reason = result["skipped"]
        return result, [
            Row("serve", "–", "nginx", None, f"≥ {bench_serve.SERVE_TARGET}", "skipped", reason),
            Row("304", "–", "plain GETs", None, f"≥ {bench_serve.CONDITIONAL_TARGET}×", "skipped"),
        ]
    plain, static, cond = result["calbridge"], result["nginx"], result["calbridge_304"]
    floor = result.get("gunicorn_floor")
    note = (
        f"a bare WSGI app under the same gunicorn: {floor['requests_per_second']:.0f} req/s "
        f"({floor['requests_per_second'] / static['requests_per_second']:.2f} × nginx)"
        if floor
        else ""
    )
    return result, [
        Row(
            "serve",
            f"calbridge, {result['vevents']:,} events ({result['body_bytes'] / 1e6:.1f} MB): "
            f"{plain['requests_per_second']:.0f} req/s, {plain['errors']} errors",
            f"nginx, same bytes: {static['requests_per_second']:.0f} req/s",
            result["serve_ratio"],
            f"≥ {bench_serve.SERVE_TARGET}, 0 errors",
            status_of(result["serve_ok"]),
            note,
        ),
        Row(
            "304",
            f"If-None-Match: {cond['requests_per_second']:.0f} req/s, {cond['errors']} errors",
            f"plain GETs: {plain['requests_per_second']:.0f} req/s",
            result["conditional_ratio"],
            f"≥ {bench_serve.CONDITIONAL_TARGET}×",
            status_of(result["conditional_ok"]),
        ),
    ]


def run_memory(sizes: Sizes) -> tuple[dict[str, Any], list[Row]]:
    result = bench_memory.run(sizes.memory_sessions)
    return result, [
        Row(
            "memory",
            f"{result['sessions']:,} sessions rendered: {result['peak_rss_mb']:.0f} MB peak RSS",
            "–",
            None,
            f"≤ {bench_memory.RSS_TARGET_MB:.0f} MB",
            status_of(result["ok"]),
        )
    ]


RUNNERS: dict[str, Callable[[Sizes], tuple[dict[str, Any], list[Row]]]] = {
    "render": run_render,
    "refresh": run_refresh,
    "serve": run_serve,
    "memory": run_memory,
    "outage": run_outage,
    "instances": run_instances,
    "partitions": run_partitions,
    "participants": run_participants,
    "worker-memory": run_worker_memory,
    "webhook": run_webhook,
    "caldav-sync": run_caldav,
}


def resolve_parts(names: list[str]) -> list[str]:
    """Part names in suite order, aliases resolved; ValueError names an unknown one."""
    chosen: set[str] = set()
    for name in names:
        if name == "all":
            chosen.update(PARTS)
            continue
        part = ALIASES.get(name, name)
        if part not in RUNNERS:
            known = ", ".join(["all", *PARTS, *ALIASES])
            raise ValueError(f"unknown benchmark part {name!r}; choose from: {known}")
        chosen.add(part)
    return [part for part in PARTS if part in chosen]


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPUs, load, Python, commit."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpus": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit or None,
    }


def run_suite(
    parts: list[str], sizes: Sizes, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run `parts`; a part that raises becomes an "error" row, and the others still run."""
    started = time.monotonic()
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "sizes": asdict(sizes),
        "parts": {},
        "rows": [],
    }
    rows: list[Row] = []
    for part in parts:
        if progress:
            progress(f"running {part}…")
        part_started = time.monotonic()
        try:
            raw, part_rows = RUNNERS[part](sizes)
        except Exception as error:  # reported in the table; the other parts still run
            raw = {"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()}
            part_rows = [Row(part, "–", "–", None, "–", "error", raw["error"])]
        raw["seconds"] = round(time.monotonic() - part_started, 1)
        report["parts"][part] = raw
        rows.extend(part_rows)
    report["rows"] = [asdict(row) for row in rows]
    report["load_average_after"] = [round(value, 2) for value in os.getloadavg()]
    report["seconds"] = round(time.monotonic() - started, 1)
    report["all_passed"] = all(row.status in ("pass", "skipped") for row in rows)
    return report


def format_table(report: dict[str, Any]) -> str:
    """The rows as a Markdown table, with the machine's load and notes below it."""
    header = ("part", "measured", "reference (same run)", "ratio", "target", "result")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    notes = []
    for row in report["rows"]:
        ratio = "–" if row["ratio"] is None else f"{row['ratio']:.3f}"
        cells = (row["part"], row["measured"], row["reference"], ratio, row["target"])
        lines.append("| " + " | ".join((*cells, row["status"])) + " |")
        if row["note"]:
            notes.append(f"- {row['part']}: {row['note']}")
    machine = report["machine"]
    lines += [
        "",
        f"{machine['cpus']} CPUs, load average {machine['load_average']} before and "
        f"{report['load_average_after']} after; Python {machine['python']}, "
        f"commit {machine['commit'] or 'unknown'}; {report['seconds']:.0f} s in all.",
        *notes,
    ]
    return "\n".join(lines)


def write_report(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def default_output(parts: list[str]) -> Path:
    """bench/results/latest.json for the whole suite, <part>.json for a single part."""
    name = "latest" if parts == list(PARTS) else "-".join(parts)
    return RESULTS_DIR / f"{name}.json"


def progress_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
