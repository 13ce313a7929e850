"""Participant feeds read the partitions of the mangoes they hold, so a webhook for a mango
reaches every holder with a read or two, whatever their number (bridge/partitions.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from icalendar import Calendar

import bridge.rendering
from bridge import operations
from bridge.participants.sync import list_participants, sync_participants
from bridge.partitions import HELD_MANGOES, Partition
from bridge.simulator.tagmango_data import MANGOES, SimCall
from bridge.webhooks import HOOK_PATH, parse_delivery, partitions_to_refresh
from tests.bridge.participants.support import NOW, Rig, make_rig, path_of
from tests.ical_validators import validate_feed

FOUNDERS, YOGA = MANGOES[0].id, MANGOES[1].id
CREATED = "webinar.created.single"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with make_rig(tmp_path) as built:
        yield built


def holdings(rig: Rig) -> dict[str, set[str]]:
    """Each active subscriber's mangoes, as the simulator's roster has them."""
    held: dict[str, set[str]] = {}
    for sub in rig.simulators.tagmango.roster.subscriptions():
        if sub.status == "active":
            held.setdefault(sub.user_id, set()).add(sub.mango_id)
    return held


def group_call(rig: Rig, mango: str) -> SimCall:
    """An upcoming call of `mango` with no participants of its own (every holder's)."""
    return next(
        call
        for call in rig.simulators.tagmango.calls()
        if call.mango_id == mango and call.start > NOW + timedelta(days=1) and not call.group_id
    )


def events_by_id(
    rig: Rig, ics_url: str, *, validate: bool = False
) -> dict[str, tuple[object, int]]:
    """The feed's single events as upstream id → (start, SEQUENCE)."""
    body = rig.client.get(path_of(ics_url)).data
    if validate:
        validate_feed(body, start=NOW - timedelta(days=30), end=NOW + timedelta(days=180))
    found = {}
    for event in Calendar.from_ical(body).walk("VEVENT"):
        if event.get("RECURRENCE-ID") is None and event.get("RRULE") is None:
            upstream_id = str(event["UID"]).split("@")[0].removeprefix("tagmango-")
            found[upstream_id] = (event.decoded("DTSTART"), int(event.get("SEQUENCE", 0)))
    return found


def deliver(rig: Rig, body: dict) -> str:
    source = rig.services.store.source_by_name("mango")
    secret = rig.services.store.webhook_secret(source.id)
    answer = rig.client.post(f"{HOOK_PATH}/{secret}", data=json.dumps(body).encode())
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["status"]


def test_a_participant_feed_reads_its_own_query_and_each_mango_it_holds(rig: Rig) -> None:
    report = sync_participants(rig.services, "mango")
    held = holdings(rig)
    source = rig.services.store.source_by_name("mango")
    for row in report.created:
        feed = rig.services.store.feed(row["feed_id"])
        assert feed.filters[HELD_MANGOES] == sorted(held[row["user_id"]])
        assert rig.services.feeds.partitions(feed) == [
            Partition(source.id, row["user_id"]),
            *(Partition(source.id, None, (m,)) for m in sorted(held[row["user_id"]])),
        ]
    registered = {key for _, key in rig.services.store.source_partitions(source.id)}
    assert {f"mangoes={FOUNDERS}", f"mangoes={YOGA}"} <= registered
    assert len(registered) == len(report.created) + 2  # the mango partitions are shared


def test_a_webhook_for_a_mango_reaches_every_holder_without_reading_them_one_by_one(
    rig: Rig,
) -> None:
    report = sync_participants(rig.services, "mango")
    links = {row["user_id"]: row["ics_url"] for row in report.created}
    call = group_call(rig, FOUNDERS)
    before = {user: events_by_id(rig, url) for user, url in links.items()}
    tagmango = rig.simulators.tagmango
    moved = call.start + timedelta(hours=2)
    tagmango.update_call(call.id, start=moved, end=moved + (call.end - call.start))
    tagmango.clear_log()
    rig.clock.now = NOW + timedelta(minutes=1)  # well within the TTL: only the hook reads

    payload = {"name": "Someone", "email": "someone@example.org", "mangoes": FOUNDERS}
    assert deliver(rig, {"event": CREATED, "callList": [{"webinarId": call.id}], **payload}) == (
        "queued"
    )

    time.sleep(bridge.rendering.STATE_MAX_AGE)  # how soon every web process sees a merge
    asked = [request.args for request in tagmango.requests]
    assert asked and all(args.get("mangoes") == FOUNDERS for args in asked)
    assert not any("user" in args for args in asked)  # no participant read one by one
    holders = {user for user, mangoes in holdings(rig).items() if FOUNDERS in mangoes}
    assert holders and holders != set(links)
    for user, url in links.items():
        events = events_by_id(rig, url, validate=user in holders)
        if user in holders:
            assert events[call.id] == (moved, before[user][call.id][1] + 1)
        else:
            assert call.id not in events and events == before[user]


def test_the_participant_query_catching_up_later_changes_nothing_more(rig: Rig) -> None:
    report = sync_participants(rig.services, "mango")
    user = next(u for u, m in holdings(rig).items() if m == {FOUNDERS, YOGA})
    url = next(row["ics_url"] for row in report.created if row["user_id"] == user)
    call = group_call(rig, YOGA)
    tagmango = rig.simulators.tagmango
    tagmango.update_call(call.id, title="Yoga, now with tea")
    rig.clock.now = NOW + timedelta(minutes=1)
    deliver(rig, {"event": CREATED, "email": "x@example.org", "mangoes": YOGA})
    time.sleep(bridge.rendering.STATE_MAX_AGE)
    after_hook = events_by_id(rig, url)[call.id]
    source = rig.services.store.source_by_name("mango")
    # Its own query, read later on its schedule (forced here: the TTL has not passed).
    rig.services.refreshes.request(Partition(source.id, user), force=True)
    assert events_by_id(rig, url)[call.id] == after_hook  # same version, same SEQUENCE

    tagmango.remove_call(call.id)  # cancelled upstream: seen by whichever read comes first
    rig.clock.now = NOW + timedelta(minutes=2)
    rig.services.refreshes.request(Partition(source.id, None, (YOGA,)), force=True)
    time.sleep(bridge.rendering.STATE_MAX_AGE)
    body = rig.client.get(path_of(url)).data
    (event,) = [e for e in Calendar.from_ical(body).walk("VEVENT") if call.id in str(e["UID"])]
    assert str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) > after_hook[1]


