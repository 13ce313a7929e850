"""One line of the benchmark table, shared by bench.suite and bench.engine_rows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    part: str
    measured: str
    reference: str
    ratio: float | None
    target: str
    status: str  # "pass", "FAIL", "skipped" or "error"
    note: str = ""


def status_of(ok: bool) -> str:
    return "pass" if ok else "FAIL"
