"""`calbridge serve` as a real process: tokens stay out of its logs however the path is
encoded, every answer carries its security headers, /metrics needs the configured token, and
the stale age counts from the first failure across a restart."""

from __future__ import annotations

import functools
import time
from urllib.parse import urlsplit

import httpx
import icalendar

from bridge.simulator.tagmango import Fault
from tests.e2e.conftest import add_sources, create_feed
from tests.e2e.processes import BridgeServer

get = functools.partial(httpx.get, timeout=120)
STALE_TEST_TTL = 4  # the stale-age test's TTL: how much older the data is than the outage


def token_of(ics_url: str) -> str:
    return urlsplit(ics_url).path.removeprefix("/f/").removesuffix(".ics")


def test_percent_encoded_feed_path_is_served_but_never_logged(upstream, bridge_env, server) -> None:
    simulators, sim = upstream
    add_sources(bridge_env, simulators, sim.url)
    feed = create_feed(bridge_env)
    token = token_of(feed["ics_url"])
    server.start()
    encoded = get(
        f"{bridge_env.public_url}/%66/{token}.ics",
        headers={"Referer": f"{bridge_env.public_url}/%66/{token}"},
    )
    assert encoded.status_code == 200
    assert icalendar.Calendar.from_ical(encoded.content).walk("VEVENT")
    assert encoded.headers["x-content-type-options"] == "nosniff"
    assert encoded.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in encoded.headers["content-security-policy"]
    assert "strict-transport-security" not in encoded.headers  # the public URL is http
    assert get(f"{bridge_env.public_url}/%66/{token}").status_code == 200  # the page
    server.stop()  # flushes the access log
    log = server.log_path.read_text()
    assert "GET /%66/…" in log
    assert token not in log


def test_join_redirect_carries_no_referrer_policy_hole(upstream, bridge_env, server) -> None:
    simulators, sim = upstream
    add_sources(bridge_env, simulators, sim.url)
    feed = create_feed(bridge_env)
    server.start()
    calendar = icalendar.Calendar.from_ical(get(feed["ics_url"]).content)
    joins = [str(e["URL"]) for e in calendar.walk("VEVENT") if "/j/" in str(e.get("URL", ""))]
    assert joins
    answers = [get(url) for url in joins]
    redirect = next(a for a in answers if a.status_code == 302)
    assert redirect.headers["referrer-policy"] == "no-referrer"
    assert redirect.headers["content-security-policy"].startswith("default-src 'none'")
    assert redirect.headers["x-content-type-options"] == "nosniff"


def test_metrics_need_the_metrics_token_when_one_is_set(bridge_env) -> None:
    bridge_env.extra["CALBRIDGE_METRICS_TOKEN"] = "e2e-metrics-token"
    server = BridgeServer(bridge_env).start()
    try:
        anonymous = get(f"{bridge_env.public_url}/metrics")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert "calbridge_" not in anonymous.text
        scraped = get(
            f"{bridge_env.public_url}/metrics",
            headers={"Authorization": "Bearer e2e-metrics-token"},
        )
        assert scraped.status_code == 200 and "calbridge_http_requests_total" in scraped.text
    finally:
        server.stop()


def test_stale_age_counts_from_the_first_failure_across_a_restart(
    upstream, bridge_env, server
) -> None:
    simulators, sim = upstream
    bridge_env.cache_ttl = STALE_TEST_TTL
    add_sources(bridge_env, simulators, sim.url)
    feed = create_feed(bridge_env)
    server.start()
    assert get(feed["ics_url"]).status_code == 200  # the data every later answer carries
    # Refusals, not 5xx: they are not retried, so the failing fetch takes milliseconds, not the
    # seconds of backoff that would blur when the outage began. The next scheduled read, about
    # a TTL after the last good one, is the first failure: the data is that much older than
    # the outage, so counting the stale age from the last success (the old rule) shows.
    simulators.tagmango.fail_next(*[Fault.error(400)] * 10_000)
    simulators.trainercentral.fail_next("bad_request", times=10_000)
    asked = time.monotonic()
    deadline = asked + 3 * STALE_TEST_TTL
    while "x-calbridge-stale" not in (first := get(feed["ics_url"])).headers:
        assert time.monotonic() < deadline, "no failed refresh within three TTLs"
        time.sleep(0.1)
    first_answered = time.monotonic()
    first_stale = int(first.headers["x-calbridge-stale"])
    first_data_age = int(first.headers["x-calbridge-data-age"])
    assert 0 <= first_stale <= 1  # seen within 0.1 s (and a rounding) of the first failure
    assert first_data_age - first_stale >= STALE_TEST_TTL - 1
    server.stop()
    server.start()
    time.sleep(max(0.0, 1.1 - (time.monotonic() - first_answered)))  # a whole second passes
    again = get(feed["ics_url"])
    later_stale = int(again.headers["x-calbridge-stale"])
    elapsed = time.monotonic() - asked
    # The same outage, counted from the same start, and grown since the first answer.
    assert first_stale + 1 <= later_stale <= elapsed + 1
    assert int(again.headers["x-calbridge-data-age"]) - later_stale >= STALE_TEST_TTL - 1
