"""Who may read /metrics: it names every source, so it is not public.

- CALBRIDGE_METRICS_TOKEN set: every client must send `Authorization: Bearer <that token>`
  (loopback ones too: the operator asked for a token).
- Otherwise CALBRIDGE_ADMIN_TOKEN set: every client must send that one, loopback ones too.
  A reverse proxy on the same machine (a plain nginx `proxy_pass`) adds no `Forwarded`,
  `X-Forwarded-For` or `X-Real-IP` header, so behind it every outside client looks like
  127.0.0.1: the client's address proves nothing once a token exists.
- No token at all: only a private install answers, one whose CALBRIDGE_PUBLIC_URL host is
  itself loopback (e.g. `calbridge demo`), and only to loopback clients whose request no
  proxy relayed. Everywhere else /metrics is refused until CALBRIDGE_METRICS_TOKEN is set.

Refusals are one plain-text sentence: 401 with `WWW-Authenticate: Bearer` when a token
would be accepted, 403 when none would. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from flask import Request, Response

from bridge.settings import Settings

REALM = 'Bearer realm="calbridge metrics"'
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def metrics_refusal(settings: Settings, request: Request) -> Response | None:
    """None when `request` may read /metrics, else the 401 or 403 answer to send."""
    if settings.metrics_token:
        return _check_bearer(request, settings.metrics_token, "CALBRIDGE_METRICS_TOKEN")
    if settings.admin_token:
        return _check_bearer(request, settings.admin_token, "CALBRIDGE_ADMIN_TOKEN")
    if is_loopback_url(settings.public_url) and is_direct_loopback(request):
        return None
    return _refuse(
        403,
        "Set CALBRIDGE_METRICS_TOKEN to read /metrics (send 'Authorization: Bearer <token>'): "
        "without a token only a private install, whose CALBRIDGE_PUBLIC_URL is on localhost, "
        "answers clients on its own machine.",
    )


def is_loopback_url(public_url: str) -> bool:
    """True when the host of `public_url` is this machine (localhost or a loopback address)."""
    host = (urlsplit(public_url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    return _is_loopback_address(host)


def is_direct_loopback(request: Request) -> bool:
    """True for a client on this machine whose request did not come through a proxy."""
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    return _is_loopback_address(request.remote_addr or "")


def _is_loopback_address(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _check_bearer(request: Request, expected: str, variable: str) -> Response | None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        return _refuse(
            401, f"Send 'Authorization: Bearer <{variable}>' to read /metrics.", challenge=REALM
        )
    if not hmac.compare_digest(given.encode("latin-1", "replace"), expected.encode("utf-8")):
        return _refuse(
            401,
            f"The bearer token is not {variable}.",
            challenge=f'{REALM}, error="invalid_token"',
        )
    return None


def _refuse(status: int, message: str, *, challenge: str | None = None) -> Response:
    response = Response(f"{message}\n", status=status, content_type="text/plain; charset=utf-8")
    if challenge is not None:
        response.headers["WWW-Authenticate"] = challenge
    return response
