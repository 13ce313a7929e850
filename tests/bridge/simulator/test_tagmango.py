"""The TagMango simulator answers like the documented API, over real loopback HTTP."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bridge.simulator.server import serving
from bridge.simulator.tagmango import (
    DEMO_HOST,
    DEMO_KEY,
    MANGOES,
    TOO_MANY_REQUESTS,
    UNAUTHORIZED,
    VIDEO_CALLS_PATH,
    Fault,
    SimCall,
    TagMangoSimulator,
)
from bridge.simulator.tagmango_seed import seed_calls

NOW = datetime(2026, 2, 10, 12, tzinfo=UTC)
AUTH = {"Authorization": f"Bearer {DEMO_KEY}", "x-whitelabel-host": DEMO_HOST}

logging.getLogger("werkzeug").setLevel(logging.WARNING)


class Holder:
    """A WSGI app forwarding to a swappable simulator: one server for the whole module."""

    app: TagMangoSimulator

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def _server() -> Iterator[tuple[Holder, str]]:
    holder = Holder()
    with serving(holder) as running:
        yield holder, running.url + VIDEO_CALLS_PATH


@pytest.fixture
def serve(_server: tuple[Holder, str]) -> Any:
    def use(sim: TagMangoSimulator) -> str:
        _server[0].app = sim
        return _server[1]

    return use


def call(n: int, start: datetime, **changes: Any) -> SimCall:
    return SimCall(
        id=f"{n:024x}", title=f"Call {n}", start=start, end=start + timedelta(hours=1), **changes
    )


_client = httpx.Client(timeout=5)


def get(url: str, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
    return _client.get(url, headers=AUTH if headers is None else headers, params=params)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-whitelabel-host": DEMO_HOST},
        {"Authorization": "Bearer wrong", "x-whitelabel-host": DEMO_HOST},
        {"Authorization": f"Bearer {DEMO_KEY}"},
        {"Authorization": f"Bearer {DEMO_KEY}", "x-whitelabel-host": "other.tagmango.com"},
    ],
)
def test_requests_need_a_key_bound_to_the_host(serve: Any, headers: dict[str, str]) -> None:
    url = serve(TagMangoSimulator())
    response = get(url, headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_host_matching_ignores_case(serve: Any) -> None:
    url = serve(TagMangoSimulator())
    assert get(url, {**AUTH, "x-whitelabel-host": DEMO_HOST.upper()}).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"startDate": "yesterday"},
        {"endDate": "2026-13-01T00:00:00Z"},
        {"limit": 0},
        {"limit": "ten"},
        {"page": 0},
        {"page": -2},
    ],
)
def test_bad_parameters_get_the_documented_400(serve: Any, params: dict[str, Any]) -> None:
    url = serve(TagMangoSimulator())
    response = get(url, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400 and body["statusMessage"] == "BAD_REQUEST"
    assert body["success"] is False and body["message"].startswith("Invalid request")


def test_bad_offset_header_is_a_400(serve: Any) -> None:
    url = serve(TagMangoSimulator())
    assert get(url, {**AUTH, "x-timezone-offset": "IST"}).status_code == 400


def test_other_paths_are_404(serve: Any) -> None:
    url = serve(TagMangoSimulator())
    assert _client.get(url.replace("video-calls", "nope"), headers=AUTH).status_code == 404


def test_calls_are_grouped_by_local_date_of_the_offset(serve: Any) -> None:
    late = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)  # 01:30 on 2 March in India
    url = serve(TagMangoSimulator([call(1, late), call(2, late + timedelta(hours=4))]))
    india = get(url, {**AUTH, "x-timezone-offset": "330"}).json()
    assert [g["date"] for g in india["data"]] == ["2026-03-02"]
    assert len(india["data"][0]["calls"]) == 2
    utc = get(url, {**AUTH, "x-timezone-offset": "0"}).json()
    assert [g["date"] for g in utc["data"]] == ["2026-03-01", "2026-03-02"]
    new_york = get(url, {**AUTH, "x-timezone-offset": "-300"}).json()
    assert [g["date"] for g in new_york["data"]] == ["2026-03-01"]


def test_the_call_json_looks_like_the_documented_example(serve: Any) -> None:
    start = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)
    sim = TagMangoSimulator([call(1, start, group_id="grp", timezone_name="Asia/Kolkata")])
    record = get(serve(sim)).json()["data"][0]["calls"][0]
    assert record["_id"] == f"{1:024x}"
    assert record["fromTime"] == "2026-03-01T14:00:00.000Z"
    assert record["toTime"] == "2026-03-01T15:00:00.000Z"
    assert record["status"] == "available" and record["groupId"] == "grp"
    assert record["creator"]["email"] and record["mango"]["_id"] == MANGOES[0].id
    assert record["mango"]["recurringType"] == "MONTHLY"
    assert record["timezoneName"] == "Asia/Kolkata"


def test_filters_by_dates_on_fromtime_with_an_inclusive_end(serve: Any) -> None:
    base = datetime(2026, 3, 1, 10, tzinfo=UTC)
    url = serve(TagMangoSimulator([call(i, base + timedelta(days=i)) for i in range(5)]))
    body = get(url, startDate="2026-03-02T10:00:00.000Z", endDate="2026-03-04T10:00:00.000Z")
    ids = [c["_id"] for g in body.json()["data"] for c in g["calls"]]
    assert ids == [f"{i:024x}" for i in (1, 2, 3)]
    assert body.json()["total"] == 3


def test_filters_by_mangoes_and_user(serve: Any) -> None:
    base = datetime(2026, 3, 1, 10, tzinfo=UTC)
    calls = [
        call(1, base, mango_id=MANGOES[0].id, participants=("u1",)),
        call(2, base, mango_id=MANGOES[1].id, participants=("u1", "u2")),
        call(3, base, mango_id="other", participants=("u2",)),
    ]
    url = serve(TagMangoSimulator(calls))

    def ids(**params: Any) -> list[int]:
        data = get(url, **params).json()["data"]
        return [int(c["_id"], 16) for g in data for c in g["calls"]]

    assert ids() == [1, 2, 3]
    assert ids(mangoes=MANGOES[1].id) == [2]
    assert ids(mangoes=f"{MANGOES[0].id},other") == [1, 3]
    assert ids(user="u2") == [2, 3]
    assert ids(user="u1", mangoes=MANGOES[0].id) == [1]


def five_days_two_calls_each() -> list[SimCall]:
    base = datetime(2026, 3, 1, 6, tzinfo=UTC)
    return [call(d * 2 + k, base + timedelta(days=d, hours=k)) for d in range(5) for k in (0, 1)]


@pytest.mark.parametrize(
    ("total_counts", "page_unit", "page", "expected_calls", "expected_total"),
    [
        ("calls", "calls", 1, 3, 10),
        ("calls", "calls", 4, 1, 10),
        ("calls", "calls", 5, 0, 10),
        ("groups", "calls", 2, 3, 5),
        ("calls", "groups", 1, 6, 10),  # 3 groups of 2 calls
        ("groups", "groups", 2, 4, 5),
        ("groups", "groups", 3, 0, 5),
    ],
)
def test_paging_and_total_semantics(
    serve: Any,
    total_counts: Any,
    page_unit: Any,
    page: int,
    expected_calls: int,
    expected_total: int,
) -> None:
    sim = TagMangoSimulator(
        five_days_two_calls_each(), total_counts=total_counts, page_unit=page_unit
    )
    body = get(serve(sim), limit=3, page=page).json()
    assert sum(len(g["calls"]) for g in body["data"]) == expected_calls
    assert body["total"] == expected_total


def test_a_server_cap_returns_fewer_than_asked(serve: Any) -> None:
    sim = TagMangoSimulator(five_days_two_calls_each(), limit_cap=4)
    body = get(serve(sim), limit=100).json()
    assert sum(len(g["calls"]) for g in body["data"]) == 4


@pytest.mark.parametrize("envelope", ["result", "data"])
def test_envelopes(serve: Any, envelope: Any) -> None:
    body = get(serve(TagMangoSimulator(five_days_two_calls_each(), envelope=envelope))).json()
    assert body["success"] is True and body["code"] == 200
    assert body[envelope]["total"] == 10 and len(body[envelope]["data"]) == 5


def test_the_rate_budget_answers_the_documented_429(serve: Any) -> None:
    url = serve(TagMangoSimulator(budget=(3, 60.0)))
    statuses = [get(url).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = get(url)
    assert response.json() == TOO_MANY_REQUESTS and "Retry-After" not in response.headers
    # The budget is per key: another key bound to the host has its own.
    other = TagMangoSimulator(api_keys={"k2": DEMO_HOST, DEMO_KEY: DEMO_HOST}, budget=(3, 60.0))
    url = serve(other)
    for _ in range(3):
        get(url)
    assert get(url, {**AUTH, "Authorization": "Bearer k2"}).status_code == 200


def test_faults_apply_to_the_next_requests_in_order(serve: Any) -> None:
    sim = TagMangoSimulator(five_days_two_calls_each())
    url = serve(sim)
    sim.fail_next(Fault.error(500), Fault.too_many("2"), Fault.too_many(), Fault.error(503))
    first, second, third, fourth, fifth = (get(url) for _ in range(5))
    assert first.status_code == 500 and first.json()["success"] is False
    assert second.status_code == 429 and second.headers["Retry-After"] == "2"
    assert second.json() == TOO_MANY_REQUESTS
    assert third.status_code == 429 and "Retry-After" not in third.headers
    assert fourth.status_code == 503
    assert fifth.status_code == 200


def test_fault_400_has_the_documented_body(serve: Any) -> None:
    sim = TagMangoSimulator()
    sim.fail_next(Fault.error(400))
    response = get(serve(sim))
    assert response.status_code == 400 and response.json()["message"] == "Invalid request"


def test_truncated_and_malformed_faults(serve: Any) -> None:
    sim = TagMangoSimulator(five_days_two_calls_each())
    url = serve(sim)
    sim.fail_next(Fault.truncated(), Fault.malformed_record(), Fault.malformed_record(_id=None))
    truncated = get(url)
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        truncated.json()
    first = get(url).json()["data"][0]["calls"]
    assert first[0]["toTime"] == "not-a-time" and first[1]["toTime"].endswith("Z")
    assert "_id" not in get(url).json()["data"][0]["calls"][0]
    assert get(url).json()["data"][0]["calls"][0]["toTime"].endswith("Z")


def test_hang_fault_outlasts_a_short_read_timeout(serve: Any) -> None:
    sim = TagMangoSimulator()
    url = serve(sim)
    sim.fail_next(Fault.hang(0.6))
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(url, headers=AUTH, timeout=httpx.Timeout(0.2, connect=2))
    assert get(url).status_code == 200


def test_latency_is_added_to_every_request(serve: Any) -> None:
    url = serve(TagMangoSimulator(latency=0.15))
    assert get(url).elapsed >= timedelta(seconds=0.15)


def test_data_changes_show_up_in_the_next_answer(serve: Any) -> None:
    base = datetime(2026, 3, 1, 10, tzinfo=UTC)
    sim = TagMangoSimulator([call(1, base), call(2, base + timedelta(days=1))])
    url = serve(sim)
    sim.update_call(f"{1:024x}", title="Renamed", meeting_url=None, start=base - timedelta(hours=2))
    sim.remove_call(f"{2:024x}")
    sim.add_call(call(3, base + timedelta(days=3), status="cancelled"))
    calls = [c for g in get(url).json()["data"] for c in g["calls"]]
    assert [(c["title"], c["status"]) for c in calls] == [
        ("Renamed", "available"),
        ("Call 3", "cancelled"),
    ]
    assert "meetingUrl" not in calls[0] and calls[0]["fromTime"] == "2026-03-01T08:00:00.000Z"


def test_after_requests_runs_a_change_between_pages(serve: Any) -> None:
    base = datetime(2026, 3, 1, 10, tzinfo=UTC)
    sim = TagMangoSimulator([call(1, base)])
    url = serve(sim)
    sim.after_requests(1, lambda: sim.remove_call(f"{1:024x}"))
    assert get(url).json()["total"] == 1
    assert get(url).json()["total"] == 0


def test_the_request_log_records_headers_params_and_status(serve: Any) -> None:
    sim = TagMangoSimulator()
    url = serve(sim)
    get(url, {**AUTH, "x-timezone-offset": "330"}, limit=7, page=2)
    get(url, {})
    first, second = sim.requests
    assert first.headers["x-timezone-offset"] == "330"
    assert first.headers["authorization"] == f"Bearer {DEMO_KEY}"
    assert first.args == {"limit": "7", "page": "2"} and first.status == 200
    assert second.status == 401
    sim.clear_log()
    assert sim.requests == []


# -- seed ---------------------------------------------------------------------------------


def test_seed_is_deterministic_for_a_given_now() -> None:
    assert seed_calls(NOW) == seed_calls(NOW)
    assert seed_calls(NOW) != seed_calls(NOW + timedelta(days=1))


@pytest.mark.parametrize("now", [NOW, datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 11, 20)])
def test_seed_has_what_the_feed_tests_need(now: datetime) -> None:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    calls = seed_calls(now)
    assert len(calls) >= 120 and len({c.id for c in calls}) == len(calls)
    assert {c.mango_id for c in calls} == {m.id for m in MANGOES}
    series: dict[str, list[SimCall]] = {}
    for c in calls:
        if c.group_id:
            series.setdefault(c.group_id, []).append(c)
    weekly = next(s for s in series.values() if s[0].timezone_name == "America/New_York")
    york = ZoneInfo("America/New_York")
    assert {c.start.astimezone(york).strftime("%a %H:%M") for c in weekly} == {"Tue 10:00"}
    assert len({c.start.astimezone(UTC).hour for c in weekly}) == 2  # crosses a DST change
    assert any(c.status == "cancelled" for c in weekly)
    daily = next(s for s in series.values() if s is not weekly)
    gaps = {b.start - a.start for a, b in pairwise(daily)}
    assert gaps == {timedelta(days=1)}
    assert {c.status for c in calls} >= {"available", "cancelled", "canceled", "deleted"}
    assert any(c.meeting_url is None for c in calls) and any(c.meeting_url == "" for c in calls)
    titles = "".join(c.title for c in calls)
    for needle in (",", ";", "\\", "🎉", "योग"):
        assert needle in titles
    assert min(c.start for c in calls) < now < max(c.start for c in calls)
    assert max(c.start for c in calls) - min(c.start for c in calls) > timedelta(days=200)


def test_seeded_simulator_serves_the_seed(serve: Any) -> None:
    sim = TagMangoSimulator.seeded(NOW, page_unit="calls")
    body = get(serve(sim), limit=1000).json()
    assert body["total"] == len(seed_calls(NOW))
