"""TrainerCentralClient against the simulators over real loopback HTTP.

Every talk must arrive exactly once under every reading of the undocumented paging (count
and paging unit = sessions or talks, a server cap on `limit`), and every fault must end in
complete data or a clear error.
"""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.simulator.server import RunningServer
from bridge.simulator.trainercentral import SimTalk, TrainerCentralSimulator
from bridge.simulator.zoho import ZohoAccountsSimulator
from bridge.upstream.base import SourceClient
from bridge.upstream.errors import (
    UpstreamAuthError,
    UpstreamProtocolError,
    UpstreamRequestError,
    UpstreamUnavailable,
)
from bridge.upstream.http import UpstreamHTTP
from bridge.upstream.trainercentral import (
    MemoryTokenStore,
    TrainerCentralClient,
    TrainerCentralConfig,
)
from bridge.upstream.zoho import forget_cached_tokens
from feeds.model import Status
from tests.tc_support import quick_http

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
WINDOW = (NOW - timedelta(days=1), NOW + timedelta(days=400))
Z = ZohoAccountsSimulator

pytestmark = pytest.mark.usefixtures("fresh_process_cache")


@pytest.fixture
def sim(server: RunningServer, accounts: ZohoAccountsSimulator) -> TrainerCentralSimulator:
    simulator = TrainerCentralSimulator(accounts, now=NOW)
    server.server.app.api = simulator
    return simulator


def config(server: RunningServer, **changes: Any) -> TrainerCentralConfig:
    values: dict[str, Any] = {
        "name": "academy",
        "org_id": "100000000",
        "academy_url": server.url,
        "filter": "5",
        "client_id": Z.DEFAULT_CLIENT_ID,
        "client_secret": Z.DEFAULT_CLIENT_SECRET,
        "refresh_token": Z.DEFAULT_REFRESH_TOKEN,
        "accounts_url": server.url,
        **changes,
    }
    return TrainerCentralConfig(**values)


def fetch(server: RunningServer, http: UpstreamHTTP, **changes: Any):
    client = TrainerCentralClient(config(server, **changes), http=http)
    return client.fetch(*WINDOW)


def talk_requests(sim: TrainerCentralSimulator) -> list[Any]:
    return [r for r in sim.requests if r.path.endswith("/talks.json")]


# -- every talk exactly once ------------------------------------------------------------------


@pytest.mark.parametrize("limit_cap", [None, 5])
@pytest.mark.parametrize("page_unit", ["sessions", "talks"])
@pytest.mark.parametrize("count_unit", ["sessions", "talks"])
@pytest.mark.parametrize("page_size", [1, 7, 100])
def test_every_talk_arrives_exactly_once_under_every_paging_reading(
    server: RunningServer,
    http: UpstreamHTTP,
    sim: TrainerCentralSimulator,
    accounts: ZohoAccountsSimulator,
    page_size: int,
    count_unit: str,
    page_unit: str,
    limit_cap: int | None,
) -> None:
    sim.count_unit, sim.page_unit, sim.limit_cap = count_unit, page_unit, limit_cap  # type: ignore[assignment]
    expected = [t.id for t in sim.upcoming_talks("5")]
    result = fetch(server, http, page_size=page_size)
    assert sorted(s.upstream_id for s in result.sessions) == sorted(expected)
    assert result.warnings == []
    assert accounts.grant_count == 1
    # Near-optimal cost: one request per page of the paging unit, the final empty page, and
    # at most one more while the paging unit is still being learned.
    listed = sim.upcoming_talks("5")
    units = len(listed) if page_unit == "talks" else len({t.session_id for t in listed})
    per_page = min(page_size, limit_cap or page_size)
    assert len(talk_requests(sim)) <= math.ceil(units / per_page) + 2


def test_requests_carry_the_documented_parameters_and_header(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator
) -> None:
    fetch(server, http, page_size=4, filter="1")
    first, second = talk_requests(sim)[:2]
    assert first.path == "/api/v4/100000000/talks.json"
    assert first.params == {"filter": "1", "limit": "4", "si": "0"}
    assert second.params["si"] == "4"
    assert first.authorization is not None
    assert first.authorization.startswith("Zoho-oauthtoken 1000.")


