"""The error an operator's bad input raises, below every layer that raises it.

`OperationError` lives here rather than in bridge.operations so that the store's `NotFound`
can be one too (bridge.store must not import bridge.operations): one `NotFound` class that
both `except OperationError` and `except StoreError` catch.
"""

from __future__ import annotations


class OperationError(ValueError):
    """Bad input for an operation; the message is shown to the operator as is."""
