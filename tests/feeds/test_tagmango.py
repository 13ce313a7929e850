"""feeds.tagmango: TagMango video-call JSON → Sessions, for every envelope and bad record."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from feeds.model import SourceKind, Status
from feeds.tagmango import MalformedResponse, parse_call, parse_page

# The documented example call (TM-list), trimmed of fields the parser ignores.
DOC_CALL: dict[str, Any] = {
    "_id": "507f1f77bcf86cd799439011",
    "title": "Weekly Team Standup",
    "toTime": "2024-01-15T15:00:00.000Z",
    "fromTime": "2024-01-15T14:00:00.000Z",
    "status": "available",
    "videocallType": "onetoone",
    "ongoingCallType": "workshop",
    "platform": "tagmango",
    "meetingUrl": "https://meet.google.com/abc-defg-hij",
    "whitelabelHost": "custom.domain.com",
    "creator": {
        "_id": "6659ca9e5f2acb7abfdcd8fd",
        "name": "John Doe",
        "email": "john.doe@example.com",
        "phone": 1234567890,
        "score": {"lifetime": 100, "month": 20, "week": 5},
    },
    "mango": {
        "_id": "66a1390268a76f2f5c9f39a3",
        "creator": "77b2390268a76f2f5c9f39a4",
        "title": "Introduction to Coding",
        "price": 500,
        "description": "This is a comprehensive guide to coding.",
        "recurringType": "MONTHLY",
    },
}


def call(**changes: Any) -> dict[str, Any]:
    record = copy.deepcopy(DOC_CALL)
    for key, value in changes.items():
        if value is ...:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def bare(*calls: dict[str, Any], total: Any = 10) -> dict[str, Any]:
    return {"total": total, "data": [{"date": "2024-01-15", "calls": list(calls)}]}


def enveloped(key: str, inner: dict[str, Any]) -> dict[str, Any]:
    return {
        "message": "Video calls fetched",
        "success": True,
        "code": 200,
        "statusMessage": "OK",
        key: inner,
    }


def test_the_documented_example_maps_every_field() -> None:
    page = parse_page(bare(DOC_CALL), "tm")
    (session,) = page.sessions
    assert session.source_kind is SourceKind.TAGMANGO and session.source_name == "tm"
    assert session.upstream_id == "507f1f77bcf86cd799439011"
    assert session.title == "Weekly Team Standup"
    assert session.start == datetime(2024, 1, 15, 14, tzinfo=UTC)
    assert session.end == datetime(2024, 1, 15, 15, tzinfo=UTC)
    assert session.status is Status.CONFIRMED
    assert session.meeting_url == "https://meet.google.com/abc-defg-hij"
    assert (session.organizer_name, session.organizer_email) == ("John Doe", "john.doe@example.com")
    assert session.platform == "tagmango"
    assert session.product_id == "66a1390268a76f2f5c9f39a3"
    assert session.product_title == "Introduction to Coding"
    assert session.description == "This is a comprehensive guide to coding."
    assert session.series_key is None and session.timezone is None
    assert (page.total, page.call_count, page.group_count) == (10, 1, 1)
    assert page.dates == frozenset({"2024-01-15"}) and page.warnings == []


@pytest.mark.parametrize("key", ["result", "data"])
def test_enveloped_bodies_parse_like_the_bare_one(key: str) -> None:
    inner = bare(DOC_CALL, call(_id="b" * 24), total=2)
    page = parse_page(enveloped(key, inner), "tm")
    assert [s.upstream_id for s in page.sessions] == [DOC_CALL["_id"], "b" * 24]
    assert page.total == 2 and page.call_count == 2


def test_an_empty_page() -> None:
    page = parse_page({"total": 0, "data": []}, "tm")
    assert page.sessions == [] and page.call_count == 0 and page.group_count == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "not a JSON object"),
        ("oops", "not a JSON object"),
        ({"total": 3}, "no 'data' list"),
        ({"total": 3, "data": {"calls": []}}, "not a list of date groups"),
        ({"total": 3, "data": "x"}, "not a list"),
        ({"total": 1, "data": [["not", "a", "group"]]}, r"data\[0\] is not a date group"),
        ({"total": 1, "data": [{"date": "2024-01-01"}]}, r"data\[0\] is not a date group"),
        ({"success": False, "message": "Invalid request", "code": 400}, "Invalid request"),
        (enveloped("result", {"total": 1}), "'data' is missing"),
    ],
)
def test_a_body_of_the_wrong_shape_is_an_error(body: Any, message: str) -> None:
    with pytest.raises(MalformedResponse, match=message):
        parse_page(body, "tm")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (call(_id=...), "'_id' is missing"),
        (call(_id=""), "'_id'"),
        (call(_id=12345), "'_id' is a int"),
        (call(fromTime=...), "'fromTime' is missing"),
        (call(toTime="tomorrow"), "not an ISO date-time"),
        (call(fromTime="2024-01-15T14:00:00"), "has no timezone"),
        (call(fromTime=1705327200000), "'fromTime' is a int"),
        (call(toTime="2024-01-15T13:00:00.000Z"), "is not after"),
        (call(toTime="2024-01-15T14:00:00.000Z"), "is not after"),
    ],
)
def test_one_malformed_call_is_skipped_with_a_warning_naming_it(bad: Any, reason: str) -> None:
    good_a, good_b = call(_id="a" * 24), call(_id="b" * 24)
    page = parse_page(bare(good_a, bad, good_b), "tm")
    assert [s.upstream_id for s in page.sessions] == ["a" * 24, "b" * 24]
    assert page.call_count == 3  # the skipped record still counts toward page fullness
    (warning,) = page.warnings
    assert reason in warning
    name = bad.get("_id") if isinstance(bad.get("_id"), str) and bad.get("_id") else None
    assert (name or "data[0].calls[1]") in warning


def test_a_call_that_is_not_an_object_is_skipped_by_position() -> None:
    page = parse_page(bare(DOC_CALL, "junk"), "tm")
    assert len(page.sessions) == 1
    assert page.warnings == [
        "skipped TagMango call at data[0].calls[1]: a call must be an object, not the string 'junk'"
    ]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("cancelled", Status.CANCELLED),
        ("Canceled", Status.CANCELLED),
        ("DELETED", Status.CANCELLED),
        ("available", Status.CONFIRMED),
        (None, Status.CONFIRMED),
        ("", Status.CONFIRMED),
        ("brand-new-state", Status.CONFIRMED),
    ],
)
def test_status_mapping(status: Any, expected: Status) -> None:
    (session,) = parse_page(bare(call(status=status)), "tm").sessions
    assert session.status is expected


def test_unknown_statuses_are_reported_to_the_caller_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = bare(call(status=" Postponed "), call(status="postponed"), call(status="cancelled"))
    with caplog.at_level(logging.DEBUG):
        page = parse_page(body, "tm")
    assert page.unknown_statuses == {"postponed"} and caplog.records == []
    assert [s.status for s in page.sessions] == [Status.CONFIRMED] * 2 + [Status.CANCELLED]
    assert parse_page(bare(call()), "tm").unknown_statuses == frozenset()


@pytest.mark.parametrize(
    "field", ["groupId", "seriesId", "recurringGroupId", "groupID", "videoCallGroupId"]
)
def test_series_key_comes_from_any_group_field(field: str) -> None:
    (session,) = parse_page(bare(call(**{field: "grp-1"})), "tm").sessions
    assert session.series_key == "grp-1"


def test_series_key_from_a_populated_reference() -> None:
    (session,) = parse_page(bare(call(groupId={"_id": "grp-9"})), "tm").sessions
    assert session.series_key == "grp-9"


@pytest.mark.parametrize("url", [..., "", "   ", None])
def test_missing_or_empty_meeting_url_is_none(url: Any) -> None:
    (session,) = parse_page(bare(call(meetingUrl=url)), "tm").sessions
    assert session.meeting_url is None


def test_titles_are_kept_whole() -> None:
    title = 'Q&A, pricing; plans \\ backslash — योग सत्र 🎉 "quoted" ' + "x" * 300
    (session,) = parse_page(bare(call(title=title)), "tm").sessions
    assert session.title == title


def test_titles_are_trimmed_with_inner_whitespace_collapsed() -> None:
    record = call(title="  Weekly\t Team \n Standup  ", mango={"_id": "m1", "title": " Intro  "})
    (session,) = parse_page(bare(record), "tm").sessions
    assert (session.title, session.product_title) == ("Weekly Team Standup", "Intro")


def test_missing_title_falls_back_to_the_mango_title() -> None:
    (session,) = parse_page(bare(call(title=...)), "tm").sessions
    assert session.title == "Introduction to Coding"
    (session,) = parse_page(bare(call(title="  ", mango=...)), "tm").sessions
    assert session.title == "TagMango video call"


def test_call_description_wins_over_mango_description_and_html_becomes_text() -> None:
    (session,) = parse_page(bare(call(description="Bring a notebook")), "tm").sessions
    assert session.description == "Bring a notebook"
    html = "<p>Learn <b>Python</b></p><ul><li>loops</li><li>functions</li></ul>"
    mango = {**DOC_CALL["mango"], "description": html}
    (session,) = parse_page(bare(call(mango=mango)), "tm").sessions
    assert "Learn Python" in session.description and "<" not in session.description
    assert "loops" in session.description and "functions" in session.description


def test_wrong_typed_optional_fields_are_ignored_with_warnings() -> None:
    record = call(meetingUrl=42, platform=["zoom"], creator="6659ca9e", mango="66a13902")
    page = parse_page(bare(record), "tm")
    (session,) = page.sessions
    assert session.meeting_url is None and session.platform is None
    assert session.organizer_name is None and session.product_id == "66a13902"
    assert any("meetingUrl" in w for w in page.warnings)
    assert any("platform" in w for w in page.warnings)


def test_timezone_name_is_kept_only_when_it_is_an_iana_zone() -> None:
    (session,) = parse_page(bare(call(timezoneName="America/New_York")), "tm").sessions
    assert session.timezone == "America/New_York"
    (session,) = parse_page(bare(call(timezone="+05:30")), "tm").sessions
    assert session.timezone is None
    (session,) = parse_page(bare(call(timezoneName="Mars/Olympus")), "tm").sessions
    assert session.timezone is None


def test_times_with_offsets_become_utc() -> None:
    record = call(fromTime="2024-01-15T19:30:00+05:30", toTime="2024-01-15T20:30:00.123+05:30")
    (session,) = parse_page(bare(record), "tm").sessions
    assert session.start == datetime(2024, 1, 15, 14, tzinfo=UTC)
    assert session.end == datetime(2024, 1, 15, 15, 0, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("total", "expected", "warns"),
    [
        (10, 10, False),
        ("12", 12, False),
        (3.0, 3, False),
        (None, None, False),
        (-1, None, True),
        ("many", None, True),
        (2.5, None, True),
        (True, None, True),
    ],
)
def test_total(total: Any, expected: int | None, warns: bool) -> None:
    page = parse_page(bare(DOC_CALL, total=total), "tm")
    assert page.total == expected
    assert bool(page.warnings) is warns


def test_counts_cover_several_groups() -> None:
    body = {
        "total": 5,
        "data": [
            {"date": "2024-01-15", "calls": [call(_id="a" * 24), call(_id="b" * 24)]},
            {"date": "2024-01-16", "calls": [call(_id="c" * 24)]},
        ],
    }
    page = parse_page(body, "tm")
    assert (page.call_count, page.group_count) == (3, 2)
    assert page.dates == frozenset({"2024-01-15", "2024-01-16"})


def test_parse_call_rejects_non_objects() -> None:
    from feeds.model import InvalidSession

    with pytest.raises(InvalidSession):
        parse_call(None, "tm")


def test_skipped_calls_are_reported_by_id_so_the_archive_keeps_them() -> None:
    broken = call(_id="c" * 24, fromTime=1705327200000)
    page = parse_page(bare(call(_id="a" * 24), broken, call(_id=12345), "junk"), "tm")
    assert [s.upstream_id for s in page.sessions] == ["a" * 24]
    assert page.skipped_ids == {"c" * 24}
    assert page.unidentified == 2  # an `_id` of the wrong type, and a record that is no object


@pytest.mark.parametrize(
    ("videocall_type", "expected"),
    [
        ("onetoone", False),
        ("ONE_TO_ONE", False),
        ("1:1", False),
        ("group", True),
        ("Webinar", True),
        ("workshop", None),  # not said: a participant's own query decides (bridge/partitions.py)
        (None, None),
        (7, None),
    ],
)
def test_videocall_type_says_whether_every_holder_of_the_mango_attends(
    videocall_type: Any, expected: bool | None
) -> None:
    record = call(videocallType=videocall_type)
    if videocall_type is None:
        del record["videocallType"]
    assert parse_call(record, "tm", []).group_call is expected
