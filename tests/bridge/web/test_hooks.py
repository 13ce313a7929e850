"""`POST /hooks/tagmango/<secret>`: deliveries trigger forced refreshes, once each, and keep
replay links; every bad request gets a clear answer."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from lxml import html

import bridge.rendering
from bridge import operations
from bridge.app import create_app
from bridge.webhooks import MAX_DELIVERY_BYTES
from tests.web_support import NOW, Harness, call, make_harness, token_of

CREATED = "webinar.created.single"
COMPLETED = "webinar.completed.all"


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


def app_with_ttl(harness: Harness, *, immediate: bool = True) -> Flask:
    """The harness's installation with a one-hour TTL: only a webhook makes it read again."""
    settings = dataclasses.replace(harness.services.settings, cache_ttl=3600)
    return create_app(
        settings,
        clock=harness.clock,
        client_factory=lambda *a, **k: harness.upstream,
        immediate_jobs=immediate,
    )


def hook_url(harness: Harness) -> str:
    url = operations.show_source(harness.services, "mango").webhook_url
    assert url.startswith("https://cal.example.org/hooks/tagmango/")
    return url.removeprefix("https://cal.example.org")


def payload(event: str | None = None, **call_fields: object) -> bytes:
    body: dict = {"name": "Asha", "email": "asha@example.org", "callList": [call_fields]}
    if event:
        body["event"] = event
    return json.dumps(body).encode()


def test_a_delivery_makes_the_change_visible_despite_the_ttl(harness: Harness) -> None:
    app = app_with_ttl(harness)
    client = app.test_client()
    feed_url = f"/f/{harness.token}.ics"
    assert b"Morning flow" in client.get(feed_url).data
    harness.upstream.sessions[1] = call("c1", "Morning flow moved", NOW + timedelta(hours=4))
    assert b"moved" not in client.get(feed_url).data  # within the TTL: not read again
    answer = client.post(hook_url(harness), data=payload(CREATED, webinarId="c1"))
    assert answer.status_code == 200 and answer.get_json() == {"status": "queued"}
    time.sleep(bridge.rendering.STATE_MAX_AGE)  # how soon every web process sees a merge
    assert b"Morning flow moved" in client.get(feed_url).data


def test_a_duplicate_delivery_is_recognised(harness: Harness) -> None:
    client = app_with_ttl(harness).test_client()
    body = payload(CREATED, webinarId="c1")
    assert client.post(hook_url(harness), data=body).get_json() == {"status": "queued"}
    again = client.post(hook_url(harness), data=body)
    assert again.status_code == 200 and again.get_json() == {"status": "duplicate"}


def test_a_flood_queues_one_refresh_per_partition(harness: Harness) -> None:
    app = app_with_ttl(harness, immediate=False)  # a queue, and no worker running
    client = app.test_client()
    answers = {
        client.post(hook_url(harness), data=payload(CREATED, webinarId=f"c{n}")).get_json()[
            "status"
        ]
        for n in range(50)
    }
    assert answers == {"queued"}
    assert app.extensions["calbridge"].queue.depth() == 1


def test_the_replay_link_shows_in_the_feed_and_on_the_page(harness: Harness) -> None:
    client = app_with_ttl(harness).test_client()
    replay = "https://replays.example.org/past"
    answer = client.post(
        f"{hook_url(harness)}?event={COMPLETED}", data=payload(webinarId="past", webinarLink=replay)
    )
    assert answer.status_code == 200
    body = client.get(f"/f/{harness.token}.ics").data.decode().replace("\r\n ", "")
    assert f"Watch the recording: {replay}" in body
    page = html.fromstring(client.get(f"/f/{harness.token}").data)
    (link,) = page.xpath("//section[@id='recordings']//a[contains(@class, 'watch')]")
    assert link.get("href") == replay and "Watch the recording" in link.text_content()
    share = operations.share_feed(harness.services, harness.feed_id, scope="no-links")
    shared = html.fromstring(client.get(f"/f/{token_of(share.links.ics_url)}").data)
    assert shared.xpath("//section[@id='recordings']") == []  # a share link shows no links


def test_a_replay_link_that_is_not_a_web_address_is_ignored(harness: Harness) -> None:
    client = app_with_ttl(harness).test_client()
    bad = payload(COMPLETED, webinarId="past", webinarLink="javascript:alert(1)")
    assert client.post(hook_url(harness), data=bad).status_code == 200
    assert b"Watch the recording" not in client.get(f"/f/{harness.token}.ics").data


def test_reminders_change_nothing(harness: Harness) -> None:
    client = app_with_ttl(harness).test_client()
    answer = client.post(hook_url(harness), data=payload("webinar.reminder.15min"))
    assert answer.status_code == 200 and answer.get_json() == {"status": "ignored"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "the body is not JSON"),
        (b"[1, 2]", "the body must be a JSON object"),
        (b"", "the body is not JSON"),
    ],
)
def test_a_bad_body_is_a_400(harness: Harness, body: bytes, message: str) -> None:
    answer = app_with_ttl(harness).test_client().post(hook_url(harness), data=body)
    assert answer.status_code == 400 and message in answer.get_json()["error"]


def test_a_wrong_secret_is_a_404_and_a_huge_body_a_413(harness: Harness) -> None:
    client = app_with_ttl(harness).test_client()
    hook_url(harness)  # the source has its secret
    assert client.post("/hooks/tagmango/not-the-secret", data=payload(CREATED)).status_code == 404
    huge = b"{" + b" " * MAX_DELIVERY_BYTES + b"}"
    assert client.post(hook_url(harness), data=huge).status_code == 413
    assert client.get(hook_url(harness)).status_code == 405
