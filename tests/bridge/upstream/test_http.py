"""The shared upstream HTTP layer: retries, Retry-After, timeouts, error mapping, rate budget.

Requests go over real loopback HTTP to a scripted WSGI app; the sleep passed to
UpstreamHTTP records the waits instead of sleeping, so backoff tests are instant.
"""

from __future__ import annotations

import gzip
import logging
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from werkzeug.wrappers import Request, Response

from bridge.simulator.server import serving
from bridge.upstream.errors import (
    UpstreamAuthError,
    UpstreamProtocolError,
    UpstreamRequestError,
    UpstreamUnavailable,
)
from bridge.upstream.http import (
    MAX_BODY_BYTES,
    Backoff,
    RateBudget,
    UpstreamHTTP,
    parse_retry_after,
)

OK = (200, {}, b'{"ok": true}')


@dataclass
class Scripted:
    """A WSGI app answering each request with the next scripted reply (then 200 OK)."""

    replies: deque[tuple[int, dict[str, str], bytes]] = field(default_factory=deque)
    delays: deque[float] = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        request = Request(environ)
        request.get_data()
        self.requests.append(request)
        if self.delays:
            time.sleep(self.delays.popleft())
        status, headers, body = self.replies.popleft() if self.replies else OK
        response = Response(body, status=status, headers=headers, mimetype="application/json")
        return response(environ, start_response)


