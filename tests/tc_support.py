"""Test support for the TrainerCentral/Zoho tests: one loopback server per module, many apps.

Stopping a loopback server takes about half a second (werkzeug's poll interval), so each
test module starts one server and every test mounts its own fresh simulators on it.
Zoho Accounts (`/oauth/...`) and TrainerCentral (`/api/v4/...`) share the port, as they do
in `calbridge simulate`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpx

from bridge.upstream.http import Backoff, UpstreamHTTP

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Mount:
    """A WSGI app routing `/oauth/` to `accounts` and everything else to `api`."""

    def __init__(self) -> None:
        self.accounts: WSGIApp | None = None
        self.api: WSGIApp | None = None

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        app = self.accounts if path.startswith("/oauth/") else self.api
        if app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"nothing mounted"]
        return app(environ, start_response)


def quick_http(read_timeout: float = 5.0) -> UpstreamHTTP:
    """An UpstreamHTTP for loopback tests: short timeouts, three attempts, no real sleeping."""
    return UpstreamHTTP(
        "academy",
        timeout=httpx.Timeout(read_timeout, connect=2.0),
        max_attempts=3,
        backoff=Backoff(base=0.01, cap=0.02),
        sleep=lambda _: None,
    )
