"""The push job against a real Radicale server: the remote calendar expands to exactly the
feed's occurrences, follows upstream changes sending only what changed, never touches the
user's own events, and handles conflicts (412) by the rule in bridge.push.pusher."""

from __future__ import annotations

from datetime import timedelta

from bridge.push.remote import object_href
from bridge.push.results import PushStatus
from bridge.simulator.tagmango_data import SimCall
from tests.bridge.push.support import NOW, PushEnv

USERS_EVENT = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//the user's calendar app//EN\r\n"
    b"BEGIN:VEVENT\r\nUID:dentist-2026@example.net\r\nDTSTAMP:20260301T000000Z\r\n"
    b"DTSTART:20260311T090000Z\r\nDTEND:20260311T100000Z\r\nSUMMARY:Dentist\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def upcoming_singles(env: PushEnv) -> list[SimCall]:
    """Upcoming one-off calls (not part of a series), soonest first."""
    return [
        call
        for call in env.simulators.tagmango.calls()
        if call.group_id is None and call.status == "available" and call.start > NOW
    ]


def weekly_series(env: PushEnv) -> list[SimCall]:
    calls = env.simulators.tagmango.calls()
    group = next(call.group_id for call in calls if call.title.startswith("Weekly"))
    return [
        call
        for call in calls
        if call.group_id == group and call.start > NOW and call.status == "available"
    ]


def test_a_push_makes_the_remote_calendar_expand_to_the_feeds_occurrences(env: PushEnv) -> None:
    target = env.add_target()  # the first push runs as the target is added (immediate jobs)
    shown = env.target(target)
    assert shown["status"] == "ok" and shown["last_error"] is None
    expected = env.feed_occurrences()
    assert len(expected) > 50  # series across a DST change, cancellations, one-offs
    assert env.remote_occurrences() == expected
    assert shown["events"] == len(env.radicale.etags(env.calendar_url))


def test_changes_cancellations_and_removals_upstream_reach_the_remote(env: PushEnv) -> None:
    target = env.add_target()
    tagmango = env.simulators.tagmango
    first, second, third = upcoming_singles(env)[:3]
    tagmango.update_call(
        first.id, title="Moved and renamed", start=first.start + timedelta(hours=1)
    )
    tagmango.update_call(second.id, status="cancelled")
    tagmango.remove_call(third.id)  # upstream stops listing it: cancelled in the feed
    series = weekly_series(env)
    tagmango.update_call(series[2].id, title="Weekly strategy call: guest speaker")
    new = SimCall(
        "brand-new", "A new workshop", NOW + timedelta(days=3), NOW + timedelta(days=3, hours=1)
    )
    tagmango.add_call(new)
    env.refetch()  # the refresh merges the changes, then pushes (bridge.push.triggers)

    result = env.services.pusher.push(target, force=True)
    assert result.status is PushStatus.UNCHANGED  # the refresh's push sent everything already
    remote = env.remote_occurrences()
    assert remote == env.feed_occurrences()
    assert any(o[3] == "Moved and renamed" for o in remote)
    assert any(o[3] == "A new workshop" for o in remote)
    assert any(o[3] == "Weekly strategy call: guest speaker" for o in remote)
    cancelled = {o[0] for o in remote if o[4] == "CANCELLED"}
    assert any(second.id in uid for uid in cancelled) and any(third.id in uid for uid in cancelled)

    # A cancelled session leaves the feed a day after its end: its event is deleted.
    env.clock.advance(days=(second.end - NOW).days + 2)
    env.refetch()
    result = env.services.pusher.push(target)
    remote = env.remote_occurrences()
    assert remote == env.feed_occurrences()
    assert not any(second.id in o[0] for o in remote)
    assert env.target(target)["events"] == len(env.radicale.etags(env.calendar_url))


def test_only_what_changed_is_sent(env: PushEnv) -> None:
    target = env.add_target()
    events = env.target(target)["events"]
    puts, deletes = env.radicale.requests("PUT"), env.radicale.requests("DELETE")
    first = upcoming_singles(env)[0]
    env.simulators.tagmango.update_call(first.id, title="Renamed")
    env.simulators.tagmango.add_call(
        SimCall("added", "Added", NOW + timedelta(days=2), NOW + timedelta(days=2, hours=1))
    )
    env.refetch()
    # One PUT per changed object, plus the one caldav's client sends before it logs in.
    assert env.radicale.requests("PUT") - puts <= 3
    assert env.target(target)["events"] == events + 1
    assert env.radicale.requests("DELETE") == deletes


