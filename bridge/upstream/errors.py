"""Errors raised by the upstream clients.

Each error names its source, so a message shown to an operator or logged during a
refresh says which configured source failed and why.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """An upstream could not deliver complete data. Never a partial result."""

    retryable = False

    def __init__(self, source: str, message: str, *, status: int | None = None) -> None:
        self.source = source
        self.status = status
        super().__init__(f"{source}: {message}")


class UpstreamAuthError(UpstreamError):
    """The credentials were rejected (HTTP 401, or the OAuth grant failed)."""


class UpstreamRequestError(UpstreamError):
    """The upstream refused the request itself (HTTP 400 and other 4xx)."""


class UpstreamUnavailable(UpstreamError):
    """Transient trouble that survived every retry: 429, 5xx, timeouts, connection errors."""

    retryable = True


class UpstreamProtocolError(UpstreamError):
    """The response could not be read: truncated or malformed JSON, unexpected shape, page cap."""
