"""Roster readers: the CSV's edge cases (each with its test), TagMango's subscriber list at the
simulator's full size, and bad upstream answers reported clearly instead of crashing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bridge.participants.roster import EXPIRED, LEFT, RosterFormatError, read_csv
from bridge.participants.upstream_roster import (
    RosterGone,
    Subscriptions,
    TagMangoRoster,
    records_of,
)
from bridge.simulator.server import RunningServer, serving
from bridge.simulator.tagmango import DEMO_HOST, DEMO_KEY, TagMangoSimulator
from bridge.upstream.errors import UpstreamProtocolError
from bridge.upstream.tagmango import TagMangoConfig

NOW = datetime(2026, 3, 3, 9, 30, tzinfo=UTC)


def ids(data: bytes | str) -> list[str]:
    return [m.user_id for m in read_csv(data).members]


# -- CSV -------------------------------------------------------------------------------------


def test_a_plain_csv_is_read() -> None:
    roster = read_csv("user_id,name,email,mangoes\nu1,Asha,asha@example.org,m1;m2\n")
    (member,) = roster.members
    assert (member.user_id, member.name, member.email) == ("u1", "Asha", "asha@example.org")
    assert member.mangoes == ("m1", "m2") and member.status == "active" and member.line == 2
    assert roster.problems == [] and roster.complete


def test_a_utf8_bom_is_ignored() -> None:
    data = "\ufeffuser_id,name\nu1,Zoë\n".encode()
    assert read_csv(data).members[0].name == "Zoë"


def test_semicolon_separated_with_comma_separated_mangoes() -> None:
    roster = read_csv("user_id;name;email;mangoes\nu1;Müller, Jo;jo@example.org;m1,m2\n")
    assert roster.members[0].name == "Müller, Jo"
    assert roster.members[0].mangoes == ("m1", "m2")


def test_tab_separated() -> None:
    assert ids("user_id\tname\nu1\tA\nu2\tB\n") == ["u1", "u2"]


def test_quoted_fields_hold_separators_quotes_and_line_breaks() -> None:
    data = 'user_id,name,mangoes\nu1,"Rao, ""Ishi""","m1;m2"\nu2,"two\nlines",m3\nu3,C,m4\n'
    roster = read_csv(data)
    assert [m.name for m in roster.members] == ['Rao, "Ishi"', "two lines", "C"]
    assert [m.line for m in roster.members] == [2, 3, 5]  # u3 is on line 5 of the file


def test_the_header_in_any_order_and_case_and_extra_columns() -> None:
    data = "Phone,EMAIL,Mangoes,Status,User ID,Name\n+91,a@example.org,m1,Expired,u1,A\n"
    (member,) = read_csv(data).members
    assert (member.user_id, member.email, member.status) == ("u1", "a@example.org", EXPIRED)


def test_bad_rows_are_reported_with_their_line_and_the_rest_imported() -> None:
    data = (
        "user_id,name,email,mangoes,status\n"
        "u1,A,a@example.org,m1,active\n"
        ",No id,x@example.org,m1,active\n"  # line 3
        "u3,C,not-an-email,m1,active\n"  # line 4
        "u4,D,d@example.org,m1,paused\n"  # line 5: unknown status
        "u5,E,e@example.org\n"  # line 6: too few fields
        "u1,A again,a@example.org,m1,active\n"  # line 7: duplicate
        "\n"
        'u8,"H"x,h@example.org,m1,active\n'  # line 9: broken quoting
        "u9,I,i@example.org,m1,cancelled\n"
    )
    roster = read_csv(data)
    assert [(m.user_id, m.status) for m in roster.members] == [("u1", "active"), ("u9", LEFT)]
    problems = {p.line: p for p in roster.problems}
    assert sorted(problems) == [3, 4, 5, 6, 7, 9]
    assert "user_id is empty" in problems[3].message and problems[3].user_id is None
    assert "not an email" in problems[4].message and problems[4].user_id == "u3"
    assert "unknown status 'paused'" in problems[5].message
    assert problems[6].message == "3 fields, but the header has 5"
    assert "already listed on line 2" in problems[7].message
    assert "unreadable row" in problems[9].message
    assert problems[4].to_json() == {"line": 4, "user_id": "u3", "message": problems[4].message}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the CSV is empty"),
        (b"\n\n", "the CSV is empty"),
        (b"name,email\nA,a@example.org\n", "line 1: the header row names no user_id column"),
        (b"user_id,name\nu1,caf\xe9\n", "line 2: the CSV is not UTF-8"),
    ],
)
def test_an_unreadable_file_is_refused_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(RosterFormatError, match=message):
        read_csv(data)


