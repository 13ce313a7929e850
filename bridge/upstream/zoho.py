"""Zoho OAuth access tokens for the TrainerCentral client.

Either a fixed access token (it cannot be renewed: a 401 is final), or the refresh-token
grant: `POST {accounts_url}/oauth/v2/token` with a form body `grant_type=refresh_token,
client_id, client_secret, refresh_token`. Zoho issues at most 10 access tokens per refresh
token per 10 minutes and blocks the refresh token after that, so a token is precious:

* one process-wide slot per (accounts_url, client_id, refresh_token) holds the cached token
  and a lock, so any number of concurrent callers causes one token request;
* a token is reused until 5 minutes before it expires, and written to a `TokenStore` so a
  restarted service reuses it instead of spending a new one;
* after a 401 the token is renewed only if the rejected token is still the cached one, so
  concurrent 401s cause one renewal; a grant budget of 9 per 10 minutes per refresh token,
  shared by every calbridge process (`bridge.upstream.budget`), refuses to go further before
  Zoho would (one grant below Zoho's 10 leaves room for another program or a lost answer).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bridge.upstream.budget import SharedBudget, budget_for
from bridge.upstream.errors import (
    UpstreamAuthError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRequestError,
)
from bridge.upstream.http import MAX_TOKEN_BODY_BYTES, UpstreamHTTP

REFRESH_MARGIN = timedelta(minutes=5)
DEFAULT_LIFETIME = timedelta(hours=1)
ZOHO_GRANTS_PER_WINDOW = 10  # access tokens per refresh token per 10 minutes (Zoho's limit)
GRANTS_PER_WINDOW = ZOHO_GRANTS_PER_WINDOW - 1  # calbridge's own limit: one below Zoho's
GRANT_WINDOW_SECONDS = 600.0

Now = Callable[[], datetime]


class TokenStore(Protocol):
    """Where access tokens survive restarts (the service stores them encrypted)."""

    def load(self, key: str) -> tuple[str, datetime] | None: ...

    def save(self, key: str, token: str, expires_at: datetime) -> None: ...


class MemoryTokenStore:
    """The default TokenStore: a dict, shared by whoever holds this object."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, datetime]] = {}
        self._lock = threading.Lock()

    def load(self, key: str) -> tuple[str, datetime] | None:
        with self._lock:
            return self._tokens.get(key)

    def save(self, key: str, token: str, expires_at: datetime) -> None:
        with self._lock:
            self._tokens[key] = (token, expires_at)


class AccessTokens(Protocol):
    """What the API client asks for: a token now, and a new one after a 401."""

    def token(self) -> str: ...

    def refresh(self, rejected: str) -> str: ...


class FixedAccessToken:
    """A configured access token. Zoho's last one hour, so a 401 says to configure OAuth."""

    def __init__(self, source_name: str, token: str) -> None:
        self.source_name = source_name
        self._token = token

    def token(self) -> str:
        return self._token

    def refresh(self, rejected: str) -> str:
        raise UpstreamAuthError(
            self.source_name,
            "TrainerCentral rejected the configured access token (HTTP 401). Zoho access "
            "tokens expire after one hour: configure a client id, client secret and refresh "
            "token instead so calbridge can renew them",
            status=401,
        )


@dataclass(frozen=True)
class ZohoCredentials:
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    accounts_url: str = "https://accounts.zoho.com"

    @property
    def budget_key(self) -> str:
        """The grant budget's name: identifies the refresh token without containing it."""
        identity = f"{self.accounts_url.rstrip('/')}|{self.client_id}|{self.refresh_token}"
        return "zoho-grants:" + hashlib.sha256(identity.encode()).hexdigest()[:24]

    @property
    def store_key(self) -> str:
        """The TokenStore key: identifies the refresh token without containing it."""
        digest = hashlib.sha256(self.refresh_token.encode()).hexdigest()[:24]
        return f"zoho:{self.accounts_url.rstrip('/')}:{self.client_id}:{digest}"


@dataclass
class _Slot:
    """The process-wide state of one refresh token; `grants` is shared by every process."""

    grants: SharedBudget
    lock: threading.Lock = field(default_factory=threading.Lock)
    token: str | None = None
    expires_at: datetime | None = None


_slots: dict[tuple[str, str, str], _Slot] = {}
_slots_lock = threading.Lock()


def _slot_for(credentials: ZohoCredentials) -> _Slot:
    key = (credentials.accounts_url.rstrip("/"), credentials.client_id, credentials.refresh_token)
    with _slots_lock:
        slot = _slots.get(key)
        if slot is None:
            grants = budget_for(credentials.budget_key, GRANTS_PER_WINDOW, GRANT_WINDOW_SECONDS)
            slot = _slots[key] = _Slot(grants)
        return slot


def forget_cached_tokens() -> None:
    """Drop every in-memory token and grant count, as a restart would.

    TokenStores keep their tokens, and a shared grant budget (`configure_budgets`) its grants.
    """
    with _slots_lock:
        slots = list(_slots.values())
        _slots.clear()
    for slot in slots:
        slot.grants.reset_local()


