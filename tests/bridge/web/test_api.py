"""The admin API (/api/v1) through Flask's test client, on a real SQLite database in tmp_path.

Upstreams are real loopback servers (the TagMango simulator) or a loopback port where nothing
listens; nothing here leaves 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bridge.app import create_app
from bridge.settings import Settings
from bridge.simulator.server import RunningServer, serving
from bridge.simulator.tagmango import DEMO_HOST, DEMO_KEY, TagMangoSimulator

PUBLIC_URL = "http://127.0.0.1:8000"
ADMIN_TOKEN = "admin-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TM_SECRET = "tm-secret-api-key-7f3a"
TC_SECRETS = ("tc-access-9b1c", "tc-client-id-44", "tc-client-secret-55", "tc-refresh-66")


def make_app(tmp_path: Path, admin_token: str | None = ADMIN_TOKEN) -> Flask:
    settings = Settings.for_demo(tmp_path, PUBLIC_URL)
    return create_app(dataclasses.replace(settings, admin_token=admin_token), immediate_jobs=True)


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return make_app(tmp_path).test_client()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    """One app for the tests that change nothing: source "tm" (upstream down) and feed 1."""
    client = make_app(tmp_path_factory.mktemp("shared")).test_client()
    assert add_feed(client)["id"] == 1
    return client


def dead_origin() -> str:
    """A loopback origin where nothing listens (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def post(client: FlaskClient, path: str, body: Any = None, **kwargs: Any) -> Any:
    headers = {**AUTH, **kwargs.pop("headers", {})}
    if body is not None:
        kwargs["json"] = body
    return client.post(f"/api/v1{path}", headers=headers, **kwargs)


def get(client: FlaskClient, path: str, **kwargs: Any) -> Any:
    return client.get(f"/api/v1{path}", headers={**AUTH, **kwargs.pop("headers", {})}, **kwargs)


def assert_error(response: Any, status: int, code: str, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] == code
    for fragment in fragments:
        assert fragment in error["message"]
    return error


def tagmango_body(name: str = "tm", api_base: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"kind": "tagmango", "name": name, "token": TM_SECRET, "whitelabel_host": DEMO_HOST}
    if api_base is not None:
        body["api_base"] = api_base
    return {**body, **extra}


def trainercentral_body(name: str = "tc", **extra: Any) -> dict[str, Any]:
    body = {
        "kind": "trainercentral",
        "name": name,
        "org_id": "100000000",
        "academy_url": dead_origin(),
        "access_token": TC_SECRETS[0],
    }
    return {**body, **extra}


def add_feed(client: FlaskClient, source_body: dict[str, Any] | None = None) -> dict[str, Any]:
    body = source_body or tagmango_body(api_base=dead_origin())
    assert post(client, "/sources", body).status_code == 201
    response = post(client, "/feeds", {"name": "Workshops", "sources": [body["name"]]})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def tagmango() -> Iterator[RunningServer]:
    simulator = TagMangoSimulator.seeded(datetime.now(UTC))
    with serving(simulator) as server:
        yield server


# -- authentication ----------------------------------------------------------------------------


def test_disabled_without_admin_token(tmp_path: Path) -> None:
    client = make_app(tmp_path, admin_token=None).test_client()
    for response in (get(client, "/sources"), post(client, "/feeds", {"name": "x"})):
        assert_error(response, 403, "admin_api_disabled", "CALBRIDGE_ADMIN_TOKEN is not set")
    assert client.get("/api/v1/openapi.json").status_code == 200


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", f"Basic {ADMIN_TOKEN}", ADMIN_TOKEN],
    ids=["absent", "empty", "no-token", "blank-token", "basic", "no-scheme"],
)
def test_missing_token_is_401_with_challenge(shared: FlaskClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = shared.get("/api/v1/feeds", headers=headers)
    assert_error(response, 401, "unauthorized", "Authorization: Bearer")
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


@pytest.mark.parametrize(
    "token", [ADMIN_TOKEN[:-1], ADMIN_TOKEN + "x", ADMIN_TOKEN.upper(), "é" * 8, "a"]
)
def test_wrong_token_is_401_invalid_token(shared: FlaskClient, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}".encode().decode("latin-1")}
    response = shared.post("/api/v1/feeds/1/revoke", headers=headers)
    assert_error(response, 401, "unauthorized", "not the admin token")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_scheme_is_case_insensitive(shared: FlaskClient) -> None:
    response = shared.get("/api/v1/sources", headers={"Authorization": f"bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200


def test_openapi_document_needs_no_token(shared: FlaskClient) -> None:
    response = shared.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": PUBLIC_URL}]


# -- routing -----------------------------------------------------------------------------------


def test_unknown_route_is_json_404(shared: FlaskClient) -> None:
    assert_error(get(shared, "/nothing-here"), 404, "not_found", "openapi.json")
    assert_error(get(shared, ""), 404, "not_found")


@pytest.mark.parametrize("feed_id", ["0", "-1", "abc", "2147483648", "9" * 30])
def test_ids_out_of_range_are_404(shared: FlaskClient, feed_id: str) -> None:
    assert_error(get(shared, f"/feeds/{feed_id}"), 404, "not_found")


def test_wrong_method_is_json_405_with_allow(shared: FlaskClient) -> None:
    response = shared.delete("/api/v1/feeds", headers=AUTH)
    assert_error(response, 405, "method_not_allowed", "DELETE")
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["Allow"].split(",")}
    assert_error(get(shared, "/feeds/1/rotate"), 405, "method_not_allowed")


def test_other_blueprints_keep_their_error_formats(shared: FlaskClient) -> None:
    for path in ("/no/such/page", "/f/unknown-token", "/api", "/api/v2/feeds"):
        response = shared.get(path)
        assert response.status_code == 404
        assert response.mimetype == "text/html"


# -- sources -----------------------------------------------------------------------------------


def test_add_and_list_sources_without_secrets(client: FlaskClient) -> None:
    tm = post(client, "/sources", tagmango_body(mangoes=["m1", "m2"], timezone="Europe/Berlin"))
    assert tm.status_code == 201
    created = tm.get_json()
    assert created.pop("webhook_url").startswith("http://127.0.0.1:8000/hooks/tagmango/")
    assert created == {
        "id": 1,
        "name": "tm",
        "kind": "tagmango",
        "whitelabel_host": DEMO_HOST,
        "api_base": "https://api-prod-new.tagmango.com",
        "timezone": "Europe/Berlin",
        "mangoes": ["m1", "m2"],
        "user": None,
    }
    token_source = post(client, "/sources", trainercentral_body(filter="5"))
    assert token_source.status_code == 201
    assert token_source.get_json()["filter"] == "5"
    oauth = trainercentral_body("tc-oauth")
    del oauth["access_token"]
    oauth.update(client_id=TC_SECRETS[1], client_secret=TC_SECRETS[2], refresh_token=TC_SECRETS[3])
    oauth_source = post(client, "/sources", oauth)
    assert oauth_source.status_code == 201
    assert oauth_source.get_json()["accounts_url"] == "https://accounts.zoho.com"

    listed = get(client, "/sources")
    assert listed.status_code == 200
    assert [s["name"] for s in listed.get_json()["sources"]] == ["tm", "tc", "tc-oauth"]
    for response in (tm, token_source, oauth_source, listed):
        text = response.get_data(as_text=True)
        for secret in (TM_SECRET, *TC_SECRETS):
            assert secret not in text
        assert "token" not in response.get_json() and "client_secret" not in text


def test_duplicate_source_name_is_409(client: FlaskClient) -> None:
    assert post(client, "/sources", tagmango_body()).status_code == 201
    assert_error(post(client, "/sources", tagmango_body()), 409, "conflict", "already exists")
    assert_error(post(client, "/sources", tagmango_body(" tm ")), 409, "conflict")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "must be an object"),
        ("tagmango", "must be an object"),
        ({"name": "x"}, "'kind'"),
        ({"kind": "zoom", "name": "x"}, "tagmango or trainercentral"),
        ({**tagmango_body(), "api_key": "k"}, "'api_key' was unexpected"),
        ({k: v for k, v in tagmango_body().items() if k != "token"}, "'token' is a required"),
        (tagmango_body(name=7), "field 'name' must be a string"),
        (tagmango_body(name="   "), "visible character"),
        (tagmango_body(name="x" * 101), "field 'name'"),
        (tagmango_body(name="a\u0000b"), "control characters"),
        (tagmango_body(token="has space"), "printable ASCII"),
        # JSON Schema's `$` ends the string (Python's would also allow a final newline)
        (tagmango_body(token="k\n"), "printable ASCII"),
        (tagmango_body(whitelabel_host="me.tagmango.com\n"), "host name"),
        (tagmango_body(timezone="Mars/Olympus"), "IANA time zone"),
        (tagmango_body(api_base="ftp://example.com"), "http(s) URL"),
        (tagmango_body(api_base="http://[::1"), "http(s) URL"),
        (tagmango_body(api_base="http://example.com:99999"), "http(s) URL"),
        (tagmango_body(mangoes="m1,m2"), "must be an array"),
        (tagmango_body(mangoes=[1]), "field 'mangoes.0' must be a string"),
        (tagmango_body(whitelabel_host="https://me.tagmango.com"), "host name"),
        (trainercentral_body(client_id="c"), "not both"),
        ({**trainercentral_body(), "access_token": None}, "field 'access_token'"),
        ({k: v for k, v in trainercentral_body().items() if k != "access_token"}, "give access"),
        (trainercentral_body(filter=5), "field 'filter' must be a string"),
        (trainercentral_body(filter="3"), "one of 1, 5"),
        (trainercentral_body(org_id="1/../2"), "letters, digits"),
        (trainercentral_body(token="t"), "'token' was unexpected"),
    ],
)
def test_bad_source_bodies_are_400(shared: FlaskClient, body: Any, fragment: str) -> None:
    error = assert_error(post(shared, "/sources", body), 400, "invalid_request")
    assert fragment.lower() in error["message"].lower()
    assert [source["name"] for source in get(shared, "/sources").json["sources"]] == ["tm"]