def test_which_partitions_a_delivery_refreshes(rig: Rig) -> None:
    services = rig.services
    sync_participants(services, "mango")
    source = services.store.source_by_name("mango")
    by_hand = operations.create_feed(services, name="Guest", sources=["mango"], user="guest-1")
    narrowed = operations.create_feed(services, name="Yoga", sources=["mango"], mangoes=YOGA)
    assert by_hand and narrowed
    held = holdings(rig)
    only_founders = next(u for u, m in held.items() if m == {FOUNDERS})
    email = next(
        p.email for p in services.store.participants(source.id) if p.user_id == only_founders
    )
    everything = {Partition.from_key(s, k) for s, k in services.store.source_partitions(source.id)}

    def refreshed(body: dict) -> set[Partition]:
        delivery = parse_delivery(json.dumps(body).encode(), CREATED)
        return set(partitions_to_refresh(services, source, delivery))

    yoga = {Partition(source.id, None, (YOGA,)), Partition(source.id, "guest-1")}
    assert refreshed({"email": "stranger@example.org", "mangoes": f"{YOGA}, "}) == yoga
    # The attendee holds the mango: their feed reads its partition already.
    assert refreshed({"email": email, "mangoes": FOUNDERS}) == {
        Partition(source.id, None, (FOUNDERS,)),
        Partition(source.id, "guest-1"),
    }
    # They hold none of the mangoes named (a 1:1 call): their own query is read too.
    assert refreshed({"email": email.upper(), "mangoes": [{"_id": YOGA}]}) == yoga | {
        Partition(source.id, only_founders)
    }
    assert refreshed({"userId": only_founders}) == {
        Partition(source.id, None, (FOUNDERS,)),
        Partition(source.id, None, (YOGA,)),
        Partition(source.id, "guest-1"),
        Partition(source.id, only_founders),
    }
    # Too little to narrow on: everything, as before.
    assert refreshed({}) == everything
    assert refreshed({"email": email, "mangoes": "Founders' Circle"}) == everything
    # A participant feed made before feeds read their mangoes' partitions: its own query is
    # all it has, so it is refreshed as a hand-made one is (until the next sync moves it).
    participant = services.store.participant(source.id, only_founders)
    services.store.update_participant(
        source.id,
        only_founders,
        name=participant.name,
        email=participant.email,
        mangoes=participant.mangoes,
        feed_filters={"user": only_founders, "mangoes": []},
    )
    assert refreshed({"email": "stranger@example.org", "mangoes": YOGA}) == yoga | {
        Partition(source.id, only_founders)
    }
    assert [r["user_id"] for r in sync_participants(services, "mango").updated] == [only_founders]