class ZohoTokenManager:
    """Access tokens from a refresh token, cached per process and persisted in a TokenStore."""

    def __init__(
        self,
        source_name: str,
        credentials: ZohoCredentials,
        *,
        http: UpstreamHTTP,
        store: TokenStore | None = None,
        now: Now | None = None,
    ) -> None:
        self.source_name = source_name
        self.credentials = credentials
        self._http = http
        self._store = store if store is not None else MemoryTokenStore()
        self._now = now or (lambda: datetime.now(UTC))
        self._slot = _slot_for(credentials)

    def token(self) -> str:
        """A token valid for at least 5 more minutes: cached, stored, or newly granted."""
        slot = self._slot
        with slot.lock:
            if slot.token is not None and self._fresh(slot.expires_at):
                return slot.token
            return self._adopt_stored(rejected=None) or self._grant()

    def refresh(self, rejected: str) -> str:
        """A token other than `rejected`; asks Zoho only if nobody has renewed it yet."""
        slot = self._slot
        with slot.lock:
            if slot.token is not None and slot.token != rejected and self._fresh(slot.expires_at):
                return slot.token
            return self._adopt_stored(rejected=rejected) or self._grant()

    def _fresh(self, expires_at: datetime | None) -> bool:
        return expires_at is not None and self._now() < expires_at - REFRESH_MARGIN

    def _adopt_stored(self, rejected: str | None) -> str | None:
        stored = self._store.load(self.credentials.store_key)
        if stored is None:
            return None
        token, expires_at = stored
        if token == rejected or not self._fresh(expires_at):
            return None
        self._slot.token, self._slot.expires_at = token, expires_at
        return token

    def _grant(self) -> str:
        wait = self._slot.grants.try_acquire()
        if wait > 0:
            raise UpstreamAuthError(
                self.source_name,
                f"calbridge already obtained {GRANTS_PER_WINDOW} Zoho access tokens with this "
                f"refresh token in the last 10 minutes (Zoho allows {ZOHO_GRANTS_PER_WINDOW}, "
                "calbridge keeps one in reserve); the tokens keep being "
                f"rejected, so check the OAuth scope (TrainerCentral.talkapi.READ) and the org "
                f"id. Next attempt possible in {wait:.0f} s",
            )
        creds = self.credentials
        issued_at = self._now()
        url = f"{creds.accounts_url.rstrip('/')}/oauth/v2/token"
        form = {
            "grant_type": "refresh_token",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "refresh_token": creds.refresh_token,
        }
        try:
            response = self._http.send(
                "POST",
                url,
                data=form,
                auth_error_message="Zoho Accounts rejected the OAuth client",
                retry=False,  # each attempt may spend one of Zoho's 10 tokens per 10 minutes
                max_body_bytes=MAX_TOKEN_BODY_BYTES,
            )
        except (UpstreamAuthError, UpstreamRequestError) as exc:
            detail = str(exc).removeprefix(f"{exc.source}: ")
            raise self._grant_error(detail, exc.status) from exc
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            raise UpstreamProtocolError(
                self.source_name, f"Zoho Accounts ({url}) answered unreadable JSON: {exc}"
            ) from exc
        if not isinstance(body, dict):
            raise UpstreamProtocolError(self.source_name, "Zoho Accounts answered a non-object")
        if body.get("error") or not body.get("access_token"):
            detail = (
                " ".join(str(body[k]) for k in ("error", "error_description") if body.get(k))
                or "no access_token in the response"
            )
            raise self._grant_error(detail, response.status_code)

        token = str(body["access_token"])
        expires_at = issued_at + _lifetime(body.get("expires_in"))
        self._slot.token, self._slot.expires_at = token, expires_at
        self._store.save(creds.store_key, token, expires_at)
        return token

    def _grant_error(self, detail: str, status: int | None) -> UpstreamError:
        lowered = detail.lower()
        if "too many requests" in lowered or "access denied" in lowered:
            reason = (
                "Zoho refused a new access token: too many token requests for this refresh "
                "token (Zoho allows 10 per 10 minutes). calbridge caches its tokens, so another "
                "program is probably using the same refresh token; wait 10 minutes or give "
                "calbridge its own refresh token"
            )
        elif "invalid_code" in lowered:
            reason = (
                "Zoho rejected the refresh token (invalid_code): it is wrong, revoked, or was "
                "issued to another client or data centre. Generate a new refresh token (scope "
                "TrainerCentral.talkapi.READ) and update this source"
            )
        elif "invalid_client" in lowered:
            reason = (
                "Zoho rejected the client id or secret (invalid_client). Check them in the "
                "Zoho API console, and that the accounts URL "
                f"({self.credentials.accounts_url}) is the data centre the client belongs to"
            )
        else:
            reason = "Zoho refused to issue an access token; check the OAuth client settings"
        return UpstreamAuthError(self.source_name, f"{reason} ({detail})", status=status)


def _lifetime(expires_in: object) -> timedelta:
    try:
        seconds = int(str(expires_in))
    except ValueError:
        return DEFAULT_LIFETIME
    return timedelta(seconds=seconds) if seconds > 0 else DEFAULT_LIFETIME