@pytest.mark.parametrize(
    "data", [b"{", b'{"kind": "tagmango",}', b"\xff\xfe{", b"[" * 20_000, b"NaN]"]
)
def test_malformed_json_is_400(shared: FlaskClient, data: bytes) -> None:
    response = shared.post(
        "/api/v1/sources", data=data, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert_error(response, 400, "malformed_json")


def test_lone_surrogate_is_400(shared: FlaskClient) -> None:
    data = b'{"kind": "tagmango", "name": "\\ud800", "token": "t", "whitelabel_host": "a.b"}'
    response = shared.post(
        "/api/v1/sources", data=data, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert_error(response, 400, "malformed_json")


def test_body_must_be_json(shared: FlaskClient) -> None:
    response = shared.post(
        "/api/v1/sources", data="kind=tagmango", headers={**AUTH, "Content-Type": "text/plain"}
    )
    assert_error(response, 415, "unsupported_media_type", "application/json")
    assert_error(post(shared, "/sources"), 400, "invalid_request", "empty")


def test_oversized_body_is_413(shared: FlaskClient) -> None:
    body = tagmango_body(user="u" * 100_000)
    assert_error(post(shared, "/sources", body), 413, "payload_too_large")


# -- feeds -------------------------------------------------------------------------------------


def test_create_list_show_feed(client: FlaskClient) -> None:
    assert post(client, "/sources", tagmango_body()).status_code == 201
    body = {
        "name": "Asha's workshops",
        "sources": ["tm"],
        "timezone": "Asia/Kolkata",
        "history_days": 7.0,  # integral numbers are integers in JSON Schema
        "horizon_days": 90,
        "user": "user-1",
        "mangoes": ["m1"],
        "alarm_minutes": 0,
    }
    response = post(client, "/feeds", body)
    assert response.status_code == 201, response.get_data(as_text=True)
    feed = response.get_json()
    assert response.headers["Location"] == f"/api/v1/feeds/{feed['id']}"
    assert feed["ics_url"].startswith(f"{PUBLIC_URL}/f/") and feed["ics_url"].endswith(".ics")
    assert feed["webcal_url"] == "webcal://" + feed["ics_url"].split("://", 1)[1]
    assert feed["page_url"] == feed["ics_url"].removesuffix(".ics")
    assert (feed["history_days"], feed["horizon_days"], feed["alarm_minutes"]) == (7, 90, None)
    assert (feed["user"], feed["mangoes"], feed["sources"]) == ("user-1", ["m1"], ["tm"])

    listed = get(client, "/feeds").get_json()["feeds"]
    assert [f["id"] for f in listed] == [feed["id"]]
    assert "ics_url" not in listed[0]  # secret URLs are shown on create and rotate only
    shown = get(client, f"/feeds/{feed['id']}")
    assert shown.status_code == 200
    assert shown.get_json()["shares"] == []
    assert shown.get_json()["name"] == "Asha's workshops"


def test_create_feed_errors(client: FlaskClient) -> None:
    assert post(client, "/sources", trainercentral_body()).status_code == 201
    assert_error(post(client, "/feeds", {"name": "F", "sources": ["nope"]}), 404, "not_found")
    narrowed = {"name": "F", "sources": ["tc"], "user": "u1"}
    assert_error(post(client, "/feeds", narrowed), 422, "unprocessable", "TagMango")
    for body, fragment in [
        ({"name": "F"}, "'sources' is a required"),
        ({"name": "F", "sources": []}, "field 'sources'"),
        ({"name": "F", "sources": "tc"}, "must be an array"),
        ({"name": "F", "sources": ["tc"], "history_days": -1}, "history_days"),
        ({"name": "F", "sources": ["tc"], "horizon_days": 0}, "horizon_days"),
        ({"name": "F", "sources": ["tc"], "history_days": 10**30}, "history_days"),
        ({"name": "F", "sources": ["tc"], "history_days": "30"}, "must be an integer"),
        ({"name": "F", "sources": ["tc"], "history_days": True}, "must be an integer"),
        ({"name": "F", "sources": ["tc"], "history_days": 1.5}, "must be an integer"),
        ({"name": "F", "sources": ["tc"], "alarm_minutes": 10081}, "alarm_minutes"),
        ({"name": "F", "sources": ["tc"], "timezone": "CEST"}, "IANA"),
        ({"name": "F", "sources": ["tc"], "colour": "red"}, "'colour' was unexpected"),
    ]:
        error = assert_error(post(client, "/feeds", body), 400, "invalid_request")
        assert fragment.lower() in error["message"].lower(), (body, error)
    assert get(client, "/feeds").get_json() == {"feeds": []}


def test_unknown_feed_is_404_everywhere(shared: FlaskClient) -> None:
    assert_error(get(shared, "/feeds/41"), 404, "not_found", "41")
    assert_error(post(shared, "/feeds/41/rotate"), 404, "not_found")
    assert_error(post(shared, "/feeds/41/revoke"), 404, "not_found")
    assert_error(post(shared, "/feeds/41/shares", {}), 404, "not_found")
    assert_error(get(shared, "/feeds/41/export"), 404, "not_found")
    assert_error(post(shared, "/shares/41/revoke"), 404, "not_found")


def token_of(links: dict[str, Any]) -> str:
    return links["page_url"].rsplit("/", 1)[1]


def test_rotate_gives_a_new_url_and_kills_the_old(client: FlaskClient) -> None:
    store = client.application.extensions["calbridge"].store
    feed = add_feed(client)
    assert store.feed_by_token(token_of(feed)).id == feed["id"]
    rotated = post(client, f"/feeds/{feed['id']}/rotate")
    assert rotated.status_code == 200
    new = rotated.get_json()
    assert new["ics_url"] != feed["ics_url"] and new["rotated_at"] is not None
    assert store.feed_by_token(token_of(feed)) is None
    assert store.feed_by_token(token_of(new)).id == feed["id"]


def test_revoke_feed_then_refuse_changes(client: FlaskClient) -> None:
    feed = add_feed(client)
    revoked = post(client, f"/feeds/{feed['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.get_json()["revoked_at"] is not None
    assert "ics_url" not in revoked.get_json()
    store = client.application.extensions["calbridge"].store
    assert store.feed_by_token(token_of(feed)).revoked_at is not None
    again = post(client, f"/feeds/{feed['id']}/revoke")
    assert again.status_code == 200
    assert again.get_json()["revoked_at"] == revoked.get_json()["revoked_at"]
    assert_error(post(client, f"/feeds/{feed['id']}/rotate"), 409, "conflict", "revoked")
    assert_error(post(client, f"/feeds/{feed['id']}/shares", {}), 409, "conflict", "revoked")
    assert_error(get(client, f"/feeds/{feed['id']}/export"), 409, "conflict", "revoked")


# -- share links -------------------------------------------------------------------------------


def test_share_and_revoke_share(client: FlaskClient) -> None:
    feed = add_feed(client)
    default = post(client, f"/feeds/{feed['id']}/shares")  # no body: the defaults
    assert default.status_code == 201, default.get_data(as_text=True)
    assert default.get_json()["scope"] == "busy"
    assert default.get_json()["expires_at"] is None
    full = post(client, f"/feeds/{feed['id']}/shares", {"scope": "full", "expires": "2999-01-31"})
    assert full.status_code == 201
    share = full.get_json()
    assert share["scope"] == "full" and share["expires_at"].startswith("2999-01-31T23:59:59")
    assert share["feed_id"] == feed["id"] and share["ics_url"] != feed["ics_url"]
    instant = post(client, f"/feeds/{feed['id']}/shares", {"expires": "2999-01-31T10:00:00Z"})
    assert instant.get_json()["expires_at"] == "2999-01-31T10:00:00+00:00"

    shares = get(client, f"/feeds/{feed['id']}").get_json()["shares"]
    assert [s["id"] for s in shares] == [default.get_json()["id"], share["id"], instant.json["id"]]
    assert all("ics_url" not in s for s in shares)

    revoked = post(client, f"/shares/{share['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.get_json()["revoked_at"] is not None
    store = client.application.extensions["calbridge"].store
    assert store.share_by_token(token_of(share)).revoked_at is not None
    assert post(client, f"/shares/{share['id']}/revoke").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"scope": "everything"}, 400, "full, no-links, busy"),
        ({"scope": None}, 400, "must be a string"),
        ({"expires": "next week"}, 400, "date like"),
        ({"expires": 20270131}, 400, "must be a string"),
        ({"until": "2999-01-01"}, 400, "'until' was unexpected"),
        ([], 400, "must be an object"),
        ({"expires": "2001-01-01"}, 422, "in the past"),
        ({"expires": "2999-13-45"}, 400, "date like"),
        ({"expires": "2370-66-00"}, 400, "date like"),
        ({"expires": "2999-01-31\n"}, 400, "date like"),
        ({"expires": "2999-04-31T10:00Z"}, 400, "date like"),
        ({"expires": "2999-02-29"}, 422, "date like"),  # a common year: the pattern's one gap
        ({"expires": "9999-12-31T23:00:00-23:00"}, 422, "out of range"),
    ],
)
def test_bad_share_requests(shared: FlaskClient, body: Any, status: int, fragment: str) -> None:
    response = post(shared, "/feeds/1/shares", body)
    code = "invalid_request" if status == 400 else "unprocessable"
    assert_error(response, status, code, fragment)


