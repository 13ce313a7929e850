"""The admin API's OpenAPI document: valid OpenAPI, in step with the routes, and fuzzed.

Schemathesis drives every operation in-process (WSGI) with generated valid and invalid
requests and checks the answers: no server errors, documented status codes, content types,
headers and bodies matching the response schemas, auth enforced. Seeded sources point at
loopback ports where nothing listens, and any other upstream is refused before connecting,
so fuzzing never leaves 127.0.0.1 (not even for a DNS lookup).
"""

from __future__ import annotations

import atexit
import dataclasses
import shutil
import socket
import tempfile
from calendar import isleap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import from_regex
from jsonschema import Draft202012Validator
from schemathesis.generation.modes import GenerationMode

from bridge.app import create_app
from bridge.operations import OperationError, parse_expiry
from bridge.settings import Settings
from bridge.upstream.clients import build_client
from bridge.upstream.errors import UpstreamUnavailable
from bridge.web.openapi import API_PREFIX, EXPIRES_PATTERN, SCHEMAS, document

PUBLIC_URL = "http://127.0.0.1:8000"
ADMIN_TOKEN = "fuzz-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def dead_origin() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def loopback_only(
    kind: str, name: str, source_settings: Any, credentials: Any, *args: Any, **kwargs: Any
) -> Any:
    """The real upstream client, but only for loopback origins (fuzzed sources use any host)."""
    for key in ("api_base", "academy_url", "accounts_url"):
        origin = source_settings.get(key)
        if origin and urlsplit(origin).hostname != "127.0.0.1":
            raise UpstreamUnavailable(name, f"tests do not connect to {origin}")
    return build_client(kind, name, source_settings, credentials, *args, **kwargs)


def seeded_app(instance: Path) -> Flask:
    settings = Settings.for_demo(instance, PUBLIC_URL)
    app = create_app(
        dataclasses.replace(settings, admin_token=ADMIN_TOKEN),
        client_factory=loopback_only,
        immediate_jobs=True,
    )
    client = app.test_client()

    def post(path: str, body: dict[str, Any]) -> None:
        response = client.post(f"{API_PREFIX}{path}", json=body, headers=AUTH)
        assert response.status_code == 201, response.get_data(as_text=True)

    origin = dead_origin()
    tagmango = {"kind": "tagmango", "token": "k", "whitelabel_host": "a.example"}
    post("/sources", {**tagmango, "name": "tm", "api_base": origin})
    post(
        "/sources",
        {
            "kind": "trainercentral",
            "name": "tc",
            "org_id": "1",
            "academy_url": origin,
            "accounts_url": origin,
            "access_token": "t",
        },
    )
    post("/feeds", {"name": "one", "sources": ["tm"]})
    post("/feeds", {"name": "two", "sources": ["tc", "tm"]})
    post("/feeds/1/shares", {"scope": "full"})
    assert client.post(f"{API_PREFIX}/feeds/2/revoke", headers=AUTH).status_code == 200
    return app


def _instance_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="calbridge-openapi-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


# Built at import because @schema.parametrize() needs the schema when tests are collected.
APP = seeded_app(_instance_folder())
schema = schemathesis.openapi.from_wsgi(f"{API_PREFIX}/openapi.json", APP)
# The coverage phase's valid cases each write a source or feed (slow, and fuzzing covers
# valid data); its invalid ones check every documented constraint, so keep those.
schema.config.phases.coverage.generation.modes = [GenerationMode.NEGATIVE]
checks = schema.config.checks
# Every answer's status must be one its operation documents (with its headers and body).
checks.status_code_conformance.enabled = True
checks.response_headers_conformance.enabled = True
# 422 answers requests that match the schema but that the operation refuses for what no schema
# can say: an expiry in the past (or February 29 of a common year), a participant filter on a
# TrainerCentral source. Each operation that does so documents its 422.
checks.positive_data_acceptance.expected_statuses = [
    *checks.positive_data_acceptance.expected_statuses,
    "422",
]
# Export answers 503 with Retry-After while the feed has no data (its upstream, a dead loopback
# port here, is unreachable) and 502 when an upstream errs: both documented for export only, so
# status_code_conformance fails them anywhere else. 500, and any other 5xx, still fails.
checks.not_a_server_error.expected_statuses = [
    *checks.not_a_server_error.expected_statuses,
    "502",
    "503",
]


def test_document_is_valid_openapi() -> None:
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    for component in SCHEMAS.values():
        Draft202012Validator.check_schema(component)


def test_served_document_is_this_one() -> None:
    response = APP.test_client().get(f"{API_PREFIX}/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == document(PUBLIC_URL)


def test_document_matches_the_routes() -> None:
    documented = {
        (path, method.upper())
        for path, item in document("http://x").get("paths", {}).items()
        for method in item
    }
    routed = set()
    for rule in APP.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX):
            continue
        path = rule.rule
        for converter in ("feed_id", "share_id", "source"):
            path = _replace_converter(path, converter)
        routed |= {(path, method) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed == documented


def _replace_converter(path: str, name: str) -> str:
    start = path.find("<")
    while start != -1:
        end = path.index(">", start)
        if path[start:end].endswith(f":{name}"):
            path = path[:start] + "{" + name + "}" + path[end + 1 :]
        start = path.find("<", start + 1)
    return path


def test_every_operation_documents_auth_and_errors() -> None:
    spec = document("http://x")
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if path.endswith("/openapi.json"):
                assert operation["security"] == []
                continue
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
            if "requestBody" in operation:
                body = operation["requestBody"]["content"]["application/json"]["schema"]
                assert {"400", "415"} <= set(operation["responses"]), (method, path)
                assert body["$ref"].startswith("#/components/schemas/")


@given(expires=from_regex(EXPIRES_PATTERN, fullmatch=True))
@settings(max_examples=300, deadline=None)
def test_every_expiry_the_schema_admits_is_a_real_day_or_instant(expires: str) -> None:
    """What the pattern lets through, `parse_expiry` reads (then 422 only for the past, an
    instant beyond 9999, or February 29 of a common year: the documented refusals)."""
    the_first_instant = datetime.min.replace(tzinfo=UTC)
    try:
        parse_expiry(expires, the_first_instant)
    except OperationError as refusal:
        common_year_leap_day = expires[5:10] == "02-29" and not isleap(int(expires[:4]))
        assert "out of range" in str(refusal) or common_year_leap_day, refusal


def test_reported_answers_are_documented_ones() -> None:
    """A malformed date is a schema violation (400); exporting a feed with no data is the
    documented 503 with Retry-After. Both pass every check against the document."""
    share = schema[f"{API_PREFIX}/feeds/{{feed_id}}/shares"]["POST"].Case(
        path_parameters={"feed_id": 1},
        body={"expires": "2370-66-00"},
        media_type="application/json",
    )
    response = share.call(headers=AUTH)
    assert response.status_code == 400, response.text
    share.validate_response(response, headers=AUTH)

    export = schema[f"{API_PREFIX}/feeds/{{feed_id}}/export"]["GET"].Case(
        path_parameters={"feed_id": 1}
    )
    response = export.call(headers=AUTH)
    export.validate_response(response, headers=AUTH)  # Retry-After is a required header
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "feed_unavailable"


def test_input_schemas_are_closed() -> None:
    for name, component in SCHEMAS.items():
        if name.endswith("Input") and "oneOf" not in component:
            assert component["additionalProperties"] is False, name
            for field in component["properties"].values():
                assert "type" in field or "$ref" in field, name


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_document(case: Any) -> None:
    case.call_and_validate(headers=AUTH)
