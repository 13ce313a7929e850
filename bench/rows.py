"""One line of the benchmark table, shared by bench.suite and bench.engine_rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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


def checked_row(
    part: str, measured: str, reference: str, result: Mapping[str, Any], target: str, note: str = ""
) -> Row:
    """The row of a part whose result holds its `ratio` and whether it met `target` (`ok`)."""
    return Row(part, measured, reference, result["ratio"], target, status_of(result["ok"]), note)
