"""A fake Zoho Accounts server: the OAuth refresh-token grant, as TrainerCentral clients use it.

`POST /oauth/v2/token` with `grant_type=refresh_token`, `client_id`, `client_secret` and
`refresh_token` (form body or query string) answers `{access_token, api_domain, token_type,
expires_in}`. Like Zoho it checks the client id and secret and the refresh token, issues at
most `grant_limit` access tokens per refresh token per `grant_window` seconds (answering the
documented "Access Denied ... too many requests" error after that), and its access tokens
expire after `token_lifetime` seconds of its own clock, which tests advance instead of
waiting; `latency` slows grants down to make races visible. The TrainerCentral simulator
asks it whether a presented access token is live.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

TOKEN_PATH = "/oauth/v2/token"
API_DOMAIN = "https://www.zohoapis.com"
TOO_MANY_REQUESTS = (
    "You have made too many requests continuously. Please try again after some time."
)


class SimClock:
    """A simulator's clock: starts at `start` (default: now) and moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime.now(UTC)).astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)


@dataclass
class _AccessToken:
    value: str
    refresh_token: str
    user_id: str
    expires_at: datetime


@dataclass
class _RefreshToken:
    value: str
    client_id: str
    user_id: str
    revoked: bool = False


class ZohoAccountsSimulator:
    """WSGI app for `/oauth/v2/token`, with Python controls for tests and the demo."""

    DEFAULT_CLIENT_ID = "1000.SIMULATORCLIENT0000000000001"
    DEFAULT_CLIENT_SECRET = "simulator-client-secret-0001"
    DEFAULT_REFRESH_TOKEN = "1000.simulator.refresh.token.0001"
    DEFAULT_USER_ID = "90000000001"

    def __init__(
        self,
        *,
        token_lifetime: int = 3600,
        grant_limit: int = 10,
        grant_window: int = 600,
        clock: SimClock | None = None,
        seed_default_client: bool = True,
    ) -> None:
        self.token_lifetime = token_lifetime
        self.grant_limit = grant_limit
        self.grant_window = grant_window
        self.clock = clock or SimClock()
        # Zoho answers most grant errors with HTTP 200 and an `error` field; settable to test 4xx.
        self.error_status = 200
        self.latency = 0.0  # seconds to wait before answering a grant
        self.requests: list[dict[str, Any]] = []
        self._clients: dict[str, str] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        self._grants: dict[str, list[datetime]] = {}
        self._issued = 0
        self._lock = threading.Lock()
        if seed_default_client:
            self.register_client(self.DEFAULT_CLIENT_ID, self.DEFAULT_CLIENT_SECRET)
            self.issue_refresh_token(
                self.DEFAULT_CLIENT_ID, self.DEFAULT_USER_ID, token=self.DEFAULT_REFRESH_TOKEN
            )

    # -- controls -------------------------------------------------------------------------

    def register_client(self, client_id: str, client_secret: str) -> None:
        with self._lock:
            self._clients[client_id] = client_secret

    def issue_refresh_token(self, client_id: str, user_id: str, *, token: str | None = None) -> str:
        """A refresh token for `user_id` through `client_id` (as the consent flow would give)."""
        with self._lock:
            if client_id not in self._clients:
                raise KeyError(f"unknown client {client_id}")
            value = (
                token or f"1000.{_digest('refresh', client_id, user_id, len(self._refresh_tokens))}"
            )
            self._refresh_tokens[value] = _RefreshToken(value, client_id, user_id)
            return value

    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token and every access token issued from it."""
        with self._lock:
            self._refresh_tokens[refresh_token].revoked = True
            for token in [
                t for t in self._access_tokens.values() if t.refresh_token == refresh_token
            ]:
                del self._access_tokens[token.value]

    def expire(self, access_token: str | None = None) -> None:
        """Expire one access token now, or every live one (None)."""
        with self._lock:
            now = self.clock.now()
            for token in self._access_tokens.values():
                if access_token is None or token.value == access_token:
                    token.expires_at = min(token.expires_at, now)

    def user_for(self, access_token: str) -> str | None:
        """The user behind a live access token; None if unknown, expired or revoked."""
        with self._lock:
            token = self._access_tokens.get(access_token)
            if token is None or token.expires_at <= self.clock.now():
                return None
            return token.user_id

    def is_live(self, access_token: str) -> bool:
        return self.user_for(access_token) is not None

    @property
    def grant_count(self) -> int:
        """Access tokens issued so far, over every refresh token."""
        with self._lock:
            return self._issued

    def grants_for(self, refresh_token: str) -> int:
        with self._lock:
            return len(self._grants.get(refresh_token, []))

    # -- WSGI -----------------------------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        response = self._handle(request)
        with self._lock:
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "grant_type": request.values.get("grant_type"),
                    "status": response.status_code,
                }
            )
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        if request.path != TOKEN_PATH:
            return _json({"error": "invalid_url"}, 404)
        if request.method != "POST":
            return _json({"error": "invalid_method"}, 405)
        if self.latency:
            time.sleep(self.latency)
        values = request.values
        if values.get("grant_type") != "refresh_token":
            return _json({"error": "unsupported_grant_type"}, self.error_status)
        client_id = values.get("client_id", "")
        with self._lock:
            if self._clients.get(client_id) is None or self._clients[client_id] != values.get(
                "client_secret"
            ):
                return _json({"error": "invalid_client"}, self.error_status)
            refresh = self._refresh_tokens.get(values.get("refresh_token", ""))
            if refresh is None or refresh.revoked or refresh.client_id != client_id:
                return _json({"error": "invalid_code"}, self.error_status)
            now = self.clock.now()
            window_start = now - timedelta(seconds=self.grant_window)
            recent = [t for t in self._grants.get(refresh.value, []) if t > window_start]
            if len(recent) >= self.grant_limit:
                return _json(
                    {"error": "Access Denied", "error_description": TOO_MANY_REQUESTS}, 400
                )
            self._issued += 1
            self._grants.setdefault(refresh.value, []).append(now)
            # Random, so a token from one simulator instance is never valid at another.
            value = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            self._access_tokens[value] = _AccessToken(
                value, refresh.value, refresh.user_id, now + timedelta(seconds=self.token_lifetime)
            )
        return _json(
            {
                "access_token": value,
                "api_domain": API_DOMAIN,
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
            },
            200,
        )


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