# -- export ------------------------------------------------------------------------------------


def test_export_renders_the_calendar(client: FlaskClient, tagmango: RunningServer) -> None:
    body = tagmango_body(api_base=tagmango.url, token=DEMO_KEY)
    feed = add_feed(client, body)
    response = get(client, f"/feeds/{feed['id']}/export")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/calendar"
    assert response.headers["Content-Disposition"] == 'attachment; filename="workshops.ics"'
    text = response.get_data(as_text=True)
    assert text.startswith("BEGIN:VCALENDAR") and "BEGIN:VEVENT" in text
    expanded = get(client, f"/feeds/{feed['id']}/export", query_string={"expand": "true"})
    assert expanded.status_code == 200
    assert "RRULE" not in expanded.get_data(as_text=True)


def test_export_with_a_rejected_key_is_503(client: FlaskClient, tagmango: RunningServer) -> None:
    feed = add_feed(client, tagmango_body(api_base=tagmango.url, token="wrong-key"))
    response = get(client, f"/feeds/{feed['id']}/export")
    assert_error(response, 503, "feed_unavailable", "no data yet")
    assert int(response.headers["Retry-After"]) > 0
    assert "wrong-key" not in response.get_data(as_text=True)


def test_export_with_unreachable_upstream_is_503(client: FlaskClient) -> None:
    feed = add_feed(client, tagmango_body(api_base=dead_origin()))
    assert_error(get(client, f"/feeds/{feed['id']}/export"), 503, "feed_unavailable")


@pytest.mark.parametrize("expand", ["yes", "1", "TRUE", ""])
def test_export_expand_must_be_true_or_false(shared: FlaskClient, expand: str) -> None:
    response = get(shared, "/feeds/1/export", query_string={"expand": expand})
    assert_error(response, 400, "invalid_request", "must be true or false")


def test_responses_are_json_objects(client: FlaskClient) -> None:
    feed = add_feed(client)
    for response in (get(client, "/sources"), get(client, "/feeds"), get(client, "/feeds/1")):
        assert response.mimetype == "application/json"
        assert isinstance(json.loads(response.get_data()), dict)
    assert feed["id"] == 1
