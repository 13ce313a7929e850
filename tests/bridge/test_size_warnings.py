"""A feed too large for Google Calendar is trimmed, never silently: the served feed stays under
the budget and the owner is told on the subscribe page, by `calbridge feed show` and in the
admin API's feed object. Runaway upstream fields are cut and logged by the refresh."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import html

import bridge.cli
import feeds.fitting
from bridge import operations
from bridge.cli import main
from bridge.web.openapi import validate_body
from feeds.limits import FEED_BYTE_BUDGET, MAX_DESCRIPTION_CHARS
from tests.ical_validators import validate_feed
from tests.web_support import NOW, Harness, Upstream, call, make_harness

SESSIONS = 150  # × an 8,000-character description: about 1.2 MB untrimmed
ADMIN_TOKEN = "size-warning-admin-token-0123456789"


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


def make_too_large(harness: Harness) -> None:
    harness.upstream.sessions = [
        call(f"w{n}", f"Workshop {n}", NOW + timedelta(days=1 + n), description="Agenda. " * 2000)
        for n in range(SESSIONS)
    ]
    harness.refetch()


def feed_bytes(harness: Harness) -> bytes:
    response = harness.client.get(f"/f/{harness.token}.ics")
    assert response.status_code == 200
    return response.get_data()


def size_notice(page: html.HtmlElement) -> list[str]:
    found = page.xpath('//*[@id="size-warning"]//li')
    return [" ".join(item.text_content().split()) for item in found]


def test_a_normal_feed_has_no_size_warning_anywhere(harness: Harness) -> None:
    assert size_notice(harness.page()) == []
    services = harness.services
    assert operations.show_feed(services, harness.feed_id).warnings == ()


def test_an_oversized_feed_is_trimmed_and_every_session_kept(harness: Harness) -> None:
    make_too_large(harness)
    body = feed_bytes(harness)
    assert len(body) <= FEED_BYTE_BUDGET
    occurrences = validate_feed(body, start=NOW, end=NOW + timedelta(days=SESSIONS + 2))
    workshops = [o for o in occurrences if o.summary.startswith("Workshop")]
    assert len(workshops) == SESSIONS  # descriptions were shortened, nobody was dropped
    assert "Agenda." in body.decode()


def test_the_owner_sees_the_warning_on_the_page_and_a_share_viewer_does_not(
    harness: Harness,
) -> None:
    make_too_large(harness)
    notes = size_notice(harness.page())
    assert len(notes) == 2
    assert notes[0].startswith("The feed came to ") and "over the 900,000 calbridge" in notes[0]
    assert notes[1] == "Session descriptions were shortened to 2,000 characters."

    share = operations.share_feed(harness.services, harness.feed_id, scope="no-links")
    share_token = share.links.page_url.rsplit("/", 1)[1]
    assert size_notice(harness.page(share_token)) == []


def test_feed_show_prints_the_warning(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    make_too_large(harness)
    feed_bytes(harness)  # the service fetches; `feed show` reads the archive, never upstream
    harness.upstream.failing = True
    monkeypatch.setattr(bridge.cli, "load_services", lambda: harness.services)

    result = CliRunner().invoke(main, ["feed", "show", str(harness.feed_id)])
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line]
    assert warnings[0].startswith("calbridge: warning: the feed came to ")
    assert warnings[1] == (
        "calbridge: warning: session descriptions were shortened to 2,000 characters"
    )

    result = CliRunner().invoke(main, ["feed", "show", str(harness.feed_id), "--json"])
    shown = json.loads(result.stdout)
    assert shown["warnings"] == [line.removeprefix("calbridge: warning: ") for line in warnings]
    assert result.stderr == ""


def test_the_api_feed_object_carries_the_warnings(harness: Harness) -> None:
    make_too_large(harness)
    feed_bytes(harness)
    services = harness.services
    services.settings = dataclasses.replace(services.settings, admin_token=ADMIN_TOKEN)
    response = harness.client.get(
        f"/api/v1/feeds/{harness.feed_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert response.status_code == 200
    shown = response.get_json()
    assert shown["warnings"][1] == "session descriptions were shortened to 2,000 characters"
    validate_body("FeedDetail", shown)  # the documented schema, warnings included


def keep_renders(harness: Harness) -> None:
    """Let the renderer keep its renders (the harness re-renders on every request)."""
    renderer = harness.services.feeds
    renderer.settings = dataclasses.replace(renderer.settings, cache_ttl=3600)


def test_feed_show_reads_the_served_feed_and_never_fits_it_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep_renders(harness)
    make_too_large(harness)
    served = feed_bytes(harness)

    def fitted_again(*args: object, **kwargs: object) -> object:
        raise AssertionError("the feed was fitted again for its warnings")

    monkeypatch.setattr(feeds.fitting, "iter_feed", fitted_again)
    for _ in range(2):  # each `feed show` and API read
        warnings = list(operations.show_feed(harness.services, harness.feed_id).warnings)
        assert warnings[1] == "session descriptions were shortened to 2,000 characters"
    assert feed_bytes(harness) == served


def test_a_feed_with_no_data_yet_shows_no_size_warning(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, Upstream([], failing=True))  # nothing to render
    assert operations.show_feed(harness.services, harness.feed_id).warnings == ()


def make_long_daily_series(harness: Harness) -> None:
    """One daily series: small as one repeating event, too large one event per day."""
    harness.upstream.sessions = [
        call(
            f"d{n}",
            "Daily practice",
            NOW + timedelta(days=1 + n),
            series_key="daily",
            meeting_url="https://meet.example.org/daily",
            description="Agenda. " * 2000,
        )
        for n in range(SESSIONS)
    ]
    harness.refetch()


def test_the_expanded_feed_s_trimming_is_reported_once_it_was_served(harness: Harness) -> None:
    keep_renders(harness)
    make_long_daily_series(harness)
    assert len(feed_bytes(harness)) < FEED_BYTE_BUDGET // 10
    assert operations.show_feed(harness.services, harness.feed_id).warnings == ()

    response = harness.client.get(f"/f/{harness.token}.ics?recurrence=expand")
    assert response.status_code == 200
    assert len(response.get_data()) <= FEED_BYTE_BUDGET

    warnings = list(operations.show_feed(harness.services, harness.feed_id).warnings)
    assert len(warnings) == 2
    assert warnings[0].startswith("the expanded feed (?recurrence=expand): the feed came to ")
    assert warnings[1] == (
        "the expanded feed (?recurrence=expand): session descriptions were shortened to "
        "2,000 characters"
    )
    assert size_notice(harness.page()) == [w[:1].upper() + w[1:] + "." for w in warnings]


def test_a_runaway_title_is_cut_and_logged_by_the_refresh(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.upstream.sessions.append(
        call("big", "A" * (5 * 1024 * 1024), NOW + timedelta(hours=5), description="D" * 10**6)
    )
    with caplog.at_level(logging.WARNING, logger="bridge.jobs.fetcher"):
        body = feed_bytes(harness)
    assert len(body) < 50_000
    logged = [r.getMessage() for r in caplog.records]
    assert "mango: tagmango session big: title cut from 5,242,880 to 300 characters" in logged
    assert (
        f"mango: tagmango session big: description cut from 1,000,000 to "
        f"{MAX_DESCRIPTION_CHARS:,} characters" in logged
    )
    validate_feed(body, start=NOW - timedelta(days=2), end=NOW + timedelta(days=5))