class Sleeps(list[float]):
    """A fake sleep that records how long it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def _served() -> Iterator[tuple[Scripted, str]]:
    # One server per module: stopping a werkzeug server takes up to half a second.
    scripted = Scripted()
    with serving(scripted) as running:
        yield scripted, f"{running.url}/api/thing"


@pytest.fixture
def app(_served: tuple[Scripted, str]) -> Scripted:
    scripted = _served[0]
    scripted.replies.clear()
    scripted.delays.clear()
    scripted.requests.clear()
    return scripted


@pytest.fixture
def url(_served: tuple[Scripted, str], app: Scripted) -> str:
    return _served[1]


def make_http(sleeps: Sleeps, **kwargs) -> UpstreamHTTP:  # type: ignore[no-untyped-def]
    kwargs.setdefault("timeout", httpx.Timeout(2.0, connect=2.0))
    return UpstreamHTTP("tm-test", sleep=sleeps, **kwargs)


def test_get_json_sends_headers_and_params(app: Scripted, url: str) -> None:
    with make_http(Sleeps()) as http:
        body = http.get_json(url, headers={"X-Thing": "1"}, params={"page": 2, "q": "a,b"})
    assert body == {"ok": True}
    (request,) = app.requests
    assert request.headers["X-Thing"] == "1"
    assert request.args["page"] == "2" and request.args["q"] == "a,b"
    assert request.headers["User-Agent"].startswith("calbridge/")


def test_500s_then_recovery_backs_off_exponentially_with_jitter(app: Scripted, url: str) -> None:
    app.replies.extend([(500, {}, b"{}"), (502, {}, b"oops"), (503, {}, b"{}")])
    sleeps = Sleeps()
    top = random.Random()
    top.uniform = lambda low, high: high  # type: ignore[method-assign]
    with make_http(sleeps, backoff=Backoff(base=0.5, cap=1.5, rng=top)) as http:
        assert http.get_json(url) == {"ok": True}
    assert len(app.requests) == 4
    assert sleeps == [0.5, 1.0, 1.5]  # base * 2**n, capped


def test_full_jitter_stays_within_the_exponential_ceiling(app: Scripted, url: str) -> None:
    app.replies.extend([(503, {}, b"{}")] * 4)
    sleeps = Sleeps()
    with make_http(sleeps, backoff=Backoff(base=0.5, cap=30, rng=random.Random(7))) as http:
        http.get_json(url)
    assert all(0 <= s <= 0.5 * 2**i for i, s in enumerate(sleeps))
    assert len(set(sleeps)) == 4  # random, not a fixed schedule


def test_500s_forever_end_in_upstream_unavailable_with_last_status(app: Scripted, url: str) -> None:
    app.replies.extend([(500, {}, b"{}")] * 2 + [(503, {}, b'{"message": "down"}')])
    sleeps = Sleeps()
    with make_http(sleeps, max_attempts=3) as http, pytest.raises(UpstreamUnavailable) as info:
        http.get_json(url)
    assert info.value.status == 503
    assert "3 attempts" in str(info.value) and "down" in str(info.value)
    assert str(info.value).startswith("tm-test: ")
    assert len(app.requests) == 3 and len(sleeps) == 2


def test_429_retry_after_seconds_is_honoured(app: Scripted, url: str) -> None:
    body = b'{"statusCode":429,"message":"Too many requests.","success":false}'
    app.replies.extend([(429, {"Retry-After": "3"}, body), (429, {"Retry-After": "1.5"}, body)])
    sleeps = Sleeps()
    with make_http(sleeps) as http:
        assert http.get_json(url) == {"ok": True}
    assert sleeps == [3.0, 1.5]


def test_429_retry_after_http_date_is_honoured(app: Scripted, url: str) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    app.replies.append((429, {"Retry-After": when}, b"{}"))
    sleeps = Sleeps()
    with make_http(sleeps) as http:
        http.get_json(url)
    assert len(sleeps) == 1 and 17 <= sleeps[0] <= 20


def test_429_without_retry_after_uses_backoff(app: Scripted, url: str) -> None:
    app.replies.extend([(429, {}, b'{"statusCode":429,"message":"Too many requests"}')] * 2)
    sleeps = Sleeps()
    with make_http(sleeps, backoff=Backoff(base=0.25, rng=random.Random(1))) as http:
        http.get_json(url)
    assert len(sleeps) == 2 and sleeps[0] <= 0.25 and sleeps[1] <= 0.5


def test_429_with_a_retry_after_too_long_gives_up_at_once(app: Scripted, url: str) -> None:
    app.replies.append((429, {"Retry-After": "3600"}, b'{"message": "Too many requests"}'))
    sleeps = Sleeps()
    with make_http(sleeps) as http, pytest.raises(UpstreamUnavailable) as info:
        http.get_json(url)
    assert info.value.status == 429 and "3600" in str(info.value)
    assert sleeps == [] and len(app.requests) == 1


def always(status: int, headers: dict[str, str] | None = None) -> list[tuple[int, dict, bytes]]:
    """Enough identical error replies to outlast any retry sequence."""
    return [(status, headers or {}, b'{"message": "Too many requests"}')] * 200


def test_429s_without_retry_after_are_retried_past_a_10_second_window(
    app: Scripted, url: str
) -> None:
    # The old policy gave up after 5 attempts and at most 7.5 s, inside TagMango's window.
    app.replies.extend(always(429))
    sleeps = Sleeps()
    with (
        make_http(sleeps, backoff=Backoff(rng=random.Random(3))) as http,
        pytest.raises(UpstreamUnavailable, match="Too many requests") as info,
    ):
        http.get_json(url)
    assert 20.0 <= sum(sleeps) <= 60.0
    assert sum(sleeps[:-1]) < 20.0  # it stops at the first wait that completes the 20 s
    assert len(app.requests) == len(sleeps) + 1 > 5
    assert info.value.status == 429 and f"{len(app.requests)} attempts" in str(info.value)


def test_5xx_backoff_doubles_until_5_seconds_have_been_waited(app: Scripted, url: str) -> None:
    app.replies.extend(always(503))
    sleeps = Sleeps()
    top = random.Random()
    top.uniform = lambda low, high: high  # type: ignore[method-assign]
    with make_http(sleeps, backoff=Backoff(rng=top)) as http, pytest.raises(UpstreamUnavailable):
        http.get_json(url)
    # An outage is recorded within seconds (429s alone are retried past the rate window).
    assert sleeps == [0.5, 1.0, 2.0, 4.0]  # 3.5 s waited: one more, to 7.5 s
    assert len(app.requests) == 5


def test_429s_honour_retry_after_until_the_window_has_passed(app: Scripted, url: str) -> None:
    app.replies.extend(always(429, {"Retry-After": "4"}))
    sleeps = Sleeps()
    with make_http(sleeps) as http, pytest.raises(UpstreamUnavailable, match="6 attempts"):
        http.get_json(url)
    assert sleeps == [4.0] * 5


def test_a_retry_after_ending_past_the_60_second_bound_gives_up(app: Scripted, url: str) -> None:
    app.replies.extend([(429, {"Retry-After": "15"}, b"{}"), (429, {"Retry-After": "50"}, b"{}")])
    sleeps = Sleeps()
    with make_http(sleeps) as http, pytest.raises(UpstreamUnavailable, match="2 attempts"):
        http.get_json(url)
    assert sleeps == [15.0]  # waiting 50 s more would start the third attempt after 65 s


def test_backoff_waits_are_cut_to_end_within_the_bound(app: Scripted, url: str) -> None:
    app.replies.extend(always(500))
    sleeps = Sleeps()
    top = random.Random()
    top.uniform = lambda low, high: high  # type: ignore[method-assign]
    backoff = Backoff(rng=top, retry_for=60.0, retry_errors_for=60.0, give_up_after=60.0)
    with make_http(sleeps, backoff=backoff) as http, pytest.raises(UpstreamUnavailable):
        http.get_json(url)
    assert sleeps[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0] and len(sleeps) == 7
    assert 28.0 < sleeps[6] <= 28.5  # not 30: the attempts took a few milliseconds too
    assert sum(sleeps) <= 60.0


def test_slow_attempts_count_towards_the_bound(app: Scripted, url: str) -> None:
    app.replies.extend(always(502))
    sleeps = Sleeps()
    top = random.Random()
    top.uniform = lambda low, high: high  # type: ignore[method-assign]
    app.delays.extend([0.3, 0.3])
    backoff = Backoff(rng=top, base=0.1, retry_for=0.5, give_up_after=0.5)
    with make_http(sleeps, backoff=backoff) as http, pytest.raises(UpstreamUnavailable):
        http.get_json(url)
    # 0.3 s attempt, 0.1 s wait, 0.3 s attempt: 0.7 s spent, past the 0.5 s bound.
    assert sleeps == [0.1] and len(app.requests) == 2


def test_backoff_bounds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="retry_for <= give_up_after"):
        Backoff(retry_for=90.0, give_up_after=60.0)


def test_401_is_an_auth_error_with_the_callers_message_and_no_retry(
    app: Scripted, url: str
) -> None:
    app.replies.append((401, {}, b'{"code":401,"message":"Invalid token","success":false}'))
    with make_http(Sleeps()) as http, pytest.raises(UpstreamAuthError) as info:
        http.get_json(url, auth_error_message="the TagMango API key was rejected")
    assert str(info.value) == (
        "tm-test: the TagMango API key was rejected (HTTP 401: Invalid token)"
    )
    assert info.value.status == 401 and len(app.requests) == 1


def test_400_and_404_are_request_errors_with_the_body_message(app: Scripted, url: str) -> None:
    app.replies.append((400, {}, b'{"code":400,"message":"Invalid request","success":false}'))
    app.replies.append((404, {}, b'{"error": {"message": "no such org"}}'))
    with make_http(Sleeps()) as http:
        with pytest.raises(UpstreamRequestError, match="Invalid request") as info:
            http.get_json(url)
        assert info.value.status == 400
        with pytest.raises(UpstreamRequestError, match="no such org"):
            http.get_json(url)
    assert len(app.requests) == 2


@pytest.mark.parametrize(
    "body", [b'{"total": 3, "data": [', b"<html>gateway</html>", b"", b"\xff\xfe\x00garbage"]
)
def test_invalid_or_truncated_json_is_a_protocol_error(
    app: Scripted, url: str, body: bytes
) -> None:
    app.replies.append((200, {}, body))
    with make_http(Sleeps()) as http, pytest.raises(UpstreamProtocolError, match="JSON"):
        http.get_json(url)


def json_of_size(size: int) -> bytes:
    """A valid JSON object of exactly `size` bytes."""
    return b'{"pad": "' + b"x" * (size - len(b'{"pad": ""}')) + b'"}'


def test_a_ten_megabyte_body_is_refused_and_logged(
    app: Scripted, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app.replies.append((200, {}, json_of_size(10 * 1024 * 1024)))
    with (
        caplog.at_level(logging.WARNING, logger="bridge.upstream.http"),
        make_http(Sleeps()) as http,
        pytest.raises(UpstreamProtocolError) as caught,
    ):
        http.get_json(url)
    message = str(caught.value)
    assert message.startswith("tm-test: ")
    assert f"over the {MAX_BODY_BYTES:,}-byte limit" in message
    assert "10,485,760 bytes announced" in message and "last good data is kept" in message
    assert len(app.requests) == 1  # not retried: the same answer would come again
    assert [r.getMessage() for r in caplog.records] == [message]


def test_a_body_within_the_limit_is_read_whole(app: Scripted, url: str) -> None:
    body = json_of_size(4096)
    app.replies.append((200, {}, body))
    with make_http(Sleeps(), max_body_bytes=4096) as http:
        assert http.get_json(url) == {"pad": "x" * (4096 - 11)}


def test_a_body_without_length_is_cut_off_as_it_streams(app: Scripted, url: str) -> None:
    chunks = (b"x" * 1024 for _ in range(64))  # chunked transfer: no Content-Length
    app.replies.append((200, {}, chunks))  # type: ignore[arg-type]
    with (
        make_http(Sleeps(), max_body_bytes=10_000) as http,
        pytest.raises(UpstreamProtocolError, match=r"10,000-byte limit \(stopped reading at"),
    ):
        http.get_json(url)


def test_a_compressed_body_counts_as_it_decodes(app: Scripted, url: str) -> None:
    small = gzip.compress(json_of_size(20_000))
    assert len(small) < 1000
    app.replies.append((200, {"Content-Encoding": "gzip"}, small))
    with make_http(Sleeps(), max_body_bytes=10_000) as http:
        with pytest.raises(UpstreamProtocolError, match="limit"):
            http.get_json(url)
        app.replies.append((200, {"Content-Encoding": "gzip"}, small))
        http.max_body_bytes = 20_000
        assert len(http.get_json(url)["pad"]) == 20_000 - 11


def test_a_huge_error_body_still_gives_its_error(app: Scripted, url: str) -> None:
    app.replies.append((400, {}, b'{"message": "bad page"' + b" " * 1_000_000 + b"}"))
    with make_http(Sleeps()) as http, pytest.raises(UpstreamRequestError, match="HTTP 400"):
        http.get_json(url)


def test_redirect_is_a_protocol_error(app: Scripted, url: str) -> None:
    app.replies.append((302, {"Location": "https://login.example/"}, b""))
    with make_http(Sleeps()) as http, pytest.raises(UpstreamProtocolError, match="redirect"):
        http.get_json(url)


def test_read_timeout_is_retried(app: Scripted, url: str) -> None:
    app.delays.append(1.0)
    sleeps = Sleeps()
    with make_http(sleeps, timeout=httpx.Timeout(0.2, connect=2.0)) as http:
        assert http.get_json(url) == {"ok": True}
    assert len(app.requests) == 2 and len(sleeps) == 1


def test_timeouts_forever_end_in_upstream_unavailable(app: Scripted, url: str) -> None:
    app.delays.extend([0.5, 0.5])
    with (
        make_http(Sleeps(), timeout=httpx.Timeout(0.1, connect=2.0), max_attempts=2) as http,
        pytest.raises(UpstreamUnavailable, match="timed out") as info,
    ):
        http.get_json(url)
    assert info.value.status is None


def test_connection_refused_is_retried_then_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    with (
        make_http(sleeps, max_attempts=3) as http,
        pytest.raises(UpstreamUnavailable, match="connection failed"),
    ):
        http.get_json(f"http://127.0.0.1:{port}/x")
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), (" 2.5 ", 2.5), ("-3", 0.0), ("soon", None), ("", None), (None, None)],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now) == 0.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def max_in_any_window(stamps: list[float], period: float) -> int:
    """The largest number of stamps in any half-open window [t, t + period)."""
    return max(sum(1 for other in stamps if start <= other < start + period) for start in stamps)


def test_rate_budget_keeps_a_burst_within_120_per_10_seconds() -> None:
    clock = FakeClock()
    budget = RateBudget(120, 10.0, clock=clock)
    stamps = []
    for _ in range(400):
        budget.acquire(clock.sleep)
        stamps.append(clock.now)
    assert stamps[:120] == [1000.0] * 120  # the first 120 go at once
    assert stamps[120] == 1010.0  # the 121st waits for the first to leave the window
    assert max_in_any_window(stamps, 10.0) == 120
    assert stamps[-1] == 1030.0  # 400 requests need four windows, no more


def test_rate_budget_sliding_window_frees_slots_as_they_age() -> None:
    clock = FakeClock()
    budget = RateBudget(3, 10.0, clock=clock)
    for step in (0, 4, 8):
        clock.now = 1000.0 + step
        assert budget.try_acquire() == 0.0
    clock.now = 1009.0
    assert budget.try_acquire() == pytest.approx(1.0)  # the t=0 grant ages out at 1010
    clock.now = 1010.0
    assert budget.try_acquire() == 0.0
    assert budget.try_acquire() == pytest.approx(4.0)  # next: the t=4 grant at 1014


def test_rate_budget_is_thread_safe() -> None:
    budget = RateBudget(5, 0.3)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(4):
            budget.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stamps) == 16
    # A little slack for the gap between the grant and the timestamp taken after it.
    assert max_in_any_window(sorted(stamps), 0.29) <= 5


def test_rate_budget_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RateBudget(0, 10.0)


def test_every_attempt_draws_from_the_shared_budget(app: Scripted, url: str) -> None:
    clock = FakeClock()
    budget = RateBudget(2, 10.0, clock=clock)
    app.replies.extend([(500, {}, b"{}")])
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.sleep(seconds)

    top = random.Random()
    top.uniform = lambda low, high: 0.0  # type: ignore[method-assign]
    with UpstreamHTTP("tm-test", budget=budget, sleep=sleep, backoff=Backoff(rng=top)) as http:
        http.get_json(url)  # attempt 1 (500) + attempt 2 (200): the budget is spent
        http.get_json(url)  # must wait for the window to slide
    assert sleeps == [0.0, 10.0]
    assert len(app.requests) == 3


def test_max_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError):
        UpstreamHTTP("x", max_attempts=0)