def test_filter_1_lists_only_your_sessions(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator
) -> None:
    result = fetch(server, http, filter="1")
    assert {s.upstream_id for s in result.sessions} == {t.id for t in sim.upcoming_talks("1")}


def test_sessions_come_out_right(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator
) -> None:
    result = fetch(server, http)
    by_id = {s.upstream_id: s for s in result.sessions}
    for talk in sim.upcoming_talks("5"):
        session = by_id[talk.id]
        workshop = sim.session(talk.session_id)
        assert (session.start, session.end) == (talk.start, talk.end)
        assert session.series_key == workshop.id and session.title == workshop.name
        cancelled = talk.cancelled or talk.deleted_at is not None or workshop.cancelled
        assert session.status is (Status.CANCELLED if cancelled else Status.CONFIRMED)
    assert [s.start for s in result.sessions] == sorted(s.start for s in result.sessions)


def test_only_talks_starting_in_the_window_are_returned(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator
) -> None:
    start, end = NOW + timedelta(days=5), NOW + timedelta(days=12)
    client = TrainerCentralClient(config(server), http=http)
    result = client.fetch(start, end)
    expected = {t.id for t in sim.upcoming_talks("5") if start <= t.start < end}
    assert {s.upstream_id for s in result.sessions} == expected and expected
    with pytest.raises(ValueError):
        client.fetch(end, start)
    with pytest.raises(ValueError):
        client.fetch(datetime(2025, 1, 1), end)


def test_client_is_a_source_client(server: RunningServer) -> None:
    assert isinstance(TrainerCentralClient(config(server)), SourceClient)


# -- tokens -----------------------------------------------------------------------------------


def test_token_expiring_mid_run_costs_exactly_one_extra_grant(
    server: RunningServer,
    http: UpstreamHTTP,
    sim: TrainerCentralSimulator,
    accounts: ZohoAccountsSimulator,
) -> None:
    sim.on_request = lambda n: accounts.clock.advance(3600) if n == 4 else None
    result = fetch(server, http, page_size=2)
    assert sorted(s.upstream_id for s in result.sessions) == sorted(
        t.id for t in sim.upcoming_talks("5")
    )
    assert accounts.grant_count == 2
    statuses = [r.status for r in talk_requests(sim)]
    assert statuses.count(401) == 1 and statuses[3] == 401 and len(statuses) > 6


def test_token_in_a_store_is_reused_by_a_new_client(
    server: RunningServer,
    http: UpstreamHTTP,
    sim: TrainerCentralSimulator,
    accounts: ZohoAccountsSimulator,
) -> None:
    store = MemoryTokenStore()
    TrainerCentralClient(config(server), http=http, token_store=store).fetch(*WINDOW)
    forget_cached_tokens()  # as after a restart
    result = TrainerCentralClient(config(server), http=http, token_store=store).fetch(*WINDOW)
    assert result.sessions and accounts.grant_count == 1


def test_concurrent_clients_share_one_grant(
    server: RunningServer,
    http: UpstreamHTTP,
    sim: TrainerCentralSimulator,
    accounts: ZohoAccountsSimulator,
) -> None:
    accounts.latency = 0.1
    barrier = threading.Barrier(20)
    counts: list[int] = []

    def run() -> None:
        client = TrainerCentralClient(config(server), http=http)
        barrier.wait()
        counts.append(len(client.fetch(*WINDOW).sessions))

    threads = [threading.Thread(target=run) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(counts) == 20 and len(set(counts)) == 1
    assert accounts.grant_count == 1


def test_fixed_access_token_works_and_its_401_says_what_to_do(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator
) -> None:
    oauth_off = {"client_id": None, "client_secret": None, "refresh_token": None}
    sim.static_tokens.add("1000.static")
    assert fetch(server, http, access_token="1000.static", **oauth_off).sessions
    with pytest.raises(UpstreamAuthError, match="client id, client secret and refresh token"):
        fetch(server, http, access_token="1000.expired", **oauth_off)


def test_bad_refresh_token_is_a_clear_auth_error(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator
) -> None:
    with pytest.raises(UpstreamAuthError) as caught:
        fetch(server, http, refresh_token="1000.wrong")
    assert str(caught.value).startswith("academy: Zoho rejected the refresh token")
    assert talk_requests(sim) == []


def test_token_rejected_even_after_refresh_is_an_auth_error(
    server: RunningServer,
    http: UpstreamHTTP,
    sim: TrainerCentralSimulator,
    accounts: ZohoAccountsSimulator,
) -> None:
    sim.fail_next("unauthorized", times=2)
    with pytest.raises(UpstreamAuthError, match=r"TrainerCentral\.talkapi\.READ"):
        fetch(server, http)
    assert accounts.grant_count == 2


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "times", "after", "page_size", "error", "message"),
    [
        ("bad_request", 1, 2, 3, UpstreamRequestError, "Invalid request parameters"),
        ("server_error", 3, 1, 10, UpstreamUnavailable, "HTTP 500"),
        ("truncated", 1, 1, 5, UpstreamProtocolError, "invalid or truncated JSON"),
    ],
    ids=["400-is-a-request-error", "server-errors-that-last", "truncated-json"],
)
def test_faults_that_last_end_in_a_clear_error(
    server: RunningServer,
    http: UpstreamHTTP,
    sim: TrainerCentralSimulator,
    fault: str,
    times: int,
    after: int,
    page_size: int,
    error: type[Exception],
    message: str,
) -> None:
    sim.fail_next(fault, times=times, after=after)
    with pytest.raises(error, match=message):
        fetch(server, http, page_size=page_size)


