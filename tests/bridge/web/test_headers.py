"""Every response carries the security headers that fit it (bridge/web/headers.py): the
.ics endpoint in front of Flask, the /j/ redirect and its pages, the API, error pages,
/healthz and /metrics; HSTS when the public URL is https."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import icalendar
import pytest
from werkzeug.test import TestResponse

from bridge import operations
from bridge.app import create_app
from tests.ical_validators import validate_feed
from tests.web_support import NOW, PUBLIC, Harness, make_harness

NOTHING = "default-src 'none'; frame-ancestors 'none'"
HSTS = "Strict-Transport-Security"


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)  # public URL https://cal.example.org


def assert_locked_down(response: TestResponse, *, hsts: bool = True) -> None:
    """The headers of anything that is not an HTML page: nothing may load, frame or sniff
    it, and no Referer leaves with whatever follows it."""
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Content-Security-Policy"].startswith(NOTHING)
    assert (HSTS in headers) is hsts
    if hsts:
        assert int(headers[HSTS].removeprefix("max-age=")) >= 365 * 24 * 3600


def assert_page(response: TestResponse) -> None:
    headers = response.headers
    assert response.mimetype == "text/html"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in ("no-referrer", "same-origin")
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert HSTS in headers


def join_url(harness: Harness, title: str) -> str:
    body = harness.client.get(f"/f/{harness.token}.ics").data
    validate_feed(body, start=NOW - timedelta(days=7), end=NOW + timedelta(days=30))
    event = next(
        e for e in icalendar.Calendar.from_ical(body).walk("VEVENT") if e["SUMMARY"] == title
    )
    return str(event["URL"])


def test_feed_answers_of_every_kind_are_locked_down(harness: Harness) -> None:
    feed = harness.client.get(f"/f/{harness.token}.ics")
    assert feed.status_code == 200
    assert_locked_down(feed)
    revalidated = harness.client.get(
        f"/f/{harness.token}.ics", headers={"If-None-Match": feed.headers["ETag"]}
    )
    assert revalidated.status_code == 304
    assert_locked_down(revalidated)
    assert_locked_down(harness.client.head(f"/f/{harness.token}.ics"))
    unknown = harness.client.get("/f/no-such-token.ics")
    assert unknown.status_code == 404
    assert_locked_down(unknown)
    bad_option = harness.client.get(f"/f/{harness.token}.ics?recurrence=nope")
    assert bad_option.status_code == 400
    assert_locked_down(bad_option)


def test_the_join_redirect_sends_no_referer_to_the_meeting_site(harness: Harness) -> None:
    answer = harness.client.get(join_url(harness, "Morning flow").removeprefix(PUBLIC))
    assert answer.status_code == 302
    assert answer.headers["Location"] == "https://meet.example.org/c1"
    assert_locked_down(answer)


def test_join_refusals_and_error_pages_are_pages(harness: Harness) -> None:
    refused = harness.client.get("/j/forged.token")
    assert refused.status_code == 400
    assert_page(refused)
    missing = harness.client.get("/no/such/page")
    assert missing.status_code == 404
    assert_page(missing)


def test_the_api_health_and_metrics_are_locked_down(harness: Harness) -> None:
    unauthorised = harness.client.get("/api/v1/feeds")
    assert unauthorised.status_code == 403  # no admin token configured
    assert_locked_down(unauthorised)
    assert_locked_down(harness.client.get("/api/v1/openapi.json"))
    assert_locked_down(harness.client.get("/healthz"))
    assert_locked_down(harness.client.get("/metrics"))
    assert_locked_down(harness.client.get(f"/f/{harness.token}/events/nothing.ics"))


def test_the_pages_keep_their_own_policy(harness: Harness) -> None:
    page = harness.client.get(f"/f/{harness.token}")
    assert_page(page)
    assert page.headers["Referrer-Policy"] == "same-origin"  # our own form posts keep Origin
    assert "form-action 'self'" in page.headers["Content-Security-Policy"]


def test_the_pages_redirects_get_the_locked_down_set(harness: Harness) -> None:
    # Revoking a share answers 303 to the subscribe page: the redirect is not an HTML page,
    # so it takes the no-referrer set, as the /j/ redirect does, not the page's headers.
    share = operations.share_feed(harness.services, harness.feed_id, scope="busy")
    form = harness.page().xpath(f"//tr[@data-share-id='{share.id}']//form")[0]
    redirect = harness.client.post(
        form.get("action"), data={"csrf_token": form.xpath(".//input/@value")[0]}
    )
    assert redirect.status_code == 303
    assert_locked_down(redirect)
    assert "Cache-Control" not in redirect.headers  # the pages' no-store was not pasted on
    assert_page(harness.client.get(redirect.location))


def test_no_hsts_when_the_public_url_is_plain_http(harness: Harness) -> None:
    settings = replace(harness.services.settings, public_url="http://127.0.0.1:8000")
    client = create_app(
        settings,
        clock=harness.clock,
        client_factory=lambda *a, **k: harness.upstream,
        immediate_jobs=True,
    ).test_client()
    assert_locked_down(client.get(f"/f/{harness.token}.ics"), hsts=False)
    assert_locked_down(client.get("/healthz"), hsts=False)
    assert HSTS not in client.get(f"/f/{harness.token}").headers
