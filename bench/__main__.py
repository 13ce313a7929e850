"""`python -m bench [all | render | refresh | serve | memory ...]`: run the benchmark suite.

Prints one table (part, measured, reference, ratio, target, result) and writes the results as
JSON (bench/results/latest.json for `all`, bench/results/<part>.json for one part). The serve
part needs wrk and nginx: `bash bench/setup.sh` installs them; without them it is skipped.
Exit status: 0 when every target is met (or skipped), 1 when one is missed, 2 on an error.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from bench.suite import (
    ALIASES,
    PARTS,
    Sizes,
    default_output,
    format_table,
    progress_to_stderr,
    resolve_parts,
    run_suite,
    write_report,
)


def parser() -> argparse.ArgumentParser:
    defaults = Sizes()
    result = argparse.ArgumentParser(
        prog="python -m bench", description=(__doc__ or "").splitlines()[0]
    )
    result.add_argument(
        "parts",
        nargs="*",
        default=["all"],
        metavar="PART",
        help=f"all (default) or some of: {', '.join([*PARTS, *ALIASES])}",
    )
    result.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    result.add_argument("--output", type=Path, help="where to write the JSON results")
    result.add_argument("--sessions", type=int, help=f"render (default {defaults.render_sessions})")
    result.add_argument(
        "--serve-seconds", type=float, help=f"load per URL (default {defaults.serve_seconds:.0f})"
    )
    result.add_argument("--memory-sessions", type=int, help=f"default {defaults.memory_sessions}")
    result.add_argument("--no-floor", action="store_true", help="serve: skip the bare WSGI app")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        parts = resolve_parts(args.parts)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sizes = Sizes.quick() if args.quick else Sizes()
    overrides = {
        "render_sessions": args.sessions,
        "serve_seconds": args.serve_seconds,
        "memory_sessions": args.memory_sessions,
        "serve_floor": False if args.no_floor else None,
    }
    sizes = replace(sizes, **{key: value for key, value in overrides.items() if value is not None})
    report = run_suite(parts, sizes, progress=progress_to_stderr)
    print(format_table(report))
    path = write_report(report, args.output or default_output(parts))
    print(f"\nresults written to {path}")
    if any(row["status"] == "error" for row in report["rows"]):
        return 2
    return 0 if report["all_passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
