"""The TrainerCentral simulator over real loopback HTTP: seed, auth, paging readings, controls."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bridge.simulator.server import RunningServer, start_server
from bridge.simulator.trainercentral import (
    SimSession,
    SimTalk,
    TrainerCentralSimulator,
)
from bridge.simulator.zoho import ZohoAccountsSimulator
from tests.tc_support import Mount

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ORG = "100000000"
STATIC = "static-access-token"


@pytest.fixture
def accounts() -> ZohoAccountsSimulator:
    return ZohoAccountsSimulator()


@pytest.fixture
def sim(accounts: ZohoAccountsSimulator) -> TrainerCentralSimulator:
    return TrainerCentralSimulator(accounts, now=NOW, static_tokens=[STATIC])


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    running = start_server(Mount())
    yield running
    running.stop()


@pytest.fixture
def mount(server: RunningServer) -> Mount:
    return server.server.app


@pytest.fixture
def api(
    server: RunningServer,
    mount: Mount,
    sim: TrainerCentralSimulator,
    accounts: ZohoAccountsSimulator,
) -> Iterator[httpx.Client]:
    mount.api, mount.accounts = sim, accounts
    with httpx.Client(base_url=server.url, timeout=5) as client:
        yield client


def talks(
    client: httpx.Client, token: str = STATIC, scheme: str = "Zoho-oauthtoken", **params: Any
) -> httpx.Response:
    query = {"filter": "5", "limit": "100", "si": "0", **{k: str(v) for k, v in params.items()}}
    return client.get(
        f"/api/v4/{ORG}/talks.json", params=query, headers={"Authorization": f"{scheme} {token}"}
    )


def walk_strings(value: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk_strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_strings(item, f"{path}[{index}]")
    else:
        yield path, value


# -- seeded data ------------------------------------------------------------------------------


def test_every_value_is_a_string_and_the_shape_is_documented(api: httpx.Client) -> None:
    body = talks(api, limit=1000).json()
    assert set(body) >= {"sessions", "sessionMembers", "meta", "talks"}
    non_strings = [
        (path, value) for path, value in walk_strings(body) if not isinstance(value, str)
    ]
    assert non_strings == []
    assert body["meta"]["totalSessionsCount"] == str(len(body["sessions"]))


def test_seed_has_what_feeds_must_handle(sim: TrainerCentralSimulator) -> None:
    listed = sim.upcoming_talks("5")
    assert len(listed) >= 60
    berlin = [t for t in listed if sim.session(t.session_id).timezone == "Europe/Berlin"]
    assert sim.session(berlin[0].session_id).recurring_type != "0"
    local = ZoneInfo("Europe/Berlin")
    assert {t.start.astimezone(local).strftime("%a %H:%M") for t in berlin} == {"Tue 19:00"}
    assert len({t.start.astimezone(local).utcoffset() for t in berlin}) == 2  # crosses DST
    local_days = [t.start.astimezone(local).date() for t in berlin]
    assert all(b - a == timedelta(weeks=1) for a, b in itertools.pairwise(local_days))
    assert any(t.cancelled for t in listed) and any(t.deleted_at for t in listed)
    sessions = {t.session_id: sim.session(t.session_id) for t in listed}.values()
    assert any(s.cancelled for s in sessions)
    assert any("<p>" in s.description for s in sessions)
    assert any(not s.name.isascii() for s in sessions)
    assert any(t.join_url is None and sim.session(t.session_id).join_url is None for t in listed)
    assert sum(1 for s in sessions if s.recurring_type == "0") >= 4


def test_seed_is_deterministic_for_a_given_now(
    api: httpx.Client, mount: Mount, accounts: ZohoAccountsSimulator
) -> None:
    def body(sim: TrainerCentralSimulator) -> str:
        mount.api = sim
        return talks(api, limit=1000).text

    first = body(TrainerCentralSimulator(accounts, now=NOW, static_tokens=[STATIC]))
    again = body(TrainerCentralSimulator(accounts, now=NOW, static_tokens=[STATIC]))
    other = body(
        TrainerCentralSimulator(accounts, now=NOW + timedelta(days=3), static_tokens=[STATIC])
    )
    assert first == again and first != other


# -- auth, org, filter, parameters ------------------------------------------------------------


def test_tokens_from_the_accounts_simulator_work_until_they_expire(
    api: httpx.Client, accounts: ZohoAccountsSimulator
) -> None:
    granted = _grant(api, accounts)
    assert talks(api, granted).status_code == 200
    assert talks(api, granted, scheme="Bearer").status_code == 200
    accounts.clock.advance(3601)
    expired = talks(api, granted)
    assert expired.status_code == 401
    assert set(expired.json()) == {"code", "message"}


@pytest.mark.parametrize("header", [None, "", "Zoho-oauthtoken", "Basic abc", "Bearer forged"])
def test_missing_or_unknown_credentials_are_401(api: httpx.Client, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = api.get(f"/api/v4/{ORG}/talks.json", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_OAUTHTOKEN"


def test_unknown_org_is_404_and_unknown_path_too(api: httpx.Client) -> None:
    auth = {"Authorization": f"Zoho-oauthtoken {STATIC}"}
    assert api.get("/api/v4/999/talks.json", headers=auth).status_code == 404
    assert api.get(f"/api/v4/{ORG}/courses.json", headers=auth).status_code == 404
    assert api.post(f"/api/v4/{ORG}/talks.json", headers=auth).status_code == 405


def test_filter_1_lists_your_sessions_and_5_the_whole_academy(
    api: httpx.Client, sim: TrainerCentralSimulator
) -> None:
    mine = {t["id"] for t in talks(api, filter=1, limit=1000).json()["talks"]}
    academy = {t["id"] for t in talks(api, filter=5, limit=1000).json()["talks"]}
    assert mine < academy
    guest = {t.id for t in sim.upcoming_talks("5")} - {t.id for t in sim.upcoming_talks("1")}
    assert academy - mine == guest and guest


def test_filter_5_needs_an_admin(api: httpx.Client, sim: TrainerCentralSimulator) -> None:
    sim.admins.clear()
    assert talks(api, filter=5).status_code == 403
    assert talks(api, filter=1).status_code == 200


@pytest.mark.parametrize("params", [{"filter": 2}, {"limit": "ten"}, {"limit": 0}, {"si": -1}])
def test_bad_parameters_are_400(api: httpx.Client, params: dict[str, Any]) -> None:
    response = talks(api, **params)
    assert response.status_code == 400 and response.json()["message"]


def test_limit_defaults_to_10(api: httpx.Client) -> None:
    response = api.get(
        f"/api/v4/{ORG}/talks.json",
        params={"filter": "5"},
        headers={"Authorization": f"Zoho-oauthtoken {STATIC}"},
    )
    assert len(response.json()["sessions"]) == 9  # the seed has 9 sessions, fewer than 10


# -- paging readings --------------------------------------------------------------------------


def test_session_paging_returns_whole_sessions(
    api: httpx.Client, sim: TrainerCentralSimulator
) -> None:
    body = talks(api, limit=2, si=1).json()
    session_ids = [s["id"] for s in body["sessions"]]
    assert len(session_ids) == 2
    expected = [t.id for t in sim.upcoming_talks("5") if t.session_id in session_ids]
    assert [t["id"] for t in body["talks"]] == expected
    assert {m["session"] for m in body["sessionMembers"]} == set(session_ids)


def test_talk_paging_counting_talks_and_a_cap(
    api: httpx.Client, sim: TrainerCentralSimulator
) -> None:
    sim.page_unit, sim.count_unit, sim.limit_cap = "talks", "talks", 4
    listed = [t.id for t in sim.upcoming_talks("5")]
    body = talks(api, limit=7, si=3).json()
    assert [t["id"] for t in body["talks"]] == listed[3:7]
    assert {s["id"] for s in body["sessions"]} == {sim.talk(i).session_id for i in listed[3:7]}
    assert body["meta"]["totalSessionsCount"] == str(len(listed))
    assert talks(api, si=len(listed)).json()["talks"] == []


# -- controls ---------------------------------------------------------------------------------


def test_data_changes_show_up(api: httpx.Client, sim: TrainerCentralSimulator) -> None:
    first, second, third, fourth = (t.id for t in sim.upcoming_talks("5")[:4])
    moved_to = NOW + timedelta(days=40)
    sim.retitle(first, "Renamed ✨")
    sim.move(second, moved_to, moved_to + timedelta(hours=1))
    sim.cancel(third)
    sim.cancel(fourth, via="deletedTime")
    session = SimSession("1900000000000999", "Pop-up", "UTC", members=())
    sim.add_session(session)
    sim.add_talk(SimTalk("4000", session.id, moved_to, moved_to + timedelta(hours=2)))
    removed = sim.upcoming_talks("5")[10].id
    sim.remove(removed)
    by_id = {t["id"]: t for t in talks(api, limit=1000).json()["talks"]}
    assert by_id[first]["name"] == "Renamed ✨"
    assert by_id[second]["scheduledTime"] == str(int(moved_to.timestamp() * 1000))
    assert by_id[third]["isCancelled"] == "true"
    assert by_id[fourth]["deletedTime"] != "-1"
    assert by_id["4000"]["name"] == "Pop-up" and removed not in by_id
    with pytest.raises(KeyError):
        sim.add_talk(SimTalk("4001", "nope", moved_to, moved_to + timedelta(hours=1)))


def test_past_talks_drop_out_of_the_upcoming_list(
    api: httpx.Client, sim: TrainerCentralSimulator
) -> None:
    before = len(talks(api, limit=1000).json()["talks"])
    sim.clock.advance(timedelta(days=8).total_seconds())
    assert len(talks(api, limit=1000).json()["talks"]) < before


def test_cancel_session_and_corrupt_talk(api: httpx.Client, sim: TrainerCentralSimulator) -> None:
    session_id = sim.upcoming_talks("5")[0].session_id
    sim.cancel_session(session_id)
    broken = sim.corrupt_talk()
    body = talks(api, limit=1000).json()
    assert {s["id"]: s for s in body["sessions"]}[session_id]["isCancelled"] == "true"
    assert {t["id"]: t for t in body["talks"]}[broken]["scheduledTime"] == "not-a-time"


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ("server_error", 500),
        ("bad_request", 400),
        ("too_many_requests", 429),
        ("unauthorized", 401),
    ],
)
def test_status_faults_hit_the_chosen_requests(
    api: httpx.Client, sim: TrainerCentralSimulator, fault: str, status: int
) -> None:
    sim.fail_next(fault, times=2, after=1)
    statuses = [talks(api).status_code for _ in range(4)]
    assert statuses == [200, status, status, 200]


def test_truncated_json_fault(api: httpx.Client, sim: TrainerCentralSimulator) -> None:
    sim.fail_next("truncated")
    response = talks(api)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.content)


def test_timeout_fault_delays_the_answer(api: httpx.Client, sim: TrainerCentralSimulator) -> None:
    sim.timeout_delay = 0.5
    sim.fail_next("timeout")
    with pytest.raises(httpx.ReadTimeout):
        api.get(
            f"/api/v4/{ORG}/talks.json",
            headers={"Authorization": f"Zoho-oauthtoken {STATIC}"},
            timeout=0.2,
        )


def test_expire_token_fault_and_control(
    api: httpx.Client, sim: TrainerCentralSimulator, accounts: ZohoAccountsSimulator
) -> None:
    accounts_token = _grant(api, accounts)
    sim.fail_next("expire_token", after=1)
    assert talks(api, accounts_token).status_code == 200
    assert talks(api, accounts_token).status_code == 401
    fresh = _grant(api, accounts)
    assert talks(api, fresh).status_code == 200
    sim.expire_current_token()
    assert talks(api, fresh).status_code == 401


def test_unknown_fault_is_refused(sim: TrainerCentralSimulator) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        sim.fail_next("meteor")


def test_request_log_latency_and_hook(api: httpx.Client, sim: TrainerCentralSimulator) -> None:
    seen: list[int] = []
    sim.on_request = seen.append
    sim.latency = 0.05
    response = talks(api, limit=3, si=6)
    assert response.elapsed >= timedelta(seconds=0.05)
    [logged] = sim.requests
    assert logged.params == {"filter": "5", "limit": "3", "si": "6"}
    assert logged.authorization == f"Zoho-oauthtoken {STATIC}" and logged.status == 200
    assert seen == [1]


def _grant(api: httpx.Client, accounts: ZohoAccountsSimulator) -> str:
    form = {
        "grant_type": "refresh_token",
        "client_id": accounts.DEFAULT_CLIENT_ID,
        "client_secret": accounts.DEFAULT_CLIENT_SECRET,
        "refresh_token": accounts.DEFAULT_REFRESH_TOKEN,
    }
    return api.post("/oauth/v2/token", data=form).json()["access_token"]
