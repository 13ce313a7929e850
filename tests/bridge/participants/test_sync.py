"""Participant sync against the simulators on loopback: one feed per participant, idempotent,
kept in step (names, expiries, departures, the subscription.expired webhook), every feed
holding exactly the sessions TagMango's `user` filter gives that participant."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bridge.operations import OperationError
from bridge.participants.sync import list_participants, sync_participants
from bridge.simulator.server import serving
from bridge.simulator.tagmango_data import SimCall
from bridge.webhooks import HOOK_PATH
from feeds.ical_events import session_uid
from feeds.model import SourceKind
from tests.bridge.participants.support import NOW, Rig, make_rig, path_of
from tests.ical_validators import validate_feed

CANCELLED = {"cancelled", "canceled", "deleted"}


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with make_rig(tmp_path) as built:
        yield built


def active_ids(rig: Rig) -> set[str]:
    return set(rig.simulators.tagmango.roster.active_users())


def test_an_api_sync_creates_one_feed_per_participant_and_a_second_creates_nothing(
    rig: Rig,
) -> None:
    report = sync_participants(rig.services, "mango")
    assert {row["user_id"] for row in report.created} == active_ids(rig)
    assert len(active_ids(rig)) == 11
    assert [row["user_id"] for row in report.skipped] == ["fan-00005"]  # expired before
    assert report.errors == [] and report.revoked == []
    feeds = {feed.id: feed for feed in rig.services.store.list_feeds()}
    held: dict[str, set[str]] = {}
    for sub in rig.simulators.tagmango.roster.subscriptions():
        held.setdefault(sub.user_id, set()).add(sub.mango_id)
    for row in report.created:
        assert feeds[row["feed_id"]].filters == {
            "user": row["user_id"],
            "mangoes": [],
            "held_mangoes": sorted(held[row["user_id"]]),
        }

    again = sync_participants(rig.services, "mango")
    assert (again.created, again.updated, again.revoked) == ([], [], [])
    assert again.unchanged == 11
    assert len(rig.services.store.list_feeds()) == 11


def test_every_participant_feed_expands_to_exactly_the_users_sessions(rig: Rig) -> None:
    """Each feed reads its participant's own query and their mangoes' shared partitions
    (bridge/partitions.py); together they must give exactly what the `user` filter gives,
    another participant's 1:1 call (in the mango's partition too) included out."""
    tagmango = rig.simulators.tagmango
    first = next(c for c in tagmango.calls() if c.start > NOW + timedelta(days=1))
    holders = sorted(u for u in active_ids(rig) if tagmango.roster.subscribed(u, first.mango_id))
    for number, user in enumerate(holders[:2]):
        start = first.start + timedelta(hours=3 + number)
        tagmango.add_call(
            SimCall(
                f"{0x1D1 + number:024x}",
                f"1:1 with {user}",
                start,
                start + timedelta(minutes=30),
                mango_id=first.mango_id,
                participants=(user,),
                one_to_one=True,
            )
        )
    report = sync_participants(rig.services, "mango")
    domain = rig.services.feeds.uid_domain
    for row in report.created:
        user = row["user_id"]
        # What the `user` filter returned: the simulator's calls for the window the feed's
        # fetch asked for (its request log says which).
        asked = next(r.args for r in tagmango.requests if r.args.get("user") == user)
        start = datetime.fromisoformat(asked["startDate"])
        end = datetime.fromisoformat(asked["endDate"])
        expected = {
            (session_uid(SourceKind.TAGMANGO, call.id, domain), call.start)
            for call in tagmango.calls()
            if tagmango.lists_for_user(call, user)
            and start <= call.start < end
            and call.status not in CANCELLED
        }
        answer = rig.client.get(path_of(row["ics_url"]) + "?recurrence=expand")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        shown = validate_feed(answer.data, start=NOW - timedelta(days=400), end=end)
        assert {(o.uid, o.start) for o in shown if o.status != "CANCELLED"} == expected, user
        assert expected  # every seeded subscriber has sessions


def test_an_expired_subscription_revokes_the_feed_and_its_join_links(rig: Rig) -> None:
    report = sync_participants(rig.services, "mango")
    row = next(r for r in report.created if r["user_id"] == "fan-00001")
    body = rig.client.get(path_of(row["ics_url"])).get_data(as_text=True)
    join = re.search(r"https://cal\.example\.org(/j/[\w.-]+)", body.replace("\r\n ", ""))
    assert join is not None
    assert rig.client.get(join.group(1)).status_code == 302

    rig.simulators.tagmango.roster.expire("fan-00001", NOW - timedelta(minutes=1))
    after = sync_participants(rig.services, "mango")
    assert [(r["user_id"], r["reason"]) for r in after.revoked] == [("fan-00001", "expired")]
    assert after.created == []
    assert rig.client.get(path_of(row["ics_url"])).status_code == 410
    assert rig.client.get(join.group(1)).status_code == 410
    listed = {r["user_id"] for r in list_participants(rig.services, "mango")}
    assert "fan-00001" not in listed and len(listed) == 10


def test_an_active_subscription_past_its_end_counts_as_expired(rig: Rig) -> None:
    sync_participants(rig.services, "mango")
    roster = rig.simulators.tagmango.roster
    (sub,) = [s for s in roster.subscriptions() if s.user_id == "fan-00007"]
    rig.clock.now = sub.expires_at + timedelta(seconds=1)  # upstream still says "active"
    report = sync_participants(rig.services, "mango")
    assert ("fan-00007", "expired") in {(r["user_id"], r["reason"]) for r in report.revoked}


def test_new_names_and_emails_are_updated_in_place(rig: Rig) -> None:
    first = sync_participants(rig.services, "mango")
    roster = rig.simulators.tagmango.roster
    for sub in roster.subscriptions():
        if sub.user_id == "fan-00002":
            roster.add(replace(sub, name="Ishita R.", email="ishita@example.net"))
    report = sync_participants(rig.services, "mango")
    assert [(r["user_id"], r["name"], r["email"]) for r in report.updated] == [
        ("fan-00002", "Ishita R.", "ishita@example.net")
    ]
    feed_id = next(r["feed_id"] for r in first.created if r["user_id"] == "fan-00002")
    assert report.updated[0]["feed_id"] == feed_id  # same feed, same link
    rows = {r["user_id"]: r for r in list_participants(rig.services, "mango")}
    assert rows["fan-00002"]["email"] == "ishita@example.net"


def test_a_dry_run_changes_nothing(rig: Rig) -> None:
    report = sync_participants(rig.services, "mango", dry_run=True)
    assert len(report.created) == 11 and all(r["feed_id"] is None for r in report.created)
    assert rig.services.store.list_feeds() == []
    assert list_participants(rig.services, "mango") == []


def test_a_deprecated_roster_endpoint_falls_back_to_the_known_participants(rig: Rig) -> None:
    tagmango = rig.simulators.tagmango
    tagmango.roster.deprecated = True
    with pytest.raises(OperationError, match=r"404.*--csv FILE.*--user ID"):
        sync_participants(rig.services, "mango")

    tagmango.roster.deprecated = False
    sync_participants(rig.services, "mango")
    tagmango.roster.deprecated = True
    tagmango.roster.expire("fan-00003", NOW)
    report = sync_participants(rig.services, "mango")
    assert any("404" in note and "one by one" in note for note in report.notes)
    assert [r["user_id"] for r in report.revoked] == ["fan-00003"]
    assert report.unchanged == 10


def test_one_user_can_be_synced_alone(rig: Rig) -> None:
    report = sync_participants(rig.services, "mango", users=["fan-00004", "nobody"])
    assert [r["user_id"] for r in report.created] == ["fan-00004"]
    assert [r["user_id"] for r in report.skipped] == ["nobody"]  # unknown upstream: left
    assert report.revoked == []


def test_the_subscription_expired_webhook_revokes_that_participant(tmp_path: Path) -> None:
    with make_rig(tmp_path) as rig:
        sync_participants(rig.services, "mango")
        source = rig.services.store.source_by_name("mango")
        secret = rig.services.store.webhook_secret(source.id)
        tagmango = rig.simulators.tagmango
        with serving(rig.app) as bridge:
            hook = f"{bridge.url}{HOOK_PATH}/{secret}?event=subscription.expired"
            tagmango.webhooks.registered.append(("subscription.expired", hook))
            tagmango.expire_subscriber("fan-00006", NOW)
            tagmango.webhooks.wait_idle()
        deliveries = tagmango.webhooks.deliveries  # one per subscription (two mangoes)
        assert len(deliveries) == 2 and all(d.status == 200 for d in deliveries)
        assert any('"revoked"' in d.answer for d in deliveries)
        participant = rig.services.store.participant(source.id, "fan-00006")
        assert participant is not None and participant.status == "expired"
        others = [p for p in rig.services.store.participants(source.id) if p.active]
        assert len(others) == 10


def test_a_webhook_for_a_still_subscribed_user_revokes_nothing(rig: Rig) -> None:
    sync_participants(rig.services, "mango")
    source = rig.services.store.source_by_name("mango")
    secret = rig.services.store.webhook_secret(source.id)
    body = b'{"event": "subscription.expired", "fan": {"_id": "fan-00008"}}'
    answer = rig.client.post(f"{HOOK_PATH}/{secret}", data=body)
    assert answer.status_code == 200 and answer.get_json() == {"status": "checked"}
    assert rig.services.store.participant(source.id, "fan-00008").active
    nobody = rig.client.post(f"{HOOK_PATH}/{secret}", data=b'{"event": "subscription.expired"}')
    assert nobody.get_json() == {"status": "ignored"}


def test_a_failed_recheck_asks_tagmango_to_send_again(rig: Rig) -> None:
    sync_participants(rig.services, "mango")
    source = rig.services.store.source_by_name("mango")
    secret = rig.services.store.webhook_secret(source.id)
    rig.upstream.stop()  # TagMango unreachable
    time.sleep(0.05)
    body = b'{"event": "subscription.expired", "userId": "fan-00008"}'
    answer = rig.client.post(f"{HOOK_PATH}/{secret}", data=body)
    assert answer.status_code == 503 and "error" in answer.get_json()


def test_trainercentral_learners_each_get_a_feed_or_the_attendees_when_refused(
    rig: Rig,
) -> None:
    report = sync_participants(rig.services, "academy")
    learners = rig.simulators.trainercentral.learners
    assert {r["user_id"] for r in report.created} == {m.user_id for m in learners}
    assert sync_participants(rig.services, "academy").created == []

    rig.simulators.trainercentral.portal_members_enabled = False
    fallback = sync_participants(rig.services, "academy", dry_run=True)
    assert any("portalMembers.json was refused (404)" in note for note in fallback.notes)
    assert [r["user_id"] for r in fallback.created] == ["90000000009"]  # the attendee
    # the learners are absent from the attendees' roster: a real run would revoke them
    assert len(fallback.revoked) == len(learners)
