"""`GET /api/v1/feeds/<id>/changes?since=N`: exactly the changes upstream made since N."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from bridge.app import create_app
from tests.web_support import NOW, Harness, call, make_harness

ADMIN = {"Authorization": "Bearer changes-admin-token-0123456789"}


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


@pytest.fixture
def api(harness: Harness) -> FlaskClient:
    settings = dataclasses.replace(
        harness.services.settings, admin_token=ADMIN["Authorization"].split()[1]
    )
    app = create_app(
        settings,
        clock=harness.clock,
        client_factory=lambda *a, **k: harness.upstream,
        immediate_jobs=True,
    )
    return app.test_client()


def changes(api: FlaskClient, harness: Harness, since: object = 0) -> dict:
    response = api.get(f"/api/v1/feeds/{harness.feed_id}/changes?since={since}", headers=ADMIN)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_the_first_fetch_lists_every_session_as_added(api: FlaskClient, harness: Harness) -> None:
    listed = changes(api, harness)
    assert {c["upstream_id"] for c in listed["changes"]} == {"past", "c1", "c2", "c3", "c4"}
    assert {c["kind"] for c in listed["changes"]} == {"added"}
    assert listed["latest"] == listed["changes"][-1]["number"] and listed["more"] is False
    first = listed["changes"][0]
    assert first["source"] == "mango" and first["uid"].endswith("@cal.example.org")


def test_exactly_the_changes_since_n(api: FlaskClient, harness: Harness) -> None:
    seen = changes(api, harness)["latest"]
    sessions = harness.upstream.sessions
    sessions[1] = call("c1", "Morning flow, moved", NOW + timedelta(hours=3))
    del sessions[2]  # c2: cancelled
    sessions.append(call("c5", "New workshop", NOW + timedelta(days=4)))
    harness.refetch()
    listed = changes(api, harness, seen)
    # In the order the merge met them: listed sessions first, then the vanished ones.
    assert [(c["upstream_id"], c["kind"]) for c in listed["changes"]] == [
        ("c1", "changed"),
        ("c5", "added"),
        ("c2", "cancelled"),
    ]
    assert changes(api, harness, listed["latest"])["changes"] == []


@pytest.mark.parametrize("since", ["-1", "abc", "1.5", str(2**63), "²"])
def test_a_malformed_number_is_a_400(api: FlaskClient, harness: Harness, since: str) -> None:
    response = api.get(f"/api/v1/feeds/{harness.feed_id}/changes?since={since}", headers=ADMIN)
    assert response.status_code == 400 and "since" in response.get_json()["error"]["message"]


def test_pruned_changes_answer_410_with_what_to_do(api: FlaskClient, harness: Harness) -> None:
    latest = changes(api, harness)["latest"]
    # "past" ended yesterday; every change so far was logged before this bound: all pruned.
    harness.services.store.prune_archive(NOW + timedelta(minutes=1))
    response = api.get(f"/api/v1/feeds/{harness.feed_id}/changes?since=1", headers=ADMIN)
    assert response.status_code == 410
    assert "read the whole feed again" in response.get_json()["error"]["message"]
    removed = changes(api, harness, latest)["changes"]
    assert [(c["upstream_id"], c["kind"]) for c in removed] == [("past", "removed")]
    assert changes(api, harness, 0)["changes"] == removed  # 0: what is kept


def test_an_unknown_feed_is_a_404_and_the_token_is_required(
    api: FlaskClient, harness: Harness
) -> None:
    assert api.get("/api/v1/feeds/999/changes", headers=ADMIN).status_code == 404
    assert api.get(f"/api/v1/feeds/{harness.feed_id}/changes").status_code == 401