def test_a_push_with_nothing_changed_sends_no_request(env: PushEnv) -> None:
    before = env.radicale.requests("PUT")
    target = env.add_target()
    counts = {m: env.radicale.requests(m) for m in ("PUT", "DELETE", "GET", "PROPFIND")}
    assert counts["PUT"] - before > 50

    env.refetch()  # upstream lists the same: the refresh changed nothing, queues no push
    forced = env.services.pusher.push(target, force=True)  # `push run`: compares in full
    assert forced.status is PushStatus.UNCHANGED and forced.requests == {}
    env.clock.advance(hours=2)  # past RECONCILE_EVERY: the sweep's periodic comparison
    assert env.services.pushes.sweep() == 1
    cheap = env.services.pusher.push(target)  # within RECONCILE_EVERY again: the change log
    assert cheap.status is PushStatus.UNCHANGED and cheap.requests == {}

    assert {m: env.radicale.requests(m) for m in counts} == counts  # no request at all


def test_the_users_own_events_are_never_deleted_or_changed(env: PushEnv) -> None:
    mine = f"{env.calendar_url}dentist.ics"
    assert env.radicale.put(mine, USERS_EVENT).status_code == 201
    path = "/alice/" + mine.split("/alice/")[1]
    before = env.radicale.objects(env.calendar_url)[path]
    etag = env.radicale.etags(env.calendar_url)[path]
    target = env.add_target()
    for call in upcoming_singles(env)[:5]:  # cancel and remove plenty
        env.simulators.tagmango.remove_call(call.id)
    env.refetch()
    env.clock.advance(days=200)  # every session of calbridge's leaves the feed
    env.refetch()
    env.services.pusher.push(target, force=True)
    objects = env.radicale.objects(env.calendar_url)
    assert objects[path] == before and b"SUMMARY:Dentist" in before
    assert env.radicale.etags(env.calendar_url)[path] == etag
    ours = {p for p in objects if p != path}
    assert env.target(target)["events"] == len(ours)


def test_an_event_changed_remotely_is_overwritten_by_calbridges(env: PushEnv) -> None:
    """calbridge is the source of truth for the UIDs it created: on 412 it reads the event
    again and overwrites it (If-Match on the ETag just read)."""
    target = env.add_target()
    first, second = upcoming_singles(env)[:2]
    pushed = env.services.store.pushed_objects(target)
    uid_first = next(uid for uid in pushed if first.id in uid)
    uid_second = next(uid for uid in pushed if second.id in uid)
    edited_href = pushed[uid_first].href
    data = env.radicale.client().get(edited_href).content
    assert env.radicale.put(edited_href, data.replace(b"SUMMARY:", b"SUMMARY:Edited: ")).is_success
    env.radicale.client().delete(pushed[uid_second].href)  # and the user deleted this one

    env.simulators.tagmango.update_call(first.id, title="Changed upstream")
    env.simulators.tagmango.update_call(second.id, title="Also changed upstream")
    env.refetch()

    shown = env.target(target)
    assert shown["status"] == "ok", shown
    remote = env.remote_occurrences()
    assert remote == env.feed_occurrences()
    assert not any(o[3].startswith("Edited: ") for o in remote)
    assert env.services.metrics.push_conflicts._value.get() == 2


def test_an_event_at_calbridges_href_that_is_not_calbridges_is_left_alone(env: PushEnv) -> None:
    target = env.add_target()
    # Someone else's event already sits where calbridge will put a new session's.
    href = object_href(env.calendar_url, "tagmango-squatted@cal.example.org")
    assert env.radicale.put(href, USERS_EVENT).status_code == 201
    before = env.radicale.client().get(href)
    start = NOW + timedelta(days=2)
    env.simulators.tagmango.add_call(
        SimCall("squatted", "Squatted", start, start + timedelta(hours=1))
    )
    env.refetch()  # merged, then pushed: the push fails on that one object
    result = env.services.pusher.push(target, force=True)
    assert result.status is PushStatus.FAILED and "did not create; left alone" in str(result.error)
    after = env.radicale.client().get(href)
    assert after.content == before.content and after.headers["ETag"] == before.headers["ETag"]
    shown = env.target(target)  # failed twice: at the refresh's push, and now
    assert shown["failures"] == 2 and shown["status"] == "failing"
    assert shown["next_attempt_at"] == (NOW + timedelta(minutes=2)).isoformat()


def test_a_target_added_again_takes_its_events_back_without_duplicating_them(
    env: PushEnv,
) -> None:
    """A push cut short between the server's answer and the record (or a target removed
    without --delete-events, then added again) finds calbridge's own events at their hrefs."""
    first = env.add_target()
    events = env.target(first)["events"]
    env.services.store.remove_push_target(first)
    again = env.add_target()
    shown = env.target(again)
    assert shown["status"] == "ok" and shown["events"] == events
    assert len(env.radicale.etags(env.calendar_url)) == events
    assert env.remote_occurrences() == env.feed_occurrences()


def test_a_revoked_feed_is_no_longer_pushed_nor_retried(env: PushEnv) -> None:
    target = env.add_target()
    env.services.store.revoke_feed(env.feed_id)
    result = env.services.pusher.push(target, force=True)
    assert result.status is PushStatus.FAILED and result.requests == {}
    assert result.error == f"feed {env.feed_id} was revoked: nothing is pushed any more"
    assert env.target(target)["next_attempt_at"] is None
