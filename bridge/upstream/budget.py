"""Placeholder until the shared budgets land (branch shared-budgets)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def configure_budgets(settings: Any) -> None:
    """Choose the budget backend for this process."""


def add_budget_listener(callback: Callable[[str, float], None]) -> None:
    """Call `callback(budget, waited)` on each grant."""