def test_server_errors_then_recovery_give_complete_data(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator
) -> None:
    sim.fail_next("server_error", times=2, after=1)
    result = fetch(server, http, page_size=10)
    assert sorted(s.upstream_id for s in result.sessions) == sorted(
        t.id for t in sim.upcoming_talks("5")
    )
    assert [r.status for r in talk_requests(sim)][:4] == [200, 500, 500, 200]


def test_timeouts_are_retried_then_reported(
    server: RunningServer, sim: TrainerCentralSimulator
) -> None:
    sim.timeout_delay = 0.6
    with quick_http(read_timeout=0.2) as impatient:
        sim.fail_next("timeout", after=1)
        result = fetch(server, impatient, page_size=50)
        assert len(result.sessions) == len(sim.upcoming_talks("5"))
        sim.fail_next("timeout", times=3)
        with pytest.raises(UpstreamUnavailable, match="timed out"):
            fetch(server, impatient, page_size=50)


def test_one_malformed_talk_is_skipped_with_a_warning_naming_it(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator
) -> None:
    broken = sim.corrupt_talk()
    result = fetch(server, http, page_size=7)
    expected = sorted(t.id for t in sim.upcoming_talks("5") if t.id != broken)
    assert sorted(s.upstream_id for s in result.sessions) == expected
    [warning] = result.warnings
    assert f"talk {broken}" in warning and "scheduledTime" in warning


def test_a_malformed_talk_is_reported_as_skipped(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator
) -> None:
    broken = sim.corrupt_talk()
    result = fetch(server, http, page_size=7)
    assert result.skipped_ids == {broken} and result.unidentified == 0


@pytest.mark.parametrize("after", [0, 1])
def test_a_listing_that_contradicts_its_total_is_a_protocol_error(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator, after: int
) -> None:
    sim.count_unit = "talks"  # so that one page lists fewer talks and sessions than the total
    sim.fail_next("contradictory_empty", after=after)  # the first page, or the second
    with pytest.raises(UpstreamProtocolError, match="the talk listing contradicts itself"):
        fetch(server, http, page_size=3)


def test_hidden_talks_are_left_out_until_the_glitch_clears(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator
) -> None:
    every = [t.id for t in sim.upcoming_talks("5")]
    sim.hide_talks(every[1:])
    assert [s.upstream_id for s in fetch(server, http).sessions] == every[:1]
    sim.clear_glitches()
    assert sorted(s.upstream_id for s in fetch(server, http).sessions) == sorted(every)


def test_page_cap_is_an_error_not_a_truncated_list(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator
) -> None:
    sim.page_unit = "talks"
    with pytest.raises(UpstreamProtocolError, match="after 3 pages"):
        fetch(server, http, page_size=7, max_pages=3)
    assert len(talk_requests(sim)) == 4


