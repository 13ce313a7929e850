"""calbridge as an operator runs it: CLI-created sources and feeds, `calbridge serve`, and
subscribers fetching over real loopback HTTP, with the simulators as upstreams."""

from __future__ import annotations

import functools
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import icalendar

from bridge.simulator.combined import Simulators
from bridge.simulator.tagmango import Fault, SimCall
from bridge.web.join import JOIN_GRACE
from tests.e2e.conftest import add_sources, create_feed, eventually, feed_window
from tests.e2e.processes import ADMIN_TOKEN
from tests.ical_validators import Occurrence, validate_feed

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CANCELLED_STATUSES = {"cancelled", "canceled", "deleted"}
EDGE = timedelta(minutes=10)
# Generous: the outage tests wait for every retry, and CI machines are busy.
get = functools.partial(httpx.get, timeout=120)
head = functools.partial(httpx.head, timeout=120)


def upstream_occurrences(
    simulators: Simulators, start: datetime, end: datetime
) -> tuple[set[tuple], set[tuple]]:
    """(confirmed, cancelled) occurrences as (UTC start, UTC end, title), straight from the
    simulators' data, for sessions starting in [start, end)."""
    confirmed: set[tuple] = set()
    cancelled: set[tuple] = set()
    for call in simulators.tagmango.calls():
        if start <= call.start < end:
            target = cancelled if call.status in CANCELLED_STATUSES else confirmed
            target.add((call.start, call.end, call.title))
    tc = simulators.trainercentral
    for talk in tc.upcoming_talks("5"):
        session = tc.session(talk.session_id)
        if talk.malformed or not start <= talk.start < end:
            continue
        gone = talk.cancelled or talk.deleted_at or session.cancelled or session.deleted_at
        (cancelled if gone else confirmed).add((talk.start, talk.end, talk.name or session.name))
    return confirmed, cancelled


def as_tuples(occurrences: list[Occurrence], status: str) -> set[tuple]:
    return {(o.start, o.end, o.summary) for o in occurrences if o.status == status}


def away_from(bounds: tuple[datetime, datetime]):  # type: ignore[no-untyped-def]
    return lambda item: bounds[0] + EDGE < item[0] < bounds[1] - EDGE


def events_by_key(body: bytes) -> dict[tuple[str, str], str]:
    """Each VEVENT's raw text, keyed by (UID, RECURRENCE-ID)."""
    text = body.decode().replace("\r\n ", "")
    events = {}
    for block in re.findall(r"BEGIN:VEVENT\r\n.*?END:VEVENT\r\n", text, flags=re.S):
        uid = re.search(r"^UID:(.*)$", block, flags=re.M).group(1).strip()
        rid = re.search(r"^RECURRENCE-ID[^:]*:(.*)$", block, flags=re.M)
        events[(uid, rid.group(1).strip() if rid else "")] = block
    return events


def future_single_call(simulators: Simulators) -> SimCall:
    now = datetime.now(UTC)
    return next(
        call
        for call in simulators.tagmango.calls()
        if call.group_id is None
        and call.status not in CANCELLED_STATUSES
        and call.start > now + timedelta(days=2)
        and call.meeting_url
    )


def is_cancelled(body: bytes, call_id: str) -> bool:
    events = icalendar.Calendar.from_ical(body).walk("VEVENT")
    return any(call_id in str(e["UID"]) and e.get("STATUS") == "CANCELLED" for e in events)


