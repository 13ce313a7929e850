"""`/api/v1/participants`: sync (API roster, users, a text/csv body, dry run) and list (JSON
and CSV) over HTTP, against the simulators on loopback; auth and every bad input answered
with the API's JSON errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bridge.participants.support import ADMIN, Rig, make_rig, path_of

AUTH = {"Authorization": f"Bearer {ADMIN}"}
SYNC = "/api/v1/participants/mango/sync"
SCHEDULE = "/api/v1/participants/mango/schedule"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with make_rig(tmp_path, subscribers=6) as built:
        yield built


def test_a_sync_from_the_api_roster_then_the_list(rig: Rig) -> None:
    answer = rig.client.post(SYNC, headers=AUTH)
    assert answer.status_code == 200, answer.get_json()
    report = answer.get_json()
    assert len(report["created"]) == 5 and report["skipped"][0]["user_id"] == "fan-00005"
    again = rig.client.post(SYNC, headers=AUTH, json={}).get_json()
    assert again["created"] == [] and again["unchanged"] == 5

    listed = rig.client.get("/api/v1/participants/mango", headers=AUTH).get_json()
    rows = listed["participants"]
    assert [r["user_id"] for r in rows] == [r["user_id"] for r in report["created"]]
    assert rig.client.get(path_of(rows[0]["feed_url"])).status_code == 200
    as_csv = rig.client.get("/api/v1/participants/mango?format=csv", headers=AUTH)
    assert as_csv.mimetype == "text/csv"
    assert as_csv.get_data(as_text=True).startswith("user_id,name,email,status,feed_id")


def test_a_csv_body_and_a_dry_run(rig: Rig) -> None:
    roster = "user_id;name\nu1;Asha\n;broken\n"
    dry = rig.client.post(
        SYNC + "?dry_run=true", headers=AUTH, data=roster, content_type="text/csv"
    ).get_json()
    assert [r["user_id"] for r in dry["created"]] == ["u1"] and dry["dry_run"]
    assert dry["errors"] == [{"line": 3, "user_id": None, "message": "the user_id is empty"}]
    real = rig.client.post(SYNC, headers=AUTH, data=roster, content_type="text/csv").get_json()
    assert real["created"][0]["ics_url"].startswith("https://cal.example.org/f/")


def test_the_schedule_an_api_roster_sync_turns_on_and_its_changes(rig: Rig) -> None:
    shown = rig.client.get(SCHEDULE, headers=AUTH).get_json()
    assert shown["scheduled"] is False and shown["every_hours"] is None
    rig.client.post(SYNC, headers=AUTH)
    shown = rig.client.get(SCHEDULE, headers=AUTH).get_json()
    assert shown["scheduled"] and shown["every_hours"] == 24 and shown["last_error"] is None
    assert shown["next_due_at"] == "2026-03-04T09:30:00+00:00"  # a day after the sync
    assert shown["last_counts"] == {"created": 5, "updated": 0, "revoked": 0, "errors": 0}

    every = rig.client.put(SCHEDULE, headers=AUTH, json={"every_hours": 6}).get_json()
    assert every["every_hours"] == 6 and every["next_due_at"] == "2026-03-03T15:30:00+00:00"
    off = rig.client.put(SCHEDULE, headers=AUTH, json={"enabled": False}).get_json()
    assert off["scheduled"] is False and off["next_due_at"] is None
    on = rig.client.put(SCHEDULE, headers=AUTH, json={"enabled": True}).get_json()
    assert on["scheduled"] and on["every_hours"] == 6


def test_one_user(rig: Rig) -> None:
    report = rig.client.post(SYNC, headers=AUTH, json={"users": ["fan-00001"]}).get_json()
    assert [r["user_id"] for r in report["created"]] == ["fan-00001"]


@pytest.mark.parametrize(
    ("method", "path", "options", "status", "code"),
    [
        ("post", SYNC, {}, 401, "unauthorized"),
        ("post", "/api/v1/participants/nope/sync", {"headers": AUTH}, 404, "not_found"),
        ("get", "/api/v1/participants/nope", {"headers": AUTH}, 404, "not_found"),
        ("post", SYNC, {"headers": AUTH, "json": {"users": []}}, 400, "invalid_request"),
        ("post", SYNC, {"headers": AUTH, "json": {"extra": 1}}, 400, "invalid_request"),
        ("post", SYNC, {"headers": AUTH, "data": "{", "content_type": "application/json"},
         400, "malformed_json"),
        ("post", SYNC, {"headers": AUTH, "data": "x", "content_type": "text/plain"},
         415, "unsupported_media_type"),
        ("post", SYNC + "?dry_run=maybe", {"headers": AUTH}, 400, "invalid_request"),
        ("get", "/api/v1/participants/mango?format=xml", {"headers": AUTH},
         400, "invalid_request"),
        ("post", SYNC, {"headers": AUTH, "data": "name\nA\n", "content_type": "text/csv"},
         422, "unprocessable"),
        ("get", SCHEDULE, {}, 401, "unauthorized"),
        ("get", "/api/v1/participants/nope/schedule", {"headers": AUTH}, 404, "not_found"),
        ("put", SCHEDULE, {"headers": AUTH, "json": {}}, 400, "invalid_request"),
        ("put", SCHEDULE, {"headers": AUTH, "json": {"every_hours": 0}}, 400, "invalid_request"),
        ("put", SCHEDULE, {"headers": AUTH, "json": {"every_hours": "6"}},
         400, "invalid_request"),
        ("put", SCHEDULE, {"headers": AUTH, "json": {"enabled": False, "every_hours": 6}},
         422, "unprocessable"),
    ],
)  # fmt: skip
def test_bad_requests_get_json_errors(
    rig: Rig, method: str, path: str, options: dict, status: int, code: str
) -> None:
    answer = getattr(rig.client, method)(path, **options)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["code"] == code


def test_an_unreachable_upstream_is_a_502(rig: Rig) -> None:
    rig.upstream.stop()
    answer = rig.client.post(SYNC, headers=AUTH, json={"users": ["fan-00001"]})
    assert answer.status_code == 502 and answer.get_json()["error"]["code"] == "upstream_error"
