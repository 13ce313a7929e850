"""feeds/trainercentral.py: talks.json pages → Sessions (pure parser, plain data in)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.model import SourceKind, Status
from feeds.trainercentral import (
    FALLBACK_TITLE,
    TalksFormatError,
    parse_talks_page,
)

START = datetime(2025, 3, 20, 18, 0, tzinfo=UTC)


def ms(when: datetime) -> str:
    return str(int(when.timestamp() * 1000))


def workshop(session_id: str = "111", **fields: Any) -> dict[str, Any]:
    body = {
        "id": session_id,
        "sessionId": session_id,
        "name": "Weekly workshop",
        "description": "<p>Hello</p>",
        "timezone": "Europe/Berlin",
        "recurringType": "0",
        "deletedTime": "-1",
        "scheduledTime": ms(START),
        "scheduledEndTime": ms(START + timedelta(hours=1)),
        "joinURL": f"https://academy.example/session/{session_id}",
        "isPaidActiveTicketAvailable": "false",
    }
    body.update(fields)
    return body


def talk(talk_id: str = "9001", session_id: str = "111", **fields: Any) -> dict[str, Any]:
    body = {
        "id": talk_id,
        "talkId": talk_id,
        "session": session_id,
        "sessionId": session_id,
        "name": "Weekly workshop",
        "scheduledTime": ms(START),
        "scheduledEndTime": ms(START + timedelta(hours=1)),
        "status": "1",
    }
    body.update(fields)
    return body


def member(session_id: str, role: str, name: str, email: str) -> dict[str, str]:
    return {
        "session": session_id,
        "sessionId": session_id,
        "role": role,
        "name": name,
        "emailId": email,
        "userId": "1",
    }


def page(
    talks: list[Any],
    sessions: list[Any] | None = None,
    members: list[Any] | None = None,
    total: Any = "1",
) -> dict[str, Any]:
    return {
        "sessions": [workshop()] if sessions is None else sessions,
        "sessionMembers": members or [],
        "meta": {"totalSessionsCount": total},
        "talks": talks,
    }


def parse(body: Any):
    return parse_talks_page(body, source_name="academy")


# -- the documented sample --------------------------------------------------------------------

DOC_SAMPLE = {
    "sessions": [
        workshop(
            "5000",
            name="<session name>",
            description="<sessionDescription>",
            scheduledTime="1643622300000",
            scheduledEndTime="1643625900000",
        )
    ],
    "sessionMembers": [member("5000", "1", "<userName>", "<userEmail>")],
    "meta": {"totalSessionsCount": "1"},
    "talks": [
        talk(
            "7000",
            "5000",
            name="<sessionName>",
            scheduledTime="1643622300000",
            scheduledEndTime="1643625900000",
            joinURL="https://d.example/session/key",
        )
    ],
    "runningTalks": [],
    "sessionCategories": [],
}


def test_titles_are_trimmed_with_inner_whitespace_collapsed() -> None:
    body = {
        **DOC_SAMPLE,
        "talks": [{**DOC_SAMPLE["talks"][0], "name": " Live\u00a0 Q&A \r\n day 2 "}],
    }
    [session] = parse(body).sessions
    assert session.title == "Live Q&A day 2"


def test_documented_sample_becomes_one_session() -> None:
    result = parse(DOC_SAMPLE)
    assert result.warnings == []
    assert (result.total, result.session_count, result.talk_count) == (1, 1, 1)
    assert result.talk_ids == ("7000",) and result.session_ids == ("5000",)
    [session] = result.sessions
    assert session.source_kind is SourceKind.TRAINERCENTRAL
    assert session.source_name == "academy"
    assert session.upstream_id == "7000"
    assert session.series_key == "5000"
    assert session.title == "<sessionName>"
    assert session.start == datetime(2022, 1, 31, 9, 45, tzinfo=UTC)
    assert session.end == datetime(2022, 1, 31, 10, 45, tzinfo=UTC)
    assert session.meeting_url == "https://d.example/session/key"
    assert (session.organizer_name, session.organizer_email) == ("<userName>", "<userEmail>")
    assert session.platform == "TrainerCentral"
    assert session.timezone == "Europe/Berlin"
    assert session.status is Status.CONFIRMED


# -- joining talks to sessions ----------------------------------------------------------------


def test_every_talk_of_a_recurring_session_is_an_occurrence_of_one_series() -> None:
    weekly = workshop("111", recurringType="2")
    talks = [
        talk(
            f"90{n}",
            "111",
            scheduledTime=ms(START + timedelta(weeks=n)),
            scheduledEndTime=ms(START + timedelta(weeks=n, hours=1)),
        )
        for n in range(3)
    ]
    result = parse(page(talks, [weekly]))
    assert [s.upstream_id for s in result.sessions] == ["900", "901", "902"]
    assert {s.series_key for s in result.sessions} == {"111"}
    assert [s.start - START for s in result.sessions] == [timedelta(weeks=n) for n in range(3)]


def test_talk_times_win_over_session_times_and_fall_back_to_them() -> None:
    later = START + timedelta(days=7)
    own = talk("1", scheduledTime=ms(later), scheduledEndTime=ms(later + timedelta(minutes=30)))
    no_times = talk("2")
    del no_times["scheduledTime"], no_times["scheduledEndTime"]
    start_only = talk("3", scheduledTime=ms(later))
    del start_only["scheduledEndTime"]
    result = parse(page([own, no_times, start_only]))
    by_id = {s.upstream_id: s for s in result.sessions}
    assert (by_id["1"].start, by_id["1"].end) == (later, later + timedelta(minutes=30))
    assert (by_id["2"].start, by_id["2"].end) == (START, START + timedelta(hours=1))
    # Only a start on the talk: the session's duration, not its (earlier) end.
    assert (by_id["3"].start, by_id["3"].end) == (later, later + timedelta(hours=1))


def test_title_and_join_url_fall_back_to_the_session() -> None:
    bare = talk("1", name="  ")
    result = parse(page([bare, talk("2", name="Special edition", joinURL="https://x.example/2")]))
    by_id = {s.upstream_id: s for s in result.sessions}
    assert by_id["1"].title == "Weekly workshop"
    assert by_id["1"].meeting_url == "https://academy.example/session/111"
    assert by_id["2"].title == "Special edition"
    assert by_id["2"].meeting_url == "https://x.example/2"


def test_no_join_url_anywhere_and_non_web_urls_give_none() -> None:
    result = parse(
        page([talk("1"), talk("2", joinURL="javascript:alert(1)")], [workshop(joinURL="")])
    )
    assert [s.meeting_url for s in result.sessions] == [None, None]


def test_talk_without_its_session_still_becomes_a_session() -> None:
    result = parse(page([talk("1", session_id="404", name="Orphan")], sessions=[]))
    [session] = result.sessions
    assert (session.title, session.series_key, session.timezone) == ("Orphan", "404", None)
    assert session.organizer_name is None and session.description == ""
    orphan_untitled = talk("2", session_id="404")
    del orphan_untitled["name"]
    assert parse(page([orphan_untitled], sessions=[])).sessions[0].title == FALLBACK_TITLE


def test_unicode_and_punctuation_titles_are_kept_verbatim() -> None:
    title = 'Café & Crème — ½-day «Masterclass»: Q&A? 日本語 🎉 "quoted"; a\\b'
    assert parse(page([talk(name=title)])).sessions[0].title == title


# -- cancellation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("talk_fields", "session_fields", "cancelled"),
    [
        ({}, {}, False),
        ({"deletedTime": "-1", "isCancelled": "false"}, {"isCancelled": "FALSE"}, False),
        ({"deletedTime": "1700000000000"}, {}, True),
        ({"isCancelled": "true"}, {}, True),
        ({"isCancelled": "True"}, {}, True),
        ({}, {"deletedTime": "1700000000000"}, True),
        ({}, {"isCancelled": "true"}, True),
    ],
)
def test_cancelled_talks_and_sessions(talk_fields, session_fields, cancelled) -> None:
    result = parse(page([talk(**talk_fields)], [workshop(**session_fields)]))
    assert result.sessions[0].cancelled is cancelled


# -- organizer --------------------------------------------------------------------------------


def test_organizer_is_the_speaker_else_the_admin_never_an_attendee() -> None:
    members = [
        member("111", "3", "Attendee", "att@example.org"),
        member("111", "0", "Admin", "admin@example.org"),
        member("111", "1", "Speaker", "speaker@example.org"),
        member("222", "3", "Other attendee", "o@example.org"),
        member("333", "0", "Only admin", "only@example.org"),
    ]
    sessions = [workshop("111"), workshop("222"), workshop("333")]
    talks = [talk("1", "111"), talk("2", "222"), talk("3", "333")]
    by_id = {s.upstream_id: s for s in parse(page(talks, sessions, members)).sessions}
    assert (by_id["1"].organizer_name, by_id["1"].organizer_email) == (
        "Speaker",
        "speaker@example.org",
    )
    assert by_id["2"].organizer_name is None and by_id["2"].organizer_email is None
    assert by_id["3"].organizer_email == "only@example.org"


# -- descriptions -----------------------------------------------------------------------------


def test_html_description_becomes_readable_text() -> None:
    html = (
        "<p>Wöchentliche Runde &amp; mehr.</p><p>Material: "
        "<a href='https://example.org/a'>Arbeitsblatt</a></p><ul><li>Eins</li><li>Zwei</li></ul>"
    )
    text = parse(page([talk()], [workshop(description=html)])).sessions[0].description
    assert "<" not in text and "&amp;" not in text
    paragraphs = text.split("\n\n")
    assert paragraphs[0] == "Wöchentliche Runde & mehr."
    assert paragraphs[1] == "Material: Arbeitsblatt"
    assert "Eins" in paragraphs[2] and "Zwei" in paragraphs[2]


def test_talk_description_wins_over_session_description() -> None:
    result = parse(page([talk(description="<b>Talk</b> notes")]))
    assert result.sessions[0].description == "Talk notes"


# -- malformed records and bad bodies ---------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("not an object", "talk #0: expected an object, got str"),
        ({"name": "No id", "scheduledTime": "1"}, "talk #0: no id ('No id')"),
        (talk("77", name="Broken", scheduledTime="soon"), "talk 77 ('Broken'): scheduledTime"),
        (talk("78", scheduledTime="-5"), "talk 78 ('Weekly workshop'): scheduledTime"),
        (talk("79", scheduledTime="99999999999999999999"), "talk 79"),
        (talk("80", scheduledTime={"ms": 1}), "talk 80"),
        (talk("81", scheduledEndTime=ms(START - timedelta(hours=1))), "talk 81"),
        (talk("82", scheduledTime=ms(START), scheduledEndTime=ms(START)), "talk 82"),
    ],
)
def test_one_malformed_talk_is_skipped_with_a_warning_naming_it(bad, expected) -> None:
    result = parse(page([talk("1"), bad, talk("2")]))
    assert [s.upstream_id for s in result.sessions] == ["1", "2"]
    [warning] = result.warnings
    assert expected in warning.replace("#1", "#0")
    assert result.talk_count == 3


def test_talk_with_no_time_anywhere_is_skipped() -> None:
    bare = talk("5")
    del bare["scheduledTime"]
    result = parse(page([bare], sessions=[]))
    assert result.sessions == [] and "talk 5" in result.warnings[0]
    assert "scheduledTime" in result.warnings[0]


def test_malformed_session_record_is_skipped_and_its_talks_kept() -> None:
    result = parse(page([talk("1")], sessions=["garbage", {"name": "no id"}, workshop()]))
    assert [s.title for s in result.sessions] == ["Weekly workshop"]
    assert len(result.warnings) == 2 and all("session #" in w for w in result.warnings)
    assert result.session_count == 3 and result.session_ids == ("111",)


def test_skipped_talks_are_reported_by_id_so_the_archive_keeps_them() -> None:
    bad = talk("77", scheduledTime={"ms": 1})
    result = parse(page([talk("1"), bad, {"name": "no id"}, talk("2")]))
    assert [s.upstream_id for s in result.sessions] == ["1", "2"]
    assert result.skipped_ids == ("77",) and result.unidentified == 1


def test_talks_of_an_unreadable_session_record_are_skipped_not_degraded() -> None:
    orphan = talk("3", session_id="222", name=None)
    sessions = [{"name": "no id"}, workshop()]
    result = parse(page([talk("1"), orphan], sessions=sessions))
    assert [s.upstream_id for s in result.sessions] == ["1"]
    assert result.skipped_ids == ("3",) and result.unidentified == 1
    assert any("talk 3" in w and "session's record" in w for w in result.warnings)


@pytest.mark.parametrize(
    "body",
    [
        [],
        "talks",
        None,
        {"talks": {"id": "1"}},
        {"sessions": "none", "talks": []},
        {"code": "INVALID_OAUTHTOKEN", "message": "invalid oauth token"},
    ],
)
def test_body_of_the_wrong_shape_is_an_error(body) -> None:
    with pytest.raises(TalksFormatError):
        parse(body)


def test_empty_page_is_not_an_error() -> None:
    for body in ({}, {"talks": [], "sessions": [], "meta": {"totalSessionsCount": "0"}}):
        result = parse(body)
        assert (result.sessions, result.talk_count, result.session_count) == ([], 0, 0)


@pytest.mark.parametrize(("raw", "total"), [("12", 12), (" 3 ", 3), (7, 7), ("0", 0)])
def test_meta_total_is_read_as_an_int(raw, total) -> None:
    assert parse(page([talk()], total=raw)).total == total


def test_missing_or_unreadable_total_is_none() -> None:
    assert parse({"talks": [talk()], "sessions": [workshop()]}).total is None
    result = parse(page([talk()], total="many"))
    assert result.total is None and "totalSessionsCount" in result.warnings[0]
    assert parse(page([talk()], total="-4")).total is None


def test_numbers_instead_of_strings_are_tolerated() -> None:
    numeric = talk(
        9001,
        111,
        scheduledTime=int(ms(START)),
        scheduledEndTime=int(ms(START + timedelta(hours=1))),
    )
    result = parse(page([numeric], [workshop(111)]))
    assert result.warnings == []
    assert result.sessions[0].upstream_id == "9001" and result.sessions[0].series_key == "111"


def test_parser_does_not_modify_its_input() -> None:
    body = page([talk("1"), talk("2", isCancelled="true")])
    snapshot = copy.deepcopy(body)
    parse(body)
    assert body == snapshot


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "session",
                    "name",
                    "scheduledTime",
                    "scheduledEndTime",
                    "talks",
                    "sessions",
                    "meta",
                    "role",
                    "joinURL",
                    "isCancelled",
                    "deletedTime",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_either_parses_or_raises_a_format_error(body) -> None:
    try:
        result = parse(body)
    except TalksFormatError:
        return
    assert all(s.end > s.start for s in result.sessions)