def test_data_that_fits_the_page_cap_exactly_is_complete(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator
) -> None:
    sessions = len({t.session_id for t in sim.upcoming_talks("5")})
    result = fetch(server, http, page_size=1, max_pages=sessions)
    assert len(result.sessions) == len(sim.upcoming_talks("5"))


def test_unknown_org_and_refused_filter_say_why(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator
) -> None:
    with pytest.raises(UpstreamRequestError, match="no academy with org id 42") as caught:
        fetch(server, http, org_id="42")
    assert caught.value.status == 404
    sim.admins.clear()
    with pytest.raises(UpstreamRequestError, match="filter 5 needs an academy admin"):
        fetch(server, http)


def test_listing_changing_mid_walk_restarts_it(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator
) -> None:
    first_session = sim.upcoming_talks("5")[0].session_id
    start = NOW + timedelta(hours=30)
    added = SimTalk("4242", first_session, start, start + timedelta(hours=1))
    sim.on_request = lambda n: sim.add_talk(added) if n == 3 else None
    sim.count_unit = sim.page_unit = "talks"
    result = fetch(server, http, page_size=5)
    ids = [s.upstream_id for s in result.sessions]
    assert sorted(ids) == sorted(t.id for t in sim.upcoming_talks("5")) and "4242" in ids
    assert talk_requests(sim)[3].params["si"] == "0"  # the restart


def test_listing_that_never_settles_is_unavailable(
    server: RunningServer, http: UpstreamHTTP, sim: TrainerCentralSimulator
) -> None:
    session_id = sim.upcoming_talks("5")[0].session_id

    def keep_adding(n: int) -> None:
        start = NOW + timedelta(days=2, minutes=n)
        sim.add_talk(SimTalk(f"5{n:04d}", session_id, start, start + timedelta(minutes=30)))

    sim.on_request = keep_adding
    sim.count_unit = "talks"  # every added talk changes the total
    with pytest.raises(UpstreamUnavailable, match="changed while it was being read"):
        fetch(server, http, page_size=5)


def test_empty_and_no_content_answers_are_an_empty_list(
    server: RunningServer, http: UpstreamHTTP, accounts: ZohoAccountsSimulator
) -> None:
    answers = iter([("204 No Content", b""), ("200 OK", b"{}")])

    def empty(environ, start_response):
        status, body = next(answers)
        start_response(status, [("Content-Type", "application/json")])
        return [body]

    server.server.app.api = empty
    assert fetch(server, http).sessions == []
    assert fetch(server, http).sessions == []


def test_error_shaped_200_is_a_protocol_error(
    server: RunningServer, http: UpstreamHTTP, accounts: ZohoAccountsSimulator
) -> None:
    def odd(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"code": "INTERNAL_ERROR", "message": "oops"}']

    server.server.app.api = odd
    with pytest.raises(UpstreamProtocolError, match="no talks, sessions or meta"):
        fetch(server, http)


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"filter": "2"}, "filter"),
        ({"org_id": "1/../2"}, "org id"),
        ({"academy_url": "zylker.trainercentral.com"}, "academy_url"),
        ({"accounts_url": "ftp://accounts.zoho.com"}, "accounts_url"),
        ({"page_size": 0}, "page_size"),
        ({"access_token": "1000.x"}, "not both"),
        ({"refresh_token": None}, "refresh token"),
        ({"name": " "}, "name"),
    ],
)
def test_bad_configuration_is_refused(changes: dict[str, Any], says: str) -> None:
    values: dict[str, Any] = {
        "name": "academy",
        "org_id": "100000000",
        "academy_url": "https://zylker.trainercentral.com/",
        "client_id": "id",
        "client_secret": "secret",
        "refresh_token": "refresh",
        **changes,
    }
    with pytest.raises(ValueError, match=says):
        TrainerCentralConfig(**values)


def test_configuration_normalizes_urls_and_hides_secrets() -> None:
    cfg = TrainerCentralConfig(
        name="academy",
        org_id="100000000",
        academy_url="https://zylker.trainercentral.com/",
        client_id="id",
        client_secret="s3cret",
        refresh_token="r3fresh",
    )
    assert cfg.talks_url == "https://zylker.trainercentral.com/api/v4/100000000/talks.json"
    assert "s3cret" not in repr(cfg) and "r3fresh" not in repr(cfg)
