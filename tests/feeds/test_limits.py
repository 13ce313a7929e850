"""Field limits (feeds.limits): every runaway upstream field is cut once, for every source,
with a warning naming the record; a 5 MB title no longer makes a 10 MB feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.simulator.server import serving
from bridge.simulator.tagmango import DEMO_HOST, DEMO_KEY, SimCall, TagMangoSimulator
from bridge.upstream.base import FetchResult
from bridge.upstream.http import UpstreamHTTP
from bridge.upstream.tagmango import TagMangoClient, TagMangoConfig
from feeds.ical import FeedOptions, render_feed
from feeds.limits import (
    ELLIPSIS,
    MAX_DESCRIPTION_CHARS,
    MAX_EMAIL_CHARS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    cap_id,
    cap_session,
    shorten,
)
from tests.feed_samples import session
from tests.ical_validators import validate_feed

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
FIVE_MB = 5 * 1024 * 1024


def test_a_session_within_every_limit_is_returned_as_is() -> None:
    ordinary = session()
    assert cap_session(ordinary) == (ordinary, [])
    assert cap_session(ordinary)[0] is ordinary


def test_shorten_keeps_the_limit_and_marks_the_cut() -> None:
    assert shorten("short", 10) == "short"
    assert shorten("0123456789abc", 10) == "012345678" + ELLIPSIS
    assert len(shorten("x" * 1000, 300)) == 300
    assert shorten("words   then more", 9) == "words" + ELLIPSIS  # no dangling spaces


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("title", MAX_TITLE_CHARS),
        ("description", MAX_DESCRIPTION_CHARS),
        ("organizer_name", MAX_NAME_CHARS),
        ("product_title", MAX_NAME_CHARS),
        ("platform", MAX_NAME_CHARS),
    ],
)
def test_each_long_text_is_cut_with_a_warning_naming_the_record(field: str, limit: int) -> None:
    capped, warnings = cap_session(session(**{field: "é" * (limit * 3)}))
    value = getattr(capped, field)
    assert len(value) == limit and value.endswith(ELLIPSIS)
    assert len(warnings) == 1
    assert warnings[0].startswith("tagmango session 1: ")
    assert f"cut from {limit * 3:,} to {limit:,} characters" in warnings[0]


def test_a_five_megabyte_title_becomes_a_short_title() -> None:
    capped, warnings = cap_session(session(title="A" * FIVE_MB))
    assert len(capped.title) == MAX_TITLE_CHARS
    assert warnings == [
        f"tagmango session 1: title cut from {FIVE_MB:,} to {MAX_TITLE_CHARS} characters"
    ]


def test_a_long_meeting_url_or_host_is_dropped_not_cut() -> None:
    long_url = "https://meet.example.org/" + "a" * MAX_URL_CHARS
    capped, warnings = cap_session(session(meeting_url=long_url))
    assert capped.meeting_url is None
    assert "meeting URL dropped" in warnings[0] and "2,048" in warnings[0]

    long_host = "https://" + ".".join(["abcdefghij"] * 30) + ".example/j/1"
    assert len(long_host) < MAX_URL_CHARS
    capped, warnings = cap_session(session(meeting_url=long_host))
    assert capped.meeting_url is None
    assert "host name" in warnings[0]


def test_a_long_email_is_dropped() -> None:
    capped, warnings = cap_session(session(organizer_email="a" * MAX_EMAIL_CHARS + "@x.org"))
    assert capped.organizer_email is None
    assert "organizer e-mail dropped" in warnings[0]


def test_long_identifiers_stay_unique_and_stable() -> None:
    first = session(upstream_id="x" * 500 + "1", series_key="s" * 300)
    second = session(upstream_id="x" * 500 + "2")
    capped_first, warnings = cap_session(first)
    capped_second, _ = cap_session(second)
    assert len(capped_first.upstream_id) == MAX_ID_CHARS
    assert len(capped_first.series_key or "") == MAX_ID_CHARS
    assert capped_first.upstream_id != capped_second.upstream_id
    assert cap_session(first)[0] == capped_first  # the same id on every refresh
    assert cap_session(capped_first) == (capped_first, [])  # capping twice changes nothing
    assert warnings[0].startswith(f"tagmango session {capped_first.upstream_id}: id of 501")


def test_every_fetch_result_is_capped_once_whatever_client_made_it() -> None:
    result = FetchResult([session(title="T" * 10_000), session(upstream_id="ok")], ["parser note"])
    assert [len(s.title) for s in result.sessions] == [MAX_TITLE_CHARS, len(session().title)]
    assert result.warnings[0] == "parser note"
    assert result.warnings[1].startswith("tagmango session 1: title cut from 10,000")
    again = FetchResult(result.sessions, result.warnings)
    assert again.warnings == result.warnings


def test_skipped_ids_are_capped_like_the_ids_of_sessions() -> None:
    long_id = "9" * (MAX_ID_CHARS + 1)
    capped = FetchResult([session(upstream_id=long_id)]).sessions[0].upstream_id
    assert cap_id(long_id) == capped and len(capped) == MAX_ID_CHARS
    assert cap_id("short") == "short"
    result = FetchResult([], skipped_ids=frozenset({long_id, "short"}))
    assert result.skipped_ids == {capped, "short"}


def test_a_five_megabyte_title_from_tagmango_makes_a_small_feed() -> None:
    """The issue's case end to end: TagMango over loopback sends a 5 MB title; the client's
    result carries a short title and a warning naming the call, and the feed stays small."""
    start, hour = NOW + timedelta(days=1), timedelta(hours=1)
    simulator = TagMangoSimulator(
        [
            SimCall("huge", "A" * FIVE_MB, start, start + hour),
            SimCall("normal", "Evening flow", start + 3 * hour, start + 4 * hour),
        ]
    )
    with serving(simulator) as running:
        config = TagMangoConfig("mango", DEMO_KEY, DEMO_HOST, api_base=running.url)
        with UpstreamHTTP("mango") as http:
            result = TagMangoClient(config, http=http, now=lambda: NOW).fetch(
                NOW, NOW + timedelta(days=7)
            )
    titles = {s.upstream_id: s.title for s in result.sessions}
    assert titles["normal"] == "Evening flow"
    assert len(titles["huge"]) == MAX_TITLE_CHARS
    assert any(w.startswith("tagmango session huge: title cut") for w in result.warnings)

    options = FeedOptions(name="Mango", window_start=NOW, window_end=NOW + timedelta(days=7))
    feed = render_feed(result.sessions, options)
    assert len(feed) < 10_000
    occurrences = validate_feed(feed, start=NOW, end=NOW + timedelta(days=7))
    assert sorted(o.summary for o in occurrences) == sorted(titles.values())
