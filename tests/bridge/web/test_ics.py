"""The `.ics` endpoints of bridge/web/ics.py: the feed (served in front of Flask) and
single-event downloads, through the Flask test client on the app of tests/web_support.py."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.http import parse_date

from bridge import operations
from bridge.app import create_app
from bridge.store import Store
from tests.ical_validators import validate_feed
from tests.web_support import (
    NOW,
    PUBLIC,
    Harness,
    Upstream,
    default_sessions,
    make_harness,
    token_of,
)

WINDOW = (NOW - timedelta(days=7), NOW + timedelta(days=30))


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


def feed_url(harness: Harness, token: str | None = None) -> str:
    return f"/f/{token or harness.token}.ics"


def requests_counted(harness: Harness, status: str) -> float:
    labels = {"route": "/f/<token>.ics", "status": status}
    registry = harness.services.metrics.registry
    return registry.get_sample_value("calbridge_http_requests_total", labels) or 0.0


# -- the feed ---------------------------------------------------------------------------------


def test_feed_is_a_valid_calendar_with_caching_headers(harness: Harness) -> None:
    response = harness.client.get(feed_url(harness))
    assert response.status_code == 200
    assert response.content_type == "text/calendar; charset=utf-8"
    assert response.headers["Content-Length"] == str(len(response.data))
    assert response.headers["Cache-Control"] == "private, max-age=0"
    assert response.headers["Content-Disposition"] == 'inline; filename="yoga-friends-live.ics"'
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 34
    assert parse_date(response.headers["Last-Modified"]) is not None
    assert "X-Calbridge-Stale" not in response.headers
    titles = {o.summary for o in validate_feed(response.data, start=WINDOW[0], end=WINDOW[1])}
    assert {"Morning flow", "Breathwork <basics>", "Yesterday's class"} <= titles


def test_head_has_the_get_headers_and_no_body(harness: Harness) -> None:
    get = harness.client.get(feed_url(harness))
    head = harness.client.head(feed_url(harness))
    assert head.status_code == 200 and head.data == b""
    for name in ("ETag", "Last-Modified", "Content-Type", "Content-Length", "Cache-Control"):
        assert head.headers[name] == get.headers[name]


def test_download_asks_for_an_attachment(harness: Harness) -> None:
    response = harness.client.get(feed_url(harness) + "?download=1")
    assert response.headers["Content-Disposition"] == 'attachment; filename="yoga-friends-live.ics"'


def test_expanded_recurrence_and_unknown_options(harness: Harness) -> None:
    assert harness.client.get(feed_url(harness) + "?recurrence=expand").status_code == 200
    bad = harness.client.get(feed_url(harness) + "?recurrence=weekly")
    assert bad.status_code == 400 and bad.content_type == "text/plain; charset=utf-8"
    assert bad.get_data(as_text=True) == (
        "Unknown recurrence option 'weekly'; the only option is 'expand'.\n"
    )
    # Undecodable or odd query strings are refused or ignored, never a crash.
    assert harness.client.get(feed_url(harness) + "?recurrence=%ff").status_code == 400
    assert harness.client.get(feed_url(harness) + "?&&=&download").status_code == 200


# -- conditional requests ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "validator",
    [
        lambda etag, modified: {"If-None-Match": etag},
        lambda etag, modified: {"If-None-Match": f"W/{etag}"},
        lambda etag, modified: {"If-None-Match": f'"other", {etag}'},
        lambda etag, modified: {"If-None-Match": "*"},
        lambda etag, modified: {"If-Modified-Since": modified},
    ],
    ids=["exact", "weak", "list", "star", "if-modified-since"],
)
def test_unchanged_feed_answers_304_without_a_body(harness: Harness, validator) -> None:
    first = harness.client.get(feed_url(harness))
    headers = validator(first.headers["ETag"], first.headers["Last-Modified"])
    for method in ("GET", "HEAD"):
        again = harness.client.open(feed_url(harness), method=method, headers=headers)
        assert again.status_code == 304 and again.data == b""
        assert again.headers["ETag"] == first.headers["ETag"]
        assert "Content-Length" not in again.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"If-None-Match": '"something-else"'},
        {"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"},
        {"If-Modified-Since": "not a date"},
        {"If-None-Match": "garbage without quotes"},
    ],
)
def test_stale_or_malformed_validators_get_the_whole_feed(
    harness: Harness, headers: dict[str, str]
) -> None:
    response = harness.client.get(feed_url(harness), headers=headers)
    assert response.status_code == 200 and response.data.startswith(b"BEGIN:VCALENDAR")


def test_if_none_match_wins_over_if_modified_since(harness: Harness) -> None:
    first = harness.client.get(feed_url(harness))
    headers = {"If-None-Match": '"old"', "If-Modified-Since": first.headers["Last-Modified"]}
    assert harness.client.get(feed_url(harness), headers=headers).status_code == 200


def test_a_change_upstream_changes_etag_and_last_modified(harness: Harness) -> None:
    first = harness.client.get(feed_url(harness))
    morning = harness.upstream.sessions[1]
    harness.upstream.sessions[1] = replace(morning, title="Morning flow (new room)")
    harness.clock.now += timedelta(minutes=1)
    again = harness.client.get(feed_url(harness), headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200 and again.headers["ETag"] != first.headers["ETag"]
    assert b"Morning flow (new room)" in again.data
    assert parse_date(again.headers["Last-Modified"]) > parse_date(first.headers["Last-Modified"])


# -- refusals ------------------------------------------------------------------------------------


def test_unknown_tokens_are_404_in_plain_text(harness: Harness) -> None:
    for token in ("nope", "x" * 5000, "%C3%A9t%C3%A9", "a.b", harness.token[:-1]):
        response = harness.client.get(f"/f/{token}.ics")
        assert response.status_code == 404, token
        assert response.content_type == "text/plain; charset=utf-8"
        assert response.get_data(as_text=True) == (
            "There is no calendar at this address. Check the link you were given.\n"
        )


def test_rotation_and_revocation_take_effect_on_the_next_request(harness: Harness) -> None:
    assert harness.client.get(feed_url(harness)).status_code == 200
    rotated = operations.rotate_feed(harness.services, harness.feed_id)
    assert harness.client.get(feed_url(harness)).status_code == 404
    new_token = token_of(rotated.links.ics_url)
    assert harness.client.get(feed_url(harness, new_token)).status_code == 200
    operations.revoke_feed(harness.services, harness.feed_id)
    gone = harness.client.get(feed_url(harness, new_token))
    assert gone.status_code == 410
    assert gone.get_data(as_text=True) == "This calendar has been revoked by its owner.\n"


def test_share_links_serve_their_scope_until_revoked_or_expired(harness: Harness) -> None:
    share = operations.share_feed(
        harness.services, harness.feed_id, scope="busy", expires="2026-05-06"
    )
    token = token_of(share.links.ics_url)
    response = harness.client.get(feed_url(harness, token))
    assert response.status_code == 200
    assert b"Morning flow" not in response.data and f"{PUBLIC}/j/".encode() not in response.data
    summaries = {o.summary for o in validate_feed(response.data, start=WINDOW[0], end=WINDOW[1])}
    assert summaries == {"Busy", "Cancelled: Busy"}
    harness.clock.now += timedelta(days=3)
    expired = harness.client.get(feed_url(harness, token))
    assert expired.status_code == 410
    assert expired.get_data(as_text=True) == "This shared calendar link has expired.\n"
    other = operations.share_feed(harness.services, harness.feed_id, scope="full")
    operations.revoke_share(harness.services, other.id)
    revoked = harness.client.get(feed_url(harness, token_of(other.links.ics_url)))
    assert revoked.status_code == 410 and "revoked" in revoked.get_data(as_text=True)


def test_never_fetched_feed_is_503_with_retry_after_and_the_reason(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, Upstream(default_sessions(), failing=True))
    response = harness.client.get(feed_url(harness))
    assert response.status_code == 503 and response.headers["Retry-After"] == "60"
    assert response.get_data(as_text=True) == (
        "This calendar has no data yet: mango: connection refused\n"
    )


def test_failing_upstream_serves_the_last_good_feed_marked_stale(harness: Harness) -> None:
    good = harness.client.get(feed_url(harness))
    harness.upstream.failing = True
    harness.clock.now += timedelta(minutes=5)
    stale = harness.client.get(feed_url(harness))
    assert stale.status_code == 200 and stale.data == good.data
    # The outage began with this request's fetch; the data is five minutes old.
    assert (
        stale.headers["X-Calbridge-Stale"] == "0" and stale.headers["X-Calbridge-Data-Age"] == "300"
    )
    assert "Age" not in stale.headers  # a cache header: it would defeat max-age


def test_stale_age_counts_from_the_first_failure_in_every_worker(harness: Harness) -> None:
    harness.client.get(feed_url(harness))
    harness.upstream.failing = True
    harness.clock.now += timedelta(minutes=5)
    harness.client.get(feed_url(harness))  # the first failure
    harness.clock.now += timedelta(seconds=10)
    again = harness.client.get(feed_url(harness))
    assert (
        again.headers["X-Calbridge-Stale"] == "10"
        and again.headers["X-Calbridge-Data-Age"] == "310"
    )
    # Another worker, or the service after a restart: same database, same answer.
    other = create_app(
        harness.services.settings,
        clock=harness.clock,
        client_factory=lambda *args, **kwargs: harness.upstream,
        immediate_jobs=True,
    ).test_client()
    harness.clock.now += timedelta(seconds=5)
    assert other.get(feed_url(harness)).headers["X-Calbridge-Stale"] == "15"
    assert harness.client.get(feed_url(harness)).headers["X-Calbridge-Stale"] == "15"
    harness.upstream.failing = False
    recovered = harness.client.get(feed_url(harness))
    assert "X-Calbridge-Stale" not in recovered.headers
    assert "X-Calbridge-Data-Age" not in recovered.headers


def test_other_methods_and_paths_go_on_to_flask(harness: Harness) -> None:
    post = harness.client.post(feed_url(harness))
    assert post.status_code == 405
    assert harness.client.get(feed_url(harness) + "/").status_code == 404
    assert harness.client.get("/healthz").status_code == 200


def test_an_unexpected_error_is_a_logged_500_and_the_next_request_works(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: Store, raw: str) -> None:
        raise RuntimeError("database on fire")

    with monkeypatch.context() as patch:
        patch.setattr(Store, "feed_by_token", broken)
        with caplog.at_level(logging.ERROR):
            response = harness.client.get(feed_url(harness))
    assert response.status_code == 500
    assert response.get_data(as_text=True) == "Internal server error; please try later.\n"
    assert "database on fire" in caplog.text
    assert harness.token not in caplog.text and "/f/…" in caplog.text
    assert harness.client.get(feed_url(harness)).status_code == 200


def test_requests_are_counted_by_route_and_status(harness: Harness) -> None:
    before = {status: requests_counted(harness, status) for status in ("200", "304", "404")}
    etag = harness.client.get(feed_url(harness)).headers["ETag"]
    harness.client.get(feed_url(harness), headers={"If-None-Match": etag})
    harness.client.get("/f/unknown.ics")
    after = {status: requests_counted(harness, status) for status in ("200", "304", "404")}
    assert {status: after[status] - before[status] for status in after} == {
        "200": 1,
        "304": 1,
        "404": 1,
    }


def test_event_download_is_one_event_as_an_attachment(harness: Harness) -> None:
    feed = harness.client.get(feed_url(harness)).data
    occurrences = validate_feed(feed, start=WINDOW[0], end=WINDOW[1])
    uid = next(o.uid for o in occurrences if o.summary == "Morning flow")
    response = harness.client.get(f"/f/{harness.token}/events/{uid}.ics")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    assert [o.summary for o in validate_feed(response.data, start=WINDOW[0], end=WINDOW[1])] == [
        "Morning flow"
    ]
    missing = harness.client.get(f"/f/{harness.token}/events/nothing@here.ics")
    assert missing.status_code == 404 and missing.content_type == "text/plain; charset=utf-8"


def test_event_download_of_a_feed_without_data_yet_is_503(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, Upstream(default_sessions(), failing=True))
    response = harness.client.get(f"/f/{harness.token}/events/tagmango-c1@cal.example.org.ics")
    assert response.status_code == 503 and response.headers["Retry-After"] == "60"
    assert response.content_type == "text/plain; charset=utf-8"
    assert response.get_data(as_text=True) == (
        "This calendar has no data yet: mango: connection refused\n"
    )