def test_new_mangoes_move_the_feed_to_their_partitions_and_keep_its_link(rig: Rig) -> None:
    first = sync_participants(rig.services, "mango")
    user = next(u for u, m in holdings(rig).items() if m == {FOUNDERS})
    row = next(r for r in first.created if r["user_id"] == user)
    roster = rig.simulators.tagmango.roster
    (sub,) = [s for s in roster.subscriptions() if s.user_id == user]
    roster.add(replace(sub, mango_id=YOGA))
    report = sync_participants(rig.services, "mango")
    assert [r["user_id"] for r in report.updated] == [user]
    feed = rig.services.store.feed(row["feed_id"])
    assert feed.filters[HELD_MANGOES] == sorted([FOUNDERS, YOGA])
    assert rig.client.get(path_of(row["ics_url"])).status_code == 200
    assert sync_participants(rig.services, "mango").updated == []


def test_a_feed_revoked_by_hand_is_listed_so_and_not_made_again(rig: Rig) -> None:
    first = sync_participants(rig.services, "mango")
    row = first.created[0]
    operations.revoke_feed(rig.services, row["feed_id"])
    listed = {
        r["user_id"]: r for r in list_participants(rig.services, "mango", include_revoked=True)
    }
    assert listed[row["user_id"]]["status"] == "revoked"
    assert listed[row["user_id"]]["feed_url"] is None
    assert row["user_id"] not in {r["user_id"] for r in list_participants(rig.services, "mango")}
    again = sync_participants(rig.services, "mango")
    assert again.created == [] and again.revoked == []
    (skipped,) = [s for s in again.skipped if s["user_id"] == row["user_id"]]
    assert "revoked by hand" in skipped["reason"]


def test_another_participants_one_to_one_call_never_shows_in_a_holders_feed(rig: Rig) -> None:
    """The mango's partition lists every call of the mango, 1:1 calls included; a holder's
    feed takes from it only group calls and the calls their own query listed."""
    held = holdings(rig)
    asha, ravi = sorted(u for u, m in held.items() if FOUNDERS in m)[:2]
    tagmango = rig.simulators.tagmango
    start = NOW + timedelta(days=3)
    one_to_one = SimCall(
        "a1b2c3d4e5f6a7b8c9d0e1f2",
        f"1:1 with {asha}",
        start,
        start + timedelta(minutes=30),
        mango_id=FOUNDERS,
        participants=(asha,),
        one_to_one=True,
    )
    tagmango.add_call(one_to_one)
    report = sync_participants(rig.services, "mango")
    links = {row["user_id"]: row["ics_url"] for row in report.created}
    source = rig.services.store.source_by_name("mango")
    mango_partition = Partition(source.id, None, (FOUNDERS,))
    window = (NOW, NOW + timedelta(days=30))
    listed = rig.services.store.archived_sessions([mango_partition], *window)
    assert one_to_one.id in {s.upstream_id for s in listed}  # the creator-wide list has it
    assert one_to_one.id in events_by_id(rig, links[asha], validate=True)
    assert one_to_one.id not in events_by_id(rig, links[ravi], validate=True)

    # A new group call shows at once through the mango's partition; a new call of a kind
    # TagMango does not say waits for the holder's own query.
    group = replace(one_to_one, id="b1b2c3d4e5f6a7b8c9d0e1f2", title="Group Q&A", one_to_one=False)
    unsaid = replace(group, id="c1b2c3d4e5f6a7b8c9d0e1f2", title="Mystery call")
    tagmango.add_call(group)
    tagmango.add_call(unsaid)
    tagmango.corrupt_call(unsaid.id, videocallType="mystery")
    rig.clock.now = NOW + timedelta(minutes=1)
    deliver(rig, {"event": CREATED, "email": "x@example.org", "mangoes": FOUNDERS})
    time.sleep(bridge.rendering.STATE_MAX_AGE)
    events = events_by_id(rig, links[ravi])
    assert group.id in events and unsaid.id not in events
    rig.services.refreshes.request(Partition(source.id, ravi), force=True)  # their own query
    time.sleep(bridge.rendering.STATE_MAX_AGE)
    assert unsaid.id in events_by_id(rig, links[ravi])
