"""Who may read /metrics (bridge/web/metrics_access.py): the CALBRIDGE_METRICS_TOKEN when one
is set, else the CALBRIDGE_ADMIN_TOKEN when that is set, loopback clients included; with no
token only loopback clients that no proxy relayed, and only on a loopback public URL."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge.app import create_app
from bridge.settings import Settings
from tests.web_support import make_harness

REMOTE = {"REMOTE_ADDR": "203.0.113.7"}
LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
PRIVATE_URL = "http://127.0.0.1:8000"


@pytest.fixture
def client_with(tmp_path: Path):  # type: ignore[no-untyped-def]
    base = make_harness(tmp_path)

    def build(**settings: Any) -> FlaskClient:
        configured = replace(base.services.settings, **settings)
        return create_app(
            configured,
            clock=base.clock,
            client_factory=lambda *a, **k: base.upstream,
            immediate_jobs=True,
        ).test_client()

    return build


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def is_metrics(response: Any) -> bool:
    return response.status_code == 200 and b"calbridge_http_requests_total" in response.data


def test_without_tokens_a_private_install_answers_local_clients_not_behind_a_proxy(
    client_with,  # type: ignore[no-untyped-def]
) -> None:
    client = client_with(public_url=PRIVATE_URL)
    assert is_metrics(client.get("/metrics", environ_base=LOCAL))
    assert is_metrics(client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}))
    remote = client.get("/metrics", environ_base=REMOTE)
    assert remote.status_code == 403 and "CALBRIDGE_METRICS_TOKEN" in remote.get_data(as_text=True)
    assert b"calbridge_" not in remote.data
    proxied = client.get("/metrics", environ_base=LOCAL, headers={"X-Forwarded-For": "203.0.113.7"})
    assert proxied.status_code == 403
    forwarded = client.get("/metrics", environ_base=LOCAL, headers={"Forwarded": "for=1.2.3.4"})
    assert forwarded.status_code == 403


@pytest.mark.parametrize("public_url", ["http://localhost:8000", "http://[::1]:8000"])
def test_localhost_names_count_as_a_private_install(client_with, public_url: str) -> None:  # type: ignore[no-untyped-def]
    assert is_metrics(client_with(public_url=public_url).get("/metrics", environ_base=LOCAL))


def test_without_tokens_a_public_install_refuses_even_loopback_clients(client_with) -> None:  # type: ignore[no-untyped-def]
    # Behind `proxy_pass` on the same machine every visitor arrives from 127.0.0.1 unmarked.
    client = client_with(public_url="https://cal.example.org")
    for environ in (LOCAL, REMOTE):
        refused = client.get("/metrics", environ_base=environ)
        assert refused.status_code == 403
        assert "WWW-Authenticate" not in refused.headers
        assert "CALBRIDGE_METRICS_TOKEN" in refused.get_data(as_text=True)
        assert b"calbridge_" not in refused.data


def test_the_admin_token_is_required_from_everyone_when_no_metrics_token_is_set(
    client_with,
) -> None:  # type: ignore[no-untyped-def]
    client = client_with(public_url=PRIVATE_URL, admin_token="admin-token-for-tests")
    for environ in (LOCAL, REMOTE):
        anonymous = client.get("/metrics", environ_base=environ)
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer ")
        assert b"calbridge_" not in anonymous.data
        wrong = client.get("/metrics", environ_base=environ, headers=bearer("guess"))
        assert wrong.status_code == 401
        assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
        assert is_metrics(
            client.get("/metrics", environ_base=environ, headers=bearer("admin-token-for-tests"))
        )


def test_a_metrics_token_is_required_from_everyone(client_with) -> None:  # type: ignore[no-untyped-def]
    client = client_with(metrics_token="scrape-token", admin_token="admin-token-for-tests")
    for environ in (LOCAL, REMOTE):
        refused = client.get("/metrics", environ_base=environ)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer ")
        assert b"calbridge_" not in refused.data
        admin = client.get(
            "/metrics", environ_base=environ, headers=bearer("admin-token-for-tests")
        )
        assert admin.status_code == 401
        assert is_metrics(
            client.get("/metrics", environ_base=environ, headers=bearer("scrape-token"))
        )


def test_the_metrics_token_is_read_from_the_environment(tmp_path: Path) -> None:
    environ = {"CALBRIDGE_SECRET_KEY": "k" * 32, "CALBRIDGE_METRICS_TOKEN": "  scrape  "}
    assert Settings.from_env(environ, instance_path=tmp_path).metrics_token == "scrape"
    del environ["CALBRIDGE_METRICS_TOKEN"]
    assert Settings.from_env(environ, instance_path=tmp_path).metrics_token is None
    assert "scrape" not in repr(
        Settings.from_env(environ | {"CALBRIDGE_METRICS_TOKEN": "scrape"}, instance_path=tmp_path)
    )
