"""Zoho OAuth: the accounts simulator and the token manager, over real loopback HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from bridge.simulator.server import RunningServer, serving
from bridge.simulator.zoho import TOO_MANY_REQUESTS, ZohoAccountsSimulator
from bridge.upstream.errors import (
    UpstreamAuthError,
    UpstreamProtocolError,
    UpstreamUnavailable,
)
from bridge.upstream.http import MAX_TOKEN_BODY_BYTES, UpstreamHTTP
from bridge.upstream.zoho import (
    FixedAccessToken,
    MemoryTokenStore,
    ZohoCredentials,
    ZohoTokenManager,
    forget_cached_tokens,
)

Z = ZohoAccountsSimulator

pytestmark = pytest.mark.usefixtures("fresh_process_cache")


def credentials(server: RunningServer, **changes: str) -> ZohoCredentials:
    values = {
        "client_id": Z.DEFAULT_CLIENT_ID,
        "client_secret": Z.DEFAULT_CLIENT_SECRET,
        "refresh_token": Z.DEFAULT_REFRESH_TOKEN,
        "accounts_url": server.url,
        **changes,
    }
    return ZohoCredentials(**values)


def manager(
    server: RunningServer,
    accounts: ZohoAccountsSimulator,
    http: UpstreamHTTP,
    store: MemoryTokenStore | None = None,
    **changes: str,
) -> ZohoTokenManager:
    return ZohoTokenManager(
        "academy",
        credentials(server, **changes),
        http=http,
        store=store,
        now=accounts.clock.now,
    )


@pytest.fixture(scope="module")
def web() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def grant(
    web: httpx.Client, server: RunningServer, *, query: bool = False, **changes: str
) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "client_id": Z.DEFAULT_CLIENT_ID,
        "client_secret": Z.DEFAULT_CLIENT_SECRET,
        "refresh_token": Z.DEFAULT_REFRESH_TOKEN,
        **changes,
    }
    url = f"{server.url}/oauth/v2/token"
    return web.post(url, params=form) if query else web.post(url, data=form)


# -- the accounts simulator -------------------------------------------------------------------


@pytest.mark.parametrize("query", [False, True])
def test_simulator_grants_a_documented_token(
    web: httpx.Client, server: RunningServer, accounts: ZohoAccountsSimulator, query: bool
) -> None:
    response = grant(web, server, query=query)
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"access_token", "api_domain", "token_type", "expires_in"}
    assert body["expires_in"] == 3600 and body["token_type"] == "Bearer"
    assert accounts.is_live(body["access_token"])
    assert accounts.user_for(body["access_token"]) == Z.DEFAULT_USER_ID
    assert accounts.grant_count == 1 and accounts.grants_for(Z.DEFAULT_REFRESH_TOKEN) == 1


def test_simulator_tokens_expire_on_its_clock(
    web: httpx.Client, server: RunningServer, accounts: ZohoAccountsSimulator
) -> None:
    accounts.token_lifetime = 120
    token = grant(web, server).json()
    assert token["expires_in"] == 120
    accounts.clock.advance(119)
    assert accounts.is_live(token["access_token"])
    accounts.clock.advance(1)
    assert not accounts.is_live(token["access_token"])
    other = grant(web, server).json()["access_token"]
    accounts.expire(other)
    assert not accounts.is_live(other)
    assert not accounts.is_live("1000.forged.token")


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"client_id": "1000.UNKNOWN"}, "invalid_client"),
        ({"refresh_token": "1000.not.a.token"}, "invalid_code"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
    ],
)
def test_simulator_checks_every_credential(
    web: httpx.Client,
    server: RunningServer,
    accounts: ZohoAccountsSimulator,
    changes: dict[str, str],
    error: str,
) -> None:
    response = grant(web, server, **changes)
    assert response.status_code == 200  # Zoho reports these in the body
    assert response.json() == {"error": error}
    assert accounts.grant_count == 0


def test_simulator_refuses_revoked_and_foreign_refresh_tokens(
    web: httpx.Client, server: RunningServer, accounts: ZohoAccountsSimulator
) -> None:
    accounts.register_client("1000.OTHER", "other-secret")
    foreign = accounts.issue_refresh_token("1000.OTHER", "90000000005")
    assert grant(web, server, refresh_token=foreign).json() == {"error": "invalid_code"}
    live = grant(web, server).json()["access_token"]
    accounts.revoke(Z.DEFAULT_REFRESH_TOKEN)
    assert grant(web, server).json() == {"error": "invalid_code"}
    assert not accounts.is_live(live)


def test_simulator_allows_ten_tokens_per_ten_minutes(
    web: httpx.Client, server: RunningServer, accounts: ZohoAccountsSimulator
) -> None:
    assert all(grant(web, server).status_code == 200 for _ in range(10))
    refused = grant(web, server)
    assert refused.status_code == 400
    assert refused.json() == {"error": "Access Denied", "error_description": TOO_MANY_REQUESTS}
    assert accounts.grant_count == 10
    accounts.clock.advance(600)
    assert grant(web, server).status_code == 200


def test_simulator_rejects_other_methods_and_paths(
    web: httpx.Client, server: RunningServer, accounts: ZohoAccountsSimulator
) -> None:
    assert web.get(f"{server.url}/oauth/v2/token").status_code == 405
    assert web.post(f"{server.url}/oauth/v2/auth").status_code == 404
    assert [r["status"] for r in accounts.requests] == [405, 404]


# -- the token manager ------------------------------------------------------------------------


def test_token_is_cached_until_five_minutes_before_expiry(
    server: RunningServer, accounts: ZohoAccountsSimulator, http: UpstreamHTTP
) -> None:
    tokens = manager(server, accounts, http)
    first = tokens.token()
    assert tokens.token() == first and accounts.grant_count == 1
    accounts.clock.advance(3600 - 301)
    assert tokens.token() == first and accounts.grant_count == 1
    accounts.clock.advance(2)
    second = tokens.token()
    assert second != first and accounts.grant_count == 2
    assert accounts.is_live(second)


def test_hundred_concurrent_callers_cause_one_grant(
    server: RunningServer, accounts: ZohoAccountsSimulator, http: UpstreamHTTP
) -> None:
    accounts.latency = 0.2  # the grant is in flight while the other 99 arrive
    barrier = threading.Barrier(100)
    results: list[str] = []
    errors: list[BaseException] = []

    def call() -> None:
        # Each thread builds its own manager, as separate clients of one source would.
        tokens = manager(server, accounts, http)
        barrier.wait()
        try:
            results.append(tokens.token())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(results) == 100 and len(set(results)) == 1
    assert accounts.grant_count == 1
    assert len([r for r in accounts.requests if r["path"] == "/oauth/v2/token"]) == 1


def test_refresh_renews_only_the_token_that_failed(
    server: RunningServer, accounts: ZohoAccountsSimulator, http: UpstreamHTTP
) -> None:
    tokens = manager(server, accounts, http)
    first = tokens.token()
    second = tokens.refresh(first)
    assert second != first and accounts.grant_count == 2
    # A late 401 for the old token: someone already renewed it, so no new grant.
    assert tokens.refresh(first) == second and accounts.grant_count == 2


def test_clients_of_one_refresh_token_share_renewals_across_stores(
    server: RunningServer, accounts: ZohoAccountsSimulator, http: UpstreamHTTP
) -> None:
    one, other = manager(server, accounts, http), manager(server, accounts, http)
    first = one.token()
    assert other.token() == first
    renewed = one.refresh(first)
    assert other.refresh(first) == renewed and accounts.grant_count == 2


def test_concurrent_401s_cause_one_refresh(
    server: RunningServer, accounts: ZohoAccountsSimulator, http: UpstreamHTTP
) -> None:
    tokens = manager(server, accounts, http)
    rejected = tokens.token()
    accounts.latency = 0.1
    barrier = threading.Barrier(20)
    results: list[str] = []

    def on_401() -> None:
        barrier.wait()
        results.append(tokens.refresh(rejected))

    threads = [threading.Thread(target=on_401) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 20 and len(set(results)) == 1 and rejected not in results
    assert accounts.grant_count == 2


def test_token_persisted_in_a_store_survives_a_restart(
    server: RunningServer, accounts: ZohoAccountsSimulator, http: UpstreamHTTP
) -> None:
    store = MemoryTokenStore()
    first = manager(server, accounts, http, store).token()
    forget_cached_tokens()  # a new process
    assert manager(server, accounts, http, store).token() == first
    assert accounts.grant_count == 1
    [(key, (token, expires_at))] = store._tokens.items()
    assert token == first and Z.DEFAULT_REFRESH_TOKEN not in key
    assert expires_at == accounts.clock.now() + timedelta(seconds=3600)


def test_stored_token_near_expiry_or_rejected_is_replaced(
    server: RunningServer, accounts: ZohoAccountsSimulator, http: UpstreamHTTP
) -> None:
    store = MemoryTokenStore()
    first = manager(server, accounts, http, store).token()
    forget_cached_tokens()
    accounts.clock.advance(3600 - 200)
    second = manager(server, accounts, http, store).token()
    assert second != first and accounts.grant_count == 2
    forget_cached_tokens()
    third = manager(server, accounts, http, store).refresh(second)
    assert third not in (first, second) and accounts.grant_count == 3
    assert store.load(credentials(server).store_key)[0] == third


@pytest.mark.parametrize("error_status", [200, 400])
@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"refresh_token": "1000.revoked"}, "rejected the refresh token (invalid_code)"),
        ({"client_secret": "wrong"}, "rejected the client id or secret (invalid_client)"),
    ],
)
def test_grant_errors_say_what_to_do(
    server: RunningServer,
    accounts: ZohoAccountsSimulator,
    http: UpstreamHTTP,
    changes: dict[str, str],
    says: str,
    error_status: int,
) -> None:
    accounts.error_status = error_status
    with pytest.raises(UpstreamAuthError) as caught:
        manager(server, accounts, http, **changes).token()
    message = str(caught.value)
    assert message.startswith("academy: Zoho ") and says in message
    assert "update this source" in message or "API console" in message


def test_zoho_rate_limit_is_an_auth_error_that_says_wait(
    server: RunningServer, accounts: ZohoAccountsSimulator, http: UpstreamHTTP
) -> None:
    accounts.grant_limit = 1
    tokens = manager(server, accounts, http)
    tokens.token()
    with pytest.raises(UpstreamAuthError, match="too many token requests") as caught:
        tokens.refresh(tokens.token())
    assert "10 per 10 minutes" in str(caught.value) and caught.value.status == 400


def test_local_budget_stops_before_zoho_would(
    server: RunningServer, accounts: ZohoAccountsSimulator, http: UpstreamHTTP
) -> None:
    accounts.grant_limit = 100
    tokens = manager(server, accounts, http)
    token = tokens.token()
    for _ in range(8):
        token = tokens.refresh(token)
    requests_before = len(accounts.requests)
    with pytest.raises(UpstreamAuthError, match="already obtained 9 Zoho access tokens"):
        tokens.refresh(token)
    # One grant below Zoho's 10 per 10 minutes.
    assert len(accounts.requests) == requests_before and accounts.grant_count == 9


def test_grants_are_never_retried_so_no_token_is_spent_twice(
    server: RunningServer, http: UpstreamHTTP
) -> None:
    calls: list[int] = []

    def broken(environ, start_response):
        calls.append(1)
        start_response("503 Service Unavailable", [("Content-Type", "application/json")])
        return [b'{"error": "maintenance"}']

    server.server.app.accounts = broken
    tokens = ZohoTokenManager("academy", credentials(server), http=http)
    with pytest.raises(UpstreamUnavailable, match="after 1 attempt"):
        tokens.token()
    assert len(calls) == 1


@pytest.mark.parametrize("payload", [b"<html>login</html>", b"[1, 2]", b'{"expires_in": 3600}'])
def test_unreadable_grant_answers_are_errors(
    server: RunningServer, http: UpstreamHTTP, payload: bytes
) -> None:
    def odd(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [payload]

    server.server.app.accounts = odd
    with pytest.raises((UpstreamProtocolError, UpstreamAuthError)):
        ZohoTokenManager("academy", credentials(server), http=http).token()


def test_missing_expires_in_means_one_hour(server: RunningServer, http: UpstreamHTTP) -> None:
    def no_expiry(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"access_token": "1000.abc", "token_type": "Bearer"}']

    server.server.app.accounts = no_expiry
    moment = datetime(2025, 1, 1, 12, 0).astimezone()
    store = MemoryTokenStore()
    tokens = ZohoTokenManager(
        "academy", credentials(server), http=http, store=store, now=lambda: moment
    )
    assert tokens.token() == "1000.abc"
    assert store.load(credentials(server).store_key) == ("1000.abc", moment + timedelta(hours=1))


def test_fixed_access_token_cannot_be_renewed() -> None:
    tokens = FixedAccessToken("academy", "1000.fixed")
    assert tokens.token() == "1000.fixed"
    with pytest.raises(UpstreamAuthError, match="refresh token") as caught:
        tokens.refresh("1000.fixed")
    assert caught.value.status == 401 and str(caught.value).startswith("academy: ")


def test_credentials_never_show_their_secrets() -> None:
    creds = ZohoCredentials("1000.ID", "s3cret", "1000.refresh.secret")
    assert "s3cret" not in repr(creds) and "refresh.secret" not in repr(creds)
    assert "refresh.secret" not in creds.store_key


def test_an_oversized_token_answer_is_refused(http: UpstreamHTTP) -> None:
    """A token answer is a few hundred bytes; one of 100 KB is refused, not parsed."""
    body = json.dumps({"access_token": "t-1", "expires_in": 3600, "pad": "x" * 100_000})

    def accounts_answering_too_much(environ: dict, start_response: Callable) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body.encode()]

    with serving(accounts_answering_too_much) as running:
        tokens = ZohoTokenManager(
            "academy", ZohoCredentials("id-1", "secret-1", "refresh-1", running.url), http=http
        )
        with pytest.raises(UpstreamProtocolError, match=f"{MAX_TOKEN_BODY_BYTES:,}-byte limit"):
            tokens.token()
