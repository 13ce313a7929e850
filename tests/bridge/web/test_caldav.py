"""The read-only CalDAV view (bridge.web.caldav): discovery, logins, properties, reports,
sync tokens, read-only refusals and bad requests, through the Flask test client."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta
from pathlib import Path

import icalendar
import pytest
from lxml import etree

from bridge import operations
from tests.bridge.web.caldav_support import NS, Dav, Multistatus, basic, login_of, sync_body
from tests.ical_validators import validate_feed
from tests.web_support import NOW, Harness, call, make_harness, token_of


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


@pytest.fixture
def dav(harness: Harness) -> Dav:
    return Dav(harness.client, *login_of(f"f{harness.feed_id}", harness.token))


def test_discovery_from_the_origin_leads_to_the_one_calendar(harness: Harness, dav: Dav) -> None:
    moved = harness.client.open("/.well-known/caldav", method="PROPFIND")
    assert moved.status_code == 301 and moved.headers["Location"].endswith("/dav/")
    root = dav.propfind("/dav/", "D:current-user-principal")
    principal = root.found("/dav/", "D:current-user-principal").findtext("D:href", namespaces=NS)
    assert principal == f"/dav/principals/{dav.user}/"
    home_set = dav.propfind(principal, "C:calendar-home-set").found(
        principal, "C:calendar-home-set"
    )
    home = home_set.findtext("D:href", namespaces=NS)
    listing = dav.propfind(home, "D:resourcetype", "D:displayname", "CS:getctag", depth="1")
    calendars = [
        h
        for h in listing.hrefs()
        if listing.found(h, "D:resourcetype").find("C:calendar", NS) is not None
    ]
    assert calendars == [dav.calendar]
    assert listing.text(dav.calendar, "D:displayname") == "Yoga & Friends: live"
    assert listing.text(dav.calendar, "CS:getctag")


def test_options_advertise_calendar_access_without_a_login(harness: Harness) -> None:
    answer = harness.client.options("/dav/")
    assert answer.status_code == 200
    assert "calendar-access" in answer.headers["DAV"]
    assert "PROPFIND" in answer.headers["Allow"] and "PUT" not in answer.headers["Allow"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("feed-1", "wrong-password"),
        basic("feed-999", "wrong-password"),
        basic("nobody", "x"),
        {"Authorization": "Bearer something"},
    ],
    ids=["none", "wrong-password", "unknown-feed", "unknown-user", "not-basic"],
)
def test_bad_logins_get_401_with_basic(harness: Harness, headers: dict[str, str]) -> None:
    answer = harness.client.open("/dav/", method="PROPFIND", headers={**headers, "Depth": "0"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic ")


def test_a_wrong_password_costs_what_a_right_one_does(harness: Harness, dav: Dav) -> None:
    """Same work either way: one lookup by id, one hash, a constant-time compare. Compared as
    medians of interleaved runs, with a generous bound (this is not a benchmark)."""
    store, owner = harness.services.store, f"f{harness.feed_id}"
    _, password = login_of(owner, harness.token)
    tries = {"right": (owner, password), "wrong": (owner, "x" * 23), "unknown": ("f999", "x")}
    times: dict[str, list[float]] = {name: [] for name in tries}
    for _ in range(31):
        for name, (who, secret) in tries.items():
            started = time.perf_counter()
            found = store.caldav_login(who, secret)
            times[name].append(time.perf_counter() - started)
            assert (found is not None) == (name == "right")
    median = {name: sorted(values)[15] for name, values in times.items()}
    assert median["wrong"] < 3 * median["right"] and median["unknown"] < 3 * median["right"]


def test_objects_hold_the_feed_events_and_their_etags(harness: Harness, dav: Dav) -> None:
    etags = dav.etags()
    feed = harness.client.get(f"/f/{harness.token}.ics").data
    feed_uids = {str(e["UID"]) for e in icalendar.Calendar.from_ical(feed).walk("VEVENT")}
    assert len(etags) == len(feed_uids)
    found_uids = set()
    for href, etag in etags.items():
        answer = dav.request("GET", href)
        assert answer.status_code == 200 and answer.headers["ETag"] == etag
        assert answer.mimetype == "text/calendar"
        [uid] = {str(e["UID"]) for e in icalendar.Calendar.from_ical(answer.data).walk("VEVENT")}
        found_uids.add(uid)
        validate_feed(answer.data, start=NOW - timedelta(days=30), end=NOW + timedelta(days=30))
        assert dav.request("GET", href, **{"If-None-Match": etag}).status_code == 304
    assert found_uids == feed_uids
    assert dav.request("GET", dav.calendar + "nothing.ics").status_code == 404
    whole = dav.request("GET", dav.calendar)
    assert whole.status_code == 200 and whole.data == feed


def test_calendar_query_by_time_range(harness: Harness, dav: Dav) -> None:
    def query(start: str, end: str) -> set[str]:
        body = (
            '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            "<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter>"
            '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f'<C:time-range start="{start}" end="{end}"/>'
            "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
        )
        listing = dav.report(body)
        for href in listing.hrefs():
            assert b"BEGIN:VEVENT" in listing.text(href, "C:calendar-data").encode()
        return {href.rsplit("/", 1)[1].split("%40")[0] for href in listing.hrefs()}

    assert query("20260504T070000Z", "20260505T000000Z") == {"tagmango-c1"}  # NOW + 2 h
    assert query("20260501T000000Z", "20260510T000000Z") == {
        "tagmango-past", "tagmango-c1", "tagmango-c2", "tagmango-c3", "tagmango-c4"
    }  # fmt: skip
    assert query("20270101T000000Z", "20270102T000000Z") == set()


def test_calendar_query_text_match_and_unsupported_filters(harness: Harness, dav: Dav) -> None:
    def query(inner: str):
        body = (
            '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
            f'<C:comp-filter name="VEVENT">{inner}</C:comp-filter>'
            "</C:comp-filter></C:filter></C:calendar-query>"
        )
        return dav.request("REPORT", dav.calendar, body, Depth="1")

    found = Multistatus.of(
        query(
            '<C:prop-filter name="SUMMARY"><C:text-match>BREATHWORK</C:text-match></C:prop-filter>'
        ).data
    )
    assert [h for h in found.hrefs() if "c2" in h] == found.hrefs() and found.hrefs()
    refused = query(
        '<C:prop-filter name="SUMMARY"><C:param-filter name="LANGUAGE"/></C:prop-filter>'
    )
    assert refused.status_code == 403 and b"supported-filter" in refused.data
    bad_range = query('<C:time-range start="tomorrow"/>')
    assert bad_range.status_code == 403 and b"valid-filter" in bad_range.data
    todos = dav.report(
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        '<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
        '<C:comp-filter name="VTODO"/></C:comp-filter></C:filter></C:calendar-query>'
    )
    assert todos.hrefs() == []


def test_multiget_answers_known_hrefs_and_404s_the_rest(harness: Harness, dav: Dav) -> None:
    href = next(iter(dav.etags()))
    missing = dav.calendar + "gone%40x.ics"
    listing = dav.report(
        '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
        f"<D:href>{href}</D:href><D:href>{missing}</D:href></C:calendar-multiget>"
    )
    assert listing.text(href, "C:calendar-data").startswith("BEGIN:VCALENDAR")
    assert "404" in listing.status_of(missing)


def test_sync_collection_sends_exactly_what_changed(harness: Harness, dav: Dav) -> None:
    first = dav.report(sync_body())
    token = first.sync_token()
    assert token and len(first.hrefs()) == 5
    assert dav.report(sync_body(token)).hrefs() == []  # nothing changed
    sessions = harness.upstream.sessions
    sessions[1] = dataclasses.replace(sessions[1], title="Morning flow (moved room)")
    harness.refetch()
    changed = dav.report(sync_body(token))
    [href] = changed.hrefs()
    assert "tagmango-c1" in href and changed.text(href, "D:getetag")
    token = changed.sync_token()
    del sessions[2]  # c2 removed upstream
    harness.refetch()
    removed = dav.report(sync_body(token))
    [href] = removed.hrefs()
    assert "tagmango-c2" in href
    # the removal shows as the cancellation that archive holds produce, or a 404 once gone
    assert removed.status_of(href) is None or "404" in removed.status_of(href)
    sessions.append(call("c9", "New class", NOW + timedelta(days=4)))
    harness.refetch()
    added = dav.report(sync_body(removed.sync_token()))
    assert [h for h in added.hrefs()] == [dav.calendar + "tagmango-c9%40cal.example.org.ics"]
    ctag = dav.propfind(dav.calendar, "CS:getctag").text(dav.calendar, "CS:getctag")
    assert ctag == added.sync_token()


@pytest.mark.parametrize(
    "token",
    [
        "urn:calbridge:sync:f1:999",
        "urn:calbridge:sync:f77:1",
        "garbage",
        "urn:calbridge:sync:f1:-1",
    ],
)
def test_unknown_sync_tokens_get_valid_sync_token(harness: Harness, dav: Dav, token: str) -> None:
    answer = dav.request("REPORT", dav.calendar, sync_body(token), Depth="1")
    assert answer.status_code == 403
    assert etree.fromstring(answer.data).find("D:valid-sync-token", NS) is not None


@pytest.mark.parametrize(
    "method", ["PUT", "DELETE", "MKCALENDAR", "MKCOL", "PROPPATCH", "MOVE", "COPY", "POST"]
)
def test_every_write_is_refused_with_need_privileges(
    harness: Harness, dav: Dav, method: str
) -> None:
    href = next(iter(dav.etags()))
    answer = dav.request(method, href, b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    assert answer.status_code == 403
    error = etree.fromstring(answer.data)
    assert error.find("D:need-privileges", NS) is not None
    assert len(dav.etags()) == 5  # nothing changed


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"<D:propfind xmlns:D='DAV:'><D:prop>", {}, 400),
        (b"not xml at all", {}, 400),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><D:propfind xmlns:D="DAV:">&b;</D:propfind>',
            {},
            400,
        ),
        (b"<x/>" + b" " * (1024 * 1024), {}, 413),
        (b"<D:propfind xmlns:D='DAV:'><D:allprop/></D:propfind>", {"Depth": "infinity"}, 403),
        (b"<D:propfind xmlns:D='DAV:'><D:allprop/></D:propfind>", {"Depth": "2"}, 400),
        (b"<D:lock xmlns:D='DAV:'/>", {}, 400),
    ],
    ids=["truncated", "not-xml", "entities", "huge", "depth-infinity", "depth-2", "wrong-root"],
)
def test_bad_requests_get_clear_4xx(
    harness: Harness, dav: Dav, body: bytes, headers: dict[str, str], status: int
) -> None:
    answer = dav.request("PROPFIND", dav.calendar, body, **headers)
    assert answer.status_code == status, answer.data
    assert answer.data.strip()
    assert dav.propfind(dav.calendar, "D:getetag").hrefs() == [dav.calendar]  # still serving


def test_reports_the_server_does_not_know_are_refused(harness: Harness, dav: Dav) -> None:
    answer = dav.request("REPORT", dav.calendar, "<D:expand-property xmlns:D='DAV:'/>")
    assert answer.status_code == 403 and b"supported-report" in answer.data
    assert dav.request("REPORT", dav.calendar, "").status_code == 400


def test_another_logins_paths_are_not_found(harness: Harness, dav: Dav) -> None:
    answer = dav.request("PROPFIND", "/dav/calendars/feed-999/sessions/", Depth="0")
    assert answer.status_code == 404


def test_share_links_log_in_with_their_scope(harness: Harness) -> None:
    services = harness.services
    for scope, shows_titles, shows_links in (("busy", False, False), ("no-links", True, False)):
        share = operations.share_feed(services, harness.feed_id, scope=scope)
        assert share.login.caldav_username == f"share-{share.id}"
        assert share.login.caldav_url.endswith(f"/dav/calendars/share-{share.id}/sessions/")
        dav = Dav(harness.client, share.login.caldav_username, share.login.caldav_password)
        data = b"".join(dav.request("GET", href).data for href in dav.etags())
        assert (b"Morning flow" in data) == shows_titles
        assert (b"/j/" in data) == shows_links


def test_rotate_and_revoke_change_and_end_the_login(harness: Harness, dav: Dav) -> None:
    services = harness.services
    rotated = operations.rotate_feed(services, harness.feed_id)
    assert dav.request("PROPFIND", "/dav/", Depth="0").status_code == 401
    fresh = Dav(harness.client, rotated.login.caldav_username, rotated.login.caldav_password)
    assert fresh.request("PROPFIND", "/dav/", Depth="0").status_code == 207
    assert rotated.login.caldav_password != login_of(f"f{harness.feed_id}", harness.token)[1]
    assert token_of(rotated.links.ics_url) != harness.token
    operations.revoke_feed(services, harness.feed_id)
    assert fresh.request("PROPFIND", "/dav/", Depth="0").status_code == 410


def test_feed_create_json_gives_the_caldav_login(harness: Harness) -> None:
    created = operations.create_feed(harness.services, name="Second", sources=["mango"])
    assert created.login.caldav_username == f"feed-{created.id}"
    assert created.login.caldav_url == (
        f"https://cal.example.org/dav/calendars/feed-{created.id}/sessions/"
    )
    password = created.login.caldav_password
    assert len(password) == 23 and password.count("-") == 3
    dav = Dav(harness.client, created.login.caldav_username, password)
    assert dav.request("PROPFIND", dav.calendar, Depth="0").status_code == 207
