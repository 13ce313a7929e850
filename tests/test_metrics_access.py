"""Who may read /metrics (bridge/web/metrics_access.py): a CALBRIDGE_METRICS_TOKEN when one
is set; otherwise loopback clients that no proxy relayed, or the admin token."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge import create_app
from bridge.settings import Settings
from tests.web_support import make_harness

REMOTE = {"REMOTE_ADDR": "203.0.113.7"}
LOCAL = {"REMOTE_ADDR": "127.0.0.1"}


@pytest.fixture
def client_with(tmp_path: Path):  # type: ignore[no-untyped-def]
    base = make_harness(tmp_path)

    def build(**settings: Any) -> FlaskClient:
        configured = replace(base.services.settings, **settings)
        return create_app(
            configured, clock=base.clock, client_factory=lambda *a, **k: base.upstream
        ).test_client()

    return build


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def is_metrics(response: Any) -> bool:
    return response.status_code == 200 and b"calbridge_http_requests_total" in response.data


def test_without_tokens_only_local_clients_not_behind_a_proxy_are_answered(client_with) -> None:  # type: ignore[no-untyped-def]
    client = client_with()
    assert is_metrics(client.get("/metrics", environ_base=LOCAL))
    assert is_metrics(client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}))
    remote = client.get("/metrics", environ_base=REMOTE)
    assert remote.status_code == 403 and "CALBRIDGE_METRICS_TOKEN" in remote.get_data(as_text=True)
    assert b"calbridge_" not in remote.data
    proxied = client.get("/metrics", environ_base=LOCAL, headers={"X-Forwarded-For": "203.0.113.7"})
    assert proxied.status_code == 403
    forwarded = client.get("/metrics", environ_base=LOCAL, headers={"Forwarded": "for=1.2.3.4"})
    assert forwarded.status_code == 403


def test_remote_clients_may_use_the_admin_token(client_with) -> None:  # type: ignore[no-untyped-def]
    client = client_with(admin_token="admin-token-for-tests")
    assert is_metrics(client.get("/metrics", environ_base=LOCAL))
    anonymous = client.get("/metrics", environ_base=REMOTE)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer ")
    wrong = client.get("/metrics", environ_base=REMOTE, headers=bearer("guess"))
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    assert is_metrics(
        client.get("/metrics", environ_base=REMOTE, headers=bearer("admin-token-for-tests"))
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