def test_cli_feed_validates_and_holds_exactly_the_upstream_occurrences(
    upstream, bridge_env, server
) -> None:
    simulators, sim = upstream
    add_sources(bridge_env, simulators, sim.url)
    feed = create_feed(bridge_env, "--history-days", "30", "--horizon-days", "180")
    assert set(feed) >= {"id", "ics_url", "webcal_url", "page_url"}
    server.start()

    response = get(feed["ics_url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    occurrences = validate_feed(response.content, start=feed_window()[0], end=feed_window()[1])

    now = datetime.now(UTC)
    fetched = (now - timedelta(days=2), now + timedelta(days=180))
    confirmed, cancelled = upstream_occurrences(simulators, *fetched)
    inside = away_from(fetched)
    assert {o for o in as_tuples(occurrences, "CONFIRMED") if inside(o)} == {
        o for o in confirmed if inside(o)
    }
    for start, end, title in as_tuples(occurrences, "CANCELLED"):
        assert title.startswith("Cancelled: ")
        assert (start, end, title.removeprefix("Cancelled: ")) in cancelled

    token = feed["ics_url"].rsplit("/", 1)[1].removesuffix(".ics")
    access_log = server.log_path.read_text()
    assert "GET /f/… HTTP/1.1" in access_log and token not in access_log


def test_conditional_get_and_a_retitle_bumps_only_that_event(upstream, bridge_env, server) -> None:
    simulators, sim = upstream
    add_sources(bridge_env, simulators, sim.url)
    feed = create_feed(bridge_env)
    server.start()
    first = get(feed["ics_url"])
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, max-age=1"
    assert get(feed["ics_url"], headers={"If-None-Match": etag}).status_code == 304
    since = {"If-Modified-Since": first.headers["last-modified"]}
    assert get(feed["ics_url"], headers=since).status_code == 304
    assert get(feed["ics_url"], headers={"If-Modified-Since": "yesterday"}).status_code == 200
    assert head(feed["ics_url"]).headers["etag"] == etag

    call = future_single_call(simulators)
    simulators.tagmango.update_call(call.id, title="Renamed: office hours")
    second = eventually(
        lambda: get(feed["ics_url"], headers={"If-None-Match": etag}),
        lambda answer: answer.status_code == 200,
    )
    assert second.status_code == 200 and second.headers["etag"] != etag
    assert get(feed["ics_url"], headers=since).status_code == 200

    before, after = events_by_key(first.content), events_by_key(second.content)
    changed = [key for key in after if before.get(key) != after[key]]
    assert len(changed) == 1 and changed[0][0].startswith(f"tagmango-{call.id}@")
    old_event = icalendar.Event.from_ical(before[changed[0]])
    new_event = icalendar.Event.from_ical(after[changed[0]])
    assert new_event["SEQUENCE"] == old_event["SEQUENCE"] + 1
    assert str(new_event["SUMMARY"]) == "Renamed: office hours"
    assert set(before) == set(after)


def test_join_links_redirect_and_refuse(upstream, bridge_env, server) -> None:
    simulators, sim = upstream
    add_sources(bridge_env, simulators, sim.url)
    feed = create_feed(bridge_env)
    server.start()
    calendar = icalendar.Calendar.from_ical(get(feed["ics_url"]).content)
    calls = {call.id: call for call in simulators.tagmango.calls()}
    now = datetime.now(UTC)
    answers: dict[int, int] = {}
    for event in calendar.walk("VEVENT"):
        uid = str(event["UID"])
        match = re.fullmatch(r"tagmango-([0-9a-f]+)@127\.0\.0\.1", uid)
        if not match or "URL" not in event or str(event.get("STATUS")) == "CANCELLED":
            continue
        call = calls[match.group(1)]
        join_closes = call.end + JOIN_GRACE
        if abs(join_closes - now) < EDGE:
            continue  # the link closes around now: either answer would be right
        answer = get(str(event["URL"]))
        if join_closes < now:
            assert answer.status_code == 410 and "over" in answer.text
        elif call.meeting_url:
            assert answer.status_code == 302 and answer.headers["location"] == call.meeting_url
        else:
            assert answer.status_code == 404 and "hasn't added a link yet" in answer.text
        answers[answer.status_code] = answers.get(answer.status_code, 0) + 1
    assert answers.get(302, 0) >= 5

    call = future_single_call(simulators)
    link = next(str(e["URL"]) for e in calendar.walk("VEVENT") if call.id in str(e["UID"]))
    forged = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert get(forged).status_code == 400

    simulators.tagmango.update_call(call.id, meeting_url="javascript:alert(1)")
    refused = eventually(lambda: get(link), lambda answer: answer.status_code != 302)
    assert refused.status_code == 400 and "not a web address" in refused.text

    rotated = bridge_env.cli_json("feed", "rotate", str(feed["id"]))
    assert get(feed["ics_url"]).status_code == 404
    assert get(rotated["ics_url"]).status_code == 200

    bridge_env.cli_json("feed", "revoke", str(feed["id"]))
    assert get(rotated["ics_url"]).status_code == 410
    assert get(link).status_code == 410


def test_expired_join_link_is_refused(upstream, bridge_env, server) -> None:
    simulators, sim = upstream
    now = datetime.now(UTC)
    simulators.tagmango.add_call(
        SimCall(
            id="aaaaaaaaaaaaaaaaaaaaaaaa",
            title="Yesterday's clinic",
            start=now - timedelta(hours=30),
            end=now - timedelta(hours=29),
        )
    )
    add_sources(bridge_env, simulators, sim.url)
    feed = create_feed(bridge_env)
    server.start()
    calendar = icalendar.Calendar.from_ical(get(feed["ics_url"]).content)
    event = next(e for e in calendar.walk("VEVENT") if "aaaaaaaaaaaaaaaaaaaaaaaa" in str(e["UID"]))
    answer = get(str(event["URL"]))
    assert answer.status_code == 410 and "over" in answer.text


def test_upstream_outage_serves_last_good_feed_across_restart(upstream, bridge_env, server) -> None:
    simulators, sim = upstream
    add_sources(bridge_env, simulators, sim.url)
    feed = create_feed(bridge_env)
    server.start()
    good = get(feed["ics_url"])
    assert good.status_code == 200 and "x-calbridge-stale" not in good.headers

    simulators.tagmango.fail_next(*[Fault.error(500)] * 10_000)
    simulators.trainercentral.fail_next("server_error", times=10_000)
    during = eventually(
        lambda: get(feed["ics_url"]), lambda answer: "x-calbridge-stale" in answer.headers
    )
    assert during.status_code == 200 and during.content == good.content
    assert int(during.headers["x-calbridge-stale"]) >= 1

    server.stop()
    server.start()
    after_restart = get(feed["ics_url"])
    assert after_restart.status_code == 200 and after_restart.content == good.content
    assert "x-calbridge-stale" in after_restart.headers
    # The admin token stands in for a metrics token: a loopback client gets no pass.
    metrics = get(f"{bridge_env.public_url}/metrics", headers=ADMIN).text
    assert "calbridge_stale_serves_total" in metrics


def test_never_fetched_feed_answers_503_with_a_reason(upstream, bridge_env, server) -> None:
    simulators, sim = upstream
    simulators.tagmango.fail_next(*[Fault.error(401)] * 10)
    add_sources(bridge_env, simulators, sim.url)
    feed = create_feed(bridge_env)
    server.start()
    answer = get(feed["ics_url"])
    assert answer.status_code == 503
    assert answer.headers["retry-after"].isdigit()
    assert answer.headers["content-type"].startswith("text/plain")
    assert "tagmango-sim" in answer.text and "rejected" in answer.text


def test_removed_sessions_cancel_upcoming_and_keep_past(upstream, bridge_env, server) -> None:
    simulators, sim = upstream
    now = datetime.now(UTC)
    past = SimCall(
        id="bbbbbbbbbbbbbbbbbbbbbbbb",
        title="This morning's clinic",
        start=now - timedelta(hours=3),
        end=now - timedelta(hours=2),
    )
    simulators.tagmango.add_call(past)
    add_sources(bridge_env, simulators, sim.url)
    feed = create_feed(bridge_env)
    server.start()
    get(feed["ics_url"])

    upcoming = future_single_call(simulators)
    simulators.tagmango.remove_call(upcoming.id)
    simulators.tagmango.remove_call(past.id)
    body = eventually(
        lambda: get(feed["ics_url"]).content,
        lambda body: is_cancelled(body, upcoming.id),
    )
    occurrences = validate_feed(body, start=feed_window()[0], end=feed_window()[1])
    titles = {(o.summary, o.status) for o in occurrences}
    assert (f"Cancelled: {upcoming.title}", "CANCELLED") in titles
    assert (past.title, "CONFIRMED") in titles


def test_concurrent_cold_requests_cause_one_refresh_per_source(
    upstream, bridge_env, server
) -> None:
    simulators, sim = upstream
    simulators.tagmango.latency = 0.2
    bridge_env.cache_ttl = 600  # every request of the burst must fall inside one TTL
    add_sources(bridge_env, simulators, sim.url)
    feed = create_feed(bridge_env)
    server.start()
    simulators.tagmango.clear_log()
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda _: get(feed["ics_url"]), range(50)))
    # On a loaded machine the first fetch can outlast FIRST_FETCH_WAIT: those requests get a
    # 503 with Retry-After, as designed, and a client's retry then gets the feed.
    waited_out = [answer for answer in answers if answer.status_code == 503]
    assert all(answer.headers.get("Retry-After") for answer in waited_out)
    if waited_out:
        answers.append(
            eventually(lambda: get(feed["ics_url"]), lambda answer: answer.status_code == 200)
        )
    served = [answer for answer in answers if answer.status_code != 503]
    assert {answer.status_code for answer in served} == {200}, server.log_path.read_text()[-6000:]
    assert len({answer.content for answer in served}) == 1
    first_pages = [r for r in simulators.tagmango.requests if r.args.get("page") == "1"]
    talk_walks = [r for r in simulators.trainercentral.requests if r.params.get("si") == "0"]
    assert len(first_pages) == 1
    assert len(talk_walks) == 1
