"""TagMango webhooks, whole process: `calbridge serve` with a one-hour TTL, the simulator
registering the hooks through `calbridge source webhooks --register` and delivering them when
its data changes; and the change log read through the API across a restart."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import icalendar
import pytest
from lxml import html

from bridge.simulator.combined import Simulators
from bridge.simulator.tagmango import SimCall
from tests.e2e.conftest import add_sources, create_feed, eventually
from tests.e2e.processes import ADMIN_TOKEN, BridgeEnv, BridgeServer
from tests.ical_validators import validate_feed

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LANDS_WITHIN = 5.0  # the target: webhook received → feed changed


def summaries(body: bytes) -> dict[str, str]:
    calendar = icalendar.Calendar.from_ical(body)
    return {str(e["UID"]): str(e["SUMMARY"]) for e in calendar.walk("VEVENT")}


def future_call(simulators: Simulators) -> SimCall:
    now = datetime.now(UTC)
    return next(
        c
        for c in simulators.tagmango.calls()
        if c.start > now + timedelta(days=1) and not c.group_id
    )


def just_ended_call(simulators: Simulators) -> SimCall:
    """A call that ended an hour ago (completed.all comes about 15 minutes after the end)."""
    end = datetime.now(UTC) - timedelta(hours=1)
    call = SimCall("c0ffee0000000000000000aa", "Yesterday's clinic", end - timedelta(hours=1), end)
    simulators.tagmango.add_call(call)
    return call


@pytest.fixture
def hooked(upstream, bridge_env: BridgeEnv, server: BridgeServer):  # type: ignore[no-untyped-def]
    """A running bridge with a one-hour TTL whose TagMango webhooks are registered."""
    simulators, sim = upstream
    bridge_env.cache_ttl = 3600
    add_sources(bridge_env, simulators, sim.url)
    feed = create_feed(bridge_env)
    server.start()
    assert httpx.get(feed["ics_url"], timeout=30).status_code == 200
    registered = bridge_env.cli_json("source", "webhooks", "tagmango-sim", "--register")
    assert registered["registered"] == [
        "webinar.created.single",
        "webinar.created.recurring",
        "webinar.completed.all",
        "subscription.expired",
    ]
    hook = registered["webhook_url"]
    assert hook.startswith(f"{bridge_env.public_url}/hooks/tagmango/")
    assert {url.split("?")[0] for _, url in simulators.tagmango.webhooks.registered} == {hook}
    return simulators, feed, hook


def test_a_change_upstream_lands_in_seconds_despite_a_one_hour_ttl(hooked) -> None:  # type: ignore[no-untyped-def]
    simulators, feed, _ = hooked
    call = future_call(simulators)
    simulators.tagmango.update_call(call.id, title="Moved to the evening")
    changed = eventually(
        lambda: httpx.get(feed["ics_url"], timeout=30).content,
        lambda body: "Moved to the evening" in summaries(body).values(),
        LANDS_WITHIN,
        every=0.1,
    )
    assert "Moved to the evening" in summaries(changed).values()
    validate_feed(
        changed,
        start=datetime.now(UTC) - timedelta(days=40),
        end=datetime.now(UTC) + timedelta(days=200),
    )


def test_duplicates_are_answered_once(hooked) -> None:  # type: ignore[no-untyped-def]
    simulators, _, _ = hooked
    simulators.tagmango.webhooks.duplicates = 3
    simulators.tagmango.update_call(future_call(simulators).id, title="Sent three times")
    simulators.tagmango.webhooks.wait_idle()
    answers = [json.loads(d.answer)["status"] for d in simulators.tagmango.webhooks.deliveries]
    assert answers == ["queued", "duplicate", "duplicate"]


def test_the_replay_link_shows_in_the_feed_and_on_the_page(hooked) -> None:  # type: ignore[no-untyped-def]
    simulators, feed, _ = hooked
    call = just_ended_call(simulators)
    replay = "https://replays.example.org/session-42"
    simulators.tagmango.complete_call(call.id, replay)
    body = eventually(
        lambda: httpx.get(feed["ics_url"], timeout=30).content,
        lambda body: replay.encode() in body.replace(b"\r\n ", b""),
        LANDS_WITHIN,
        every=0.1,
    )
    assert f"Watch the recording: {replay}".encode() in body.replace(b"\r\n ", b"")
    page = html.fromstring(httpx.get(feed["page_url"], timeout=30).content)
    links = page.xpath("//section[@id='recordings']//a/@href")
    assert replay in links


def test_without_webhooks_the_ttl_still_applies(hooked) -> None:  # type: ignore[no-untyped-def]
    simulators, feed, _ = hooked
    simulators.tagmango.webhooks.enabled = False
    simulators.tagmango.update_call(future_call(simulators).id, title="Nobody told us")
    time.sleep(3)
    assert (
        "Nobody told us" not in summaries(httpx.get(feed["ics_url"], timeout=30).content).values()
    )


def test_bad_deliveries_get_clear_answers(hooked) -> None:  # type: ignore[no-untyped-def]
    _, _, hook = hooked
    assert httpx.post(hook + "x", content=b"{}", timeout=30).status_code == 404
    bad = httpx.post(hook, content=b"{not json", timeout=30)
    assert bad.status_code == 400 and "not JSON" in bad.json()["error"]


def test_a_flood_of_deliveries_keeps_one_refresh_per_partition(hooked) -> None:  # type: ignore[no-untyped-def]
    simulators, _, hook = hooked
    simulators.tagmango.latency = 0.5  # each refresh outlasts the burst of deliveries
    simulators.tagmango.clear_log()
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(20) as pool:
        answers = list(
            pool.map(
                lambda n: client.post(hook, json={"callList": [{"webinarId": str(n)}]}),
                range(40),
            )
        )
    assert {answer.json()["status"] for answer in answers} == {"queued"}
    time.sleep(4)
    first_pages = [r for r in simulators.tagmango.requests if r.args.get("page") == "1"]
    # 40 deliveries at once, one partition: the refresh running plus the one queued.
    assert 1 <= len(first_pages) <= 2


def test_changes_since_n_across_a_restart(
    hooked, server: BridgeServer, bridge_env: BridgeEnv
) -> None:  # type: ignore[no-untyped-def]
    simulators, feed, _ = hooked
    url = f"{bridge_env.public_url}/api/v1/feeds/{feed['id']}/changes"
    seen = httpx.get(url, headers=ADMIN, timeout=30).json()["latest"]
    call = future_call(simulators)
    simulators.tagmango.update_call(call.id, title="Renamed before the restart")
    eventually(
        lambda: httpx.get(url, params={"since": seen}, headers=ADMIN, timeout=30).json()["changes"],
        bool,
        LANDS_WITHIN,
        every=0.1,
    )
    server.stop()
    server.start()
    listed = httpx.get(url, params={"since": seen}, headers=ADMIN, timeout=30).json()
    assert [(c["upstream_id"], c["kind"]) for c in listed["changes"]] == [(call.id, "changed")]