def test_windows_line_ends_and_long_values() -> None:
    roster = read_csv("user_id,name\r\nu1,A\r\n" + "x" * 300 + ",B\r\n")
    assert [m.user_id for m in roster.members] == ["u1"]
    assert roster.problems[0].line == 3 and "1 to 255 characters" in roster.problems[0].message


# -- TagMango --------------------------------------------------------------------------------


@pytest.fixture
def tagmango() -> Iterator[tuple[TagMangoSimulator, RunningServer]]:
    simulator = TagMangoSimulator.seeded(NOW)  # 3,000 subscribers across two mangoes
    with serving(simulator) as server:
        yield simulator, server


def reader(server: RunningServer, **options: object) -> TagMangoRoster:
    config = TagMangoConfig(
        name="tm", token=DEMO_KEY, whitelabel_host=DEMO_HOST, api_base=server.url
    )
    return TagMangoRoster(config, now=lambda: NOW, **options)  # type: ignore[arg-type]


def test_the_whole_subscriber_list_is_read_across_pages(
    tagmango: tuple[TagMangoSimulator, RunningServer],
) -> None:
    simulator, server = tagmango
    with reader(server) as roster_reader:
        creator = roster_reader.creator_id()
        roster = roster_reader.subscribers(creator)
    assert len(roster.members) == 3000 and roster.problems == [] and roster.complete
    active = {m.user_id for m in roster.members if m.status == "active"}
    assert active == set(simulator.roster.active_users())
    expired = {m.user_id for m in roster.members if m.status == EXPIRED}
    assert len(expired) == 250  # one in twelve
    both = next(m for m in roster.members if m.user_id == "fan-00003")
    assert len(both.mangoes) == 2  # two subscriptions folded into one participant
    pages = [r for r in simulator.requests if "subscribers-by-creator" in r.path]
    assert len(pages) == 40  # 4,000 subscriptions at 100 a page (the server's cap)


def test_a_deprecated_list_raises_roster_gone(
    tagmango: tuple[TagMangoSimulator, RunningServer],
) -> None:
    simulator, server = tagmango
    simulator.roster.deprecated = True
    with reader(server) as roster_reader, pytest.raises(RosterGone):
        roster_reader.subscribers("6659ca9e5f2acb7abfdcd8fd")


def test_the_roster_path_is_configurable(
    tagmango: tuple[TagMangoSimulator, RunningServer],
) -> None:
    _, server = tagmango
    gone = reader(server, subscribers_path="/api/v2/gone/{creatorId}")
    with gone as roster_reader, pytest.raises(RosterGone):
        roster_reader.subscribers("6659ca9e5f2acb7abfdcd8fd")


@pytest.mark.parametrize(
    "body",
    [
        {"code": 200, "result": {"message": "no list here"}},
        "a string",
        {"result": 42},
    ],
)
def test_an_answer_without_a_list_is_a_clear_protocol_error(body: object) -> None:
    with pytest.raises(UpstreamProtocolError, match="holds no list of records"):
        records_of(body, "subscribers", "tm")


@pytest.mark.parametrize(
    "body",
    [[{"fan": {"_id": "u1"}}], {"data": [{"fan": {"_id": "u1"}}]}, {"result": {"data": []}}],
)
def test_every_envelope_is_read(body: object) -> None:
    assert isinstance(records_of(body, "subscribers", "tm"), list)


def test_bad_subscription_records_are_reported_not_guessed() -> None:
    folded = Subscriptions(NOW, (), "creator")
    folded.add("not an object", "page 1, record 1")
    folded.add({"status": "active"}, "page 1, record 2")
    folded.add({"fan": {"_id": "u1"}, "status": "frozen"}, "page 1, record 3")
    folded.add({"fan": {"_id": "u2"}, "status": "active", "creator": "someone-else"}, "r4")
    past = (NOW - timedelta(days=1)).isoformat()
    folded.add({"userId": "u3", "status": "active", "expiredAt": past, "mango": "m"}, "r5")
    roster = folded.roster("test", complete=True)
    assert [(m.user_id, m.status) for m in roster.members] == [("u3", EXPIRED)]
    messages = [p.message for p in roster.problems]
    assert messages[0] == "page 1, record 1: a record is not an object"
    assert messages[1] == "page 1, record 2: a subscription names no user id"
    assert "unknown subscription status 'frozen'" in messages[2]
    assert roster.problems[2].user_id == "u1"  # protected from revocation
