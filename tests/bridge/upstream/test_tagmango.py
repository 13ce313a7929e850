"""TagMangoClient against the TagMango simulator over real loopback HTTP.

Every call must arrive exactly once whatever `total` counts, whatever `limit` counts,
whatever the envelope and a server-side cap; every fault ends in complete data or a
clear UpstreamError, never a partial list.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bridge.logs import WarnOnce
from bridge.simulator.server import serving
from bridge.simulator.tagmango import (
    DEMO_HOST,
    DEMO_KEY,
    MANGOES,
    Fault,
    SimCall,
    TagMangoSimulator,
)
from bridge.simulator.tagmango_seed import seed_calls
from bridge.upstream import tagmango
from bridge.upstream.base import FetchResult, SourceClient
from bridge.upstream.errors import (
    UpstreamAuthError,
    UpstreamProtocolError,
    UpstreamRequestError,
    UpstreamUnavailable,
)
from bridge.upstream.http import RateBudget, UpstreamHTTP
from bridge.upstream.tagmango import (
    MAX_REREADS,
    PageCounts,
    TagMangoClient,
    TagMangoConfig,
    iso_utc,
    plan_next_round,
    timezone_offset_minutes,
)
from feeds.model import Status

logging.getLogger("werkzeug").setLevel(logging.WARNING)

NOW = datetime(2026, 2, 10, 12, tzinfo=UTC)
START, END = NOW - timedelta(days=60), NOW + timedelta(days=240)
FULL_SEED = seed_calls(NOW)
SMALL_SEED = seed_calls(NOW, weekly=6, daily=5, singles=6)


class Holder:
    """Forwards to a swappable WSGI app, so the whole module shares one loopback server."""

    app: Any

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def _server() -> Iterator[tuple[Holder, str]]:
    holder = Holder()
    with serving(holder) as running:
        yield holder, running.url


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def connect(_server: tuple[Holder, str], sleeps: Sleeps) -> Any:
    """connect(app, **config) → a TagMangoClient talking to `app` over loopback."""
    clients: list[TagMangoClient] = []

    def make(app: Any, *, http: UpstreamHTTP | None = None, **config: Any) -> TagMangoClient:
        _server[0].app = app
        config.setdefault("token", DEMO_KEY)
        config.setdefault("whitelabel_host", DEMO_HOST)
        http = http or UpstreamHTTP(
            "tm-test", sleep=sleeps, timeout=httpx.Timeout(2.0, connect=2.0), max_attempts=4
        )
        client = TagMangoClient(
            TagMangoConfig(name="tm-test", api_base=_server[1], **config),
            http=http,
            now=lambda: NOW,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.http.close()


def expected_ids(calls: list[SimCall]) -> list[str]:
    return sorted(c.id for c in calls if START <= c.start < END)


def local_dates(calls: list[SimCall], offset: int = 330) -> int:
    return len({(c.start + timedelta(minutes=offset)).date() for c in calls})


def assert_complete(result: FetchResult, calls: list[SimCall]) -> None:
    ids = [s.upstream_id for s in result.sessions]
    assert len(ids) == len(set(ids)), "a call arrived twice"
    assert sorted(ids) == expected_ids(calls)


# -- every call exactly once ---------------------------------------------------------------

READINGS = [
    (envelope, total_counts, page_unit)
    for envelope in ("bare", "result", "data")
    for total_counts in ("calls", "groups")
    for page_unit in ("calls", "groups")
]


@pytest.mark.parametrize(("envelope", "total_counts", "page_unit"), READINGS)
@pytest.mark.parametrize(
    ("seed", "page_size", "cap"),
    [
        pytest.param(SMALL_SEED, 1, None, id="small-size1"),
        pytest.param(FULL_SEED, 7, None, id="size7"),
        pytest.param(FULL_SEED, 100, None, id="size100"),
        pytest.param(FULL_SEED, 100, 50, id="size100-cap50"),
        pytest.param(FULL_SEED, 7, 5, id="size7-cap5"),
    ],
)
def test_every_call_arrives_exactly_once(
    connect: Any,
    envelope: Any,
    total_counts: Any,
    page_unit: Any,
    seed: list[SimCall],
    page_size: int,
    cap: int | None,
) -> None:
    sim = TagMangoSimulator(
        seed, envelope=envelope, total_counts=total_counts, page_unit=page_unit, limit_cap=cap
    )
    result = connect(sim, page_size=page_size).fetch(START, END)
    assert_complete(result, seed)
    assert result.warnings == []
    per_page = min(page_size, cap or page_size)
    items = len(seed) if page_unit == "calls" else local_dates(seed)
    pages_needed = math.ceil(items / per_page)
    # At most one probe past the data, needed only when the last page is exactly full.
    assert pages_needed <= len(sim.requests) <= pages_needed + 1
    assert sorted(int(r.args["page"]) for r in sim.requests) == list(
        range(1, len(sim.requests) + 1)
    )


@pytest.mark.parametrize(
    ("calls", "page_size", "requests"),
    [(125, 7, 18), (126, 7, 19), (2000, 100, 20), (5, 100, 1), (0, 100, 1)],
)
def test_request_counts(connect: Any, calls: int, page_size: int, requests: int) -> None:
    """A short last page ends the read (a short first page too, when `total` agrees); a full
    one costs one probe; `total` sizes the rest."""
    many = [
        SimCall(f"{i:024x}", f"Call {i}", start, start + timedelta(minutes=30))
        for i in range(calls)
        for start in [NOW + timedelta(hours=i % 200, minutes=i)]
    ]
    sim = TagMangoSimulator(many)
    result = connect(sim, page_size=page_size).fetch(START, END)
    assert len(result.sessions) == calls
    assert len(sim.requests) == requests


def test_sessions_are_parsed_and_sorted(connect: Any) -> None:
    result = connect(TagMangoSimulator(FULL_SEED), page_size=100).fetch(START, END)
    starts = [s.start for s in result.sessions]
    assert starts == sorted(starts)
    cancelled = [s for s in result.sessions if s.status is Status.CANCELLED]
    assert len(cancelled) == 3
    weekly = [s for s in result.sessions if s.timezone == "America/New_York"]
    assert len({s.series_key for s in weekly}) == 1 and len(weekly) >= 30
    assert {s.product_id for s in result.sessions} == {m.id for m in MANGOES}


def test_only_calls_starting_inside_the_window_are_kept(connect: Any) -> None:
    calls = [
        SimCall("a" * 24, "At start", START, START + timedelta(hours=1)),
        SimCall("b" * 24, "At end", END, END + timedelta(hours=1)),  # the simulator includes it
    ]
    result = connect(TagMangoSimulator(calls)).fetch(START, END)
    assert [s.upstream_id for s in result.sessions] == ["a" * 24]


def test_filters_by_mangoes_and_user(connect: Any) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    daily = connect(sim, mangoes=(MANGOES[1].id,)).fetch(START, END)
    assert_complete(daily, [c for c in FULL_SEED if c.mango_id == MANGOES[1].id])
    carol = connect(sim, user="user-carol").fetch(START, END)
    assert_complete(carol, [c for c in FULL_SEED if "user-carol" in c.participants])


# -- headers and params -------------------------------------------------------------------


def test_headers_and_params_as_sent(connect: Any) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    connect(sim, page_size=50).fetch(START, END)
    assert len(sim.requests) == 3
    for request in sim.requests:
        assert request.headers["authorization"] == f"Bearer {DEMO_KEY}"
        assert request.headers["x-whitelabel-host"] == DEMO_HOST
        assert request.headers["x-timezone-offset"] == "330"
        assert request.args["startDate"] == "2025-12-12T12:00:00.000Z"
        assert request.args["endDate"] == "2026-10-08T12:00:00.000Z"
        assert request.args["limit"] == "50"
        assert "mangoes" not in request.args and "user" not in request.args
    assert sorted(r.args["page"] for r in sim.requests) == ["1", "2", "3"]


def test_mangoes_and_user_params_are_sent_when_set(connect: Any) -> None:
    sim = TagMangoSimulator()
    connect(sim, mangoes=("m1", "m2"), user="u-7").fetch(START, END)
    (request,) = sim.requests
    assert request.args["mangoes"] == "m1,m2" and request.args["user"] == "u-7"


@pytest.mark.parametrize(
    ("zone", "now", "offset"),
    [
        ("Asia/Kolkata", NOW, 330),
        ("America/New_York", datetime(2026, 1, 15, tzinfo=UTC), -300),
        ("America/New_York", datetime(2026, 7, 15, tzinfo=UTC), -240),
        ("America/New_York", datetime(2026, 3, 8, 6, 59, tzinfo=UTC), -300),  # 01:59 EST
        ("America/New_York", datetime(2026, 3, 8, 7, 0, tzinfo=UTC), -240),  # 03:00 EDT
        ("Asia/Kathmandu", NOW, 345),
        ("UTC", NOW, 0),
    ],
)
def test_timezone_offset_is_minutes_east_at_now(zone: str, now: datetime, offset: int) -> None:
    assert timezone_offset_minutes(zone, now) == offset


def test_dst_aware_offset_header(_server: tuple[Holder, str], sleeps: Sleeps) -> None:
    sim = TagMangoSimulator()
    _server[0].app = sim
    for now, offset in (
        (datetime(2026, 1, 15, tzinfo=UTC), "-300"),
        (NOW.replace(month=7), "-240"),
    ):
        config = TagMangoConfig("tm", DEMO_KEY, DEMO_HOST, _server[1], "America/New_York")
        with UpstreamHTTP("tm", sleep=sleeps) as http:
            TagMangoClient(config, http=http, now=lambda now=now: now).fetch(START, END)
        assert sim.requests[-1].headers["x-timezone-offset"] == offset


def test_iso_utc() -> None:
    assert iso_utc(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000Z"
    ist = datetime.fromisoformat("2026-01-01T05:30:00.123456+05:30")
    assert iso_utc(ist) == "2026-01-01T00:00:00.123Z"


# -- faults: complete data or a clear error -------------------------------------------------


def test_401_names_the_source_and_the_rejected_key(connect: Any) -> None:
    with pytest.raises(UpstreamAuthError) as info:
        connect(TagMangoSimulator(), token="stolen").fetch(START, END)
    message = str(info.value)
    assert message.startswith("tm-test: ") and "API key was rejected" in message
    assert "Invalid token" in message and info.value.status == 401


def test_401_when_the_key_belongs_to_another_host(connect: Any) -> None:
    with pytest.raises(UpstreamAuthError, match=r"other\.example\.com"):
        connect(TagMangoSimulator(), whitelabel_host="other.example.com").fetch(START, END)


def test_400_is_a_request_error_with_the_message(connect: Any) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    sim.fail_next(Fault.error(400))
    with pytest.raises(UpstreamRequestError, match="Invalid request") as info:
        connect(sim).fetch(START, END)
    assert info.value.status == 400 and len(sim.requests) == 1


def test_429_bursts_honour_retry_after_and_end_complete(connect: Any, sleeps: Sleeps) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    sim.fail_next(Fault.too_many("1"), Fault.too_many("2"), Fault.too_many())
    result = connect(sim, page_size=50).fetch(START, END)
    assert_complete(result, FULL_SEED)
    assert sleeps[:2] == [1.0, 2.0] and len(sleeps) == 3
    assert [r.status for r in sim.requests].count(429) == 3


def test_500s_then_recovery_end_complete(connect: Any, sleeps: Sleeps) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    sim.after_requests(1, lambda: sim.fail_next(Fault.error(500), Fault.error(502)))
    result = connect(sim, page_size=20).fetch(START, END)
    assert_complete(result, FULL_SEED)
    assert len(sleeps) == 2


def test_500s_forever_mid_read_raise_unavailable(connect: Any) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    sim.after_requests(2, lambda: sim.fail_next(*[Fault.error(500)] * 100))
    with pytest.raises(UpstreamUnavailable, match="4 attempts") as info:
        connect(sim, page_size=10).fetch(START, END)
    assert info.value.status == 500


def test_a_timeout_is_retried_and_ends_complete(
    _server: tuple[Holder, str], connect: Any, sleeps: Sleeps
) -> None:
    sim = TagMangoSimulator(SMALL_SEED)
    sim.fail_next(Fault.hang(0.6))
    http = UpstreamHTTP("tm-test", sleep=sleeps, timeout=httpx.Timeout(0.2, connect=2.0))
    result = connect(sim, http=http).fetch(START, END)
    assert_complete(result, SMALL_SEED)
    assert len(sleeps) == 1


def test_timeouts_forever_raise_unavailable(connect: Any) -> None:
    sim = TagMangoSimulator(SMALL_SEED)
    sim.fail_next(Fault.hang(0.4), Fault.hang(0.4))
    http = UpstreamHTTP(
        "tm-test", sleep=lambda s: None, timeout=httpx.Timeout(0.15, connect=2.0), max_attempts=2
    )
    with pytest.raises(UpstreamUnavailable, match="timed out"):
        connect(sim, http=http).fetch(START, END)


def test_truncated_json_is_a_protocol_error(connect: Any) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    sim.after_requests(1, lambda: sim.fail_next(Fault.truncated()))
    with pytest.raises(UpstreamProtocolError, match="truncated JSON"):
        connect(sim, page_size=50).fetch(START, END)


def test_a_body_of_the_wrong_shape_is_a_protocol_error(connect: Any) -> None:
    def odd(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"items": [], "count": 0}']

    with pytest.raises(UpstreamProtocolError, match="page 1 of the video-call list"):
        connect(odd).fetch(START, END)


def test_one_malformed_record_is_skipped_with_a_warning_naming_it(connect: Any) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    sim.after_requests(1, lambda: sim.fail_next(Fault.malformed_record()))
    result = connect(sim, page_size=20, concurrency=1).fetch(START, END)
    (warning,) = result.warnings
    bad = sorted(FULL_SEED, key=lambda c: (c.start, c.id))[20]  # first call of page 2
    assert bad.id in warning and "toTime" in warning
    assert sorted(s.upstream_id for s in result.sessions) == [
        i for i in expected_ids(FULL_SEED) if i != bad.id
    ]


def test_an_unknown_status_is_warned_about_once_per_process(
    connect: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tagmango, "_warn_once", WarnOnce(tagmango.log))  # a fresh process
    calls = [replace(call, status="on-hold") for call in SMALL_SEED[:3]] + SMALL_SEED[3:]
    with caplog.at_level(logging.WARNING, logger="bridge.upstream.tagmango"):
        connect(TagMangoSimulator(calls), page_size=5).fetch(START, END)
        connect(TagMangoSimulator(calls), page_size=5).fetch(START, END)
    assert [r.getMessage() for r in caplog.records if "on-hold" in r.getMessage()] == [
        "TagMango call status 'on-hold' is unknown; treating it as confirmed"
    ]


def test_a_malformed_record_is_reported_as_skipped(connect: Any) -> None:
    sim = TagMangoSimulator(SMALL_SEED)
    bad = sorted(SMALL_SEED, key=lambda c: (c.start, c.id))[3]
    sim.corrupt_call(bad.id)
    result = connect(sim, page_size=5).fetch(START, END)
    assert result.skipped_ids == {bad.id} and result.unidentified == 0
    assert bad.id not in {s.upstream_id for s in result.sessions}
    sim.clear_glitches()
    assert connect(sim, page_size=5).fetch(START, END).skipped_ids == frozenset()


def test_a_self_contradicting_empty_answer_is_a_protocol_error(connect: Any) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    sim.fail_next(Fault.contradictory_empty())
    with pytest.raises(
        UpstreamProtocolError,
        match=r"contradicts itself: 'total' is \d+ but the list ended after 0 calls on 0 dates",
    ):
        connect(sim).fetch(START, END)


def test_a_list_ending_short_of_its_total_is_a_protocol_error(connect: Any) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    sim.after_requests(1, lambda: sim.fail_next(Fault.contradictory_empty()))  # page 2
    with pytest.raises(UpstreamProtocolError, match="ended after 20 calls"):
        connect(sim, page_size=20, concurrency=1).fetch(START, END)


def test_page_cap_is_an_error_not_a_truncation(connect: Any) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    with pytest.raises(UpstreamProtocolError, match=r"page cap \(3 pages of 7\)"):
        connect(sim, page_size=7, max_pages=3).fetch(START, END)
    assert len(sim.requests) == 3


def test_exactly_max_pages_of_data_is_fine(connect: Any) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    result = connect(sim, page_size=7, max_pages=19).fetch(START, END)
    assert_complete(result, FULL_SEED)


# -- data changing while it is read ----------------------------------------------------------


def test_a_call_removed_mid_read_triggers_a_clean_second_read(connect: Any) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    first = sorted(FULL_SEED, key=lambda c: (c.start, c.id))[0]
    sim.after_requests(1, lambda: sim.remove_call(first.id))
    result = connect(sim, page_size=20).fetch(START, END)
    assert_complete(result, [c for c in FULL_SEED if c.id != first.id])
    assert result.warnings == []


def test_a_call_added_mid_read_is_read_once(connect: Any) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    early = SimCall("e" * 24, "Early bird", START + timedelta(hours=1), START + timedelta(hours=2))
    sim.after_requests(1, lambda: sim.add_call(early))
    result = connect(sim, page_size=20).fetch(START, END)
    assert_complete(result, [*FULL_SEED, early])


def test_a_list_that_keeps_changing_is_an_error_not_a_partial_list(connect: Any) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    ordered = sorted(FULL_SEED, key=lambda c: (c.start, c.id))
    # Remove one call during every read of the list (each read is 7 pages of 20).
    for read in range(MAX_REREADS + 1):
        sim.after_requests(1 + 7 * read, lambda i=read: sim.remove_call(ordered[i].id))
    with pytest.raises(UpstreamUnavailable, match="'total' changed while the list was read"):
        connect(sim, page_size=20).fetch(START, END)


def test_a_list_that_changes_once_is_read_again_completely(connect: Any) -> None:
    sim = TagMangoSimulator(FULL_SEED)
    ordered = sorted(FULL_SEED, key=lambda c: (c.start, c.id))
    sim.after_requests(1, lambda: sim.remove_call(ordered[0].id))
    result = connect(sim, page_size=20).fetch(START, END)
    assert_complete(result, sim.calls())


# -- rate budget -------------------------------------------------------------------------------


@pytest.mark.rate_window
def test_the_client_budget_keeps_a_burst_within_the_server_budget(connect: Any) -> None:
    # The server's window is shorter than the client's: requests arrive after the client
    # stamps them, and on a loaded machine one batch can arrive late and the next on time, so
    # the server must tolerate up to 0.6 s of such jitter.
    sim = TagMangoSimulator(FULL_SEED, budget=(8, 0.4))
    http = UpstreamHTTP("tm-test", budget=RateBudget(8, 1.0), max_attempts=1)
    began = time.monotonic()
    result = connect(sim, http=http, page_size=7, concurrency=6).fetch(START, END)
    assert_complete(result, FULL_SEED)
    assert {r.status for r in sim.requests} == {200}
    assert time.monotonic() - began >= 2.0  # 19 requests at 8 per second need two waits


def test_clients_of_one_key_share_one_budget() -> None:
    config = TagMangoConfig("a", "shared-key-for-test", DEMO_HOST)
    first = TagMangoClient(config)
    second = TagMangoClient(TagMangoConfig("b", "shared-key-for-test", "other.host"))
    third = TagMangoClient(TagMangoConfig("c", "another-key-for-test", DEMO_HOST))
    try:
        assert first.http.budget is second.http.budget
        assert first.http.budget is not third.http.budget
        assert first.http.budget is not None
        assert (first.http.budget.limit, first.http.budget.period) == (108, 10.0)  # 90 %
    finally:
        for client in (first, second, third):
            client.close()


# -- config and planner --------------------------------------------------------------------------


def test_client_is_a_source_client() -> None:
    client = TagMangoClient(TagMangoConfig("a", "k", DEMO_HOST))
    assert isinstance(client, SourceClient)
    client.close()


@pytest.mark.parametrize(
    "bad", [{"page_size": 0}, {"max_pages": 0}, {"concurrency": 0}, {"timezone": "Mars/Base"}]
)
def test_config_rejects_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises((ValueError, KeyError)):
        TagMangoConfig("a", "k", DEMO_HOST, **bad)


def test_window_must_not_be_empty(connect: Any) -> None:
    with pytest.raises(ValueError):
        connect(TagMangoSimulator()).fetch(END, START)


def plan(pages: list[tuple[int, int]], total: int | None, **seen: int) -> int:
    seen.setdefault("calls_seen", sum(p[0] for p in pages))
    seen.setdefault("dates_seen", sum(p[1] for p in pages))
    limit, max_groups = seen.pop("limit", 10), seen.pop("max_groups", 300)
    return plan_next_round(
        [PageCounts(*p) for p in pages], total, limit=limit, max_groups=max_groups, **seen
    )


def test_planner_stops_on_an_empty_page() -> None:
    assert plan([(10, 4), (0, 0)], 10) == 0


def test_planner_stops_on_a_page_short_in_every_unit() -> None:
    assert plan([(10, 4), (3, 2)], 13) == 0


def test_planner_stops_on_a_short_page_that_total_agrees_with() -> None:
    assert plan([(3, 2)], 3) == 0  # a participant's few calls: no second, empty page
    assert plan([(10, 4), (3, 2)], 13) == 0
    assert plan([(10, 4)], 10) == 1  # a full page may have more behind it (total of groups)
    assert plan([(3, 2)], 4) == 1  # total disagrees: read on


def test_planner_sizes_the_first_round_by_the_smaller_reading() -> None:
    # total=95 as calls means 9 more pages of 10; as groups (4 per page) it would mean 23.
    assert plan([(10, 4)], 95) == 9


def test_planner_uses_a_capped_page_size() -> None:
    assert plan([(5, 3)], 50, limit=100) == 9


def test_planner_probes_once_when_readings_disagree() -> None:
    assert plan([(10, 4), (10, 5)], 20) == 1


def test_planner_trusts_total_when_only_one_reading_survives() -> None:
    # 200 cannot count the dates of a 50-day window: it counts calls, and all were read.
    assert plan([(100, 30), (100, 30)], 200, max_groups=50, limit=100) == 0
    # 20 calls were read, so a total of 15 counts groups: 7 more on pages of 4 groups.
    assert plan([(10, 4), (10, 4)], 15) == 2


def test_planner_without_total_reads_to_an_empty_page() -> None:
    assert plan([(10, 4)], None) == 1


def test_planner_with_a_total_that_fits_nothing_reads_to_an_empty_page() -> None:
    assert plan([(10, 4), (10, 4)], 3) == 1


def test_planner_refutes_a_unit_whose_page_exceeds_the_limit() -> None:
    # 14 calls on a page of limit 7 → pages count groups; total 30 groups, 7 seen per page.
    assert plan([(14, 7)], 30, limit=7, calls_seen=14, dates_seen=7) == 2


def test_bench_refresh_runs_with_tiny_sizes() -> None:
    from bench.bench_refresh import run

    result = run(pages=3, page_size=5, latency=0.01, concurrency=2, repeats=1, in_process=True)
    assert result["calls"] == 15 and result["requests_per_read"] in (3, 4)
    assert result["lower_bound_s"] == pytest.approx(0.01 * (1 + 1))
    assert result["ratio"] > 0 and isinstance(result["ok"], bool)


def test_config_repr_hides_the_api_key() -> None:
    assert "s3cret-key" not in repr(TagMangoConfig("a", "s3cret-key", DEMO_HOST))
