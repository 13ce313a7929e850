"""The subscribe page, share-link management and the HTML error pages (Flask test client,
on the app of tests/web_support.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import pytest
from lxml import html

from bridge import operations
from bridge.feed_views import FeedView
from bridge.links import ClientLinks, event_download_url
from bridge.web.page_content import ago, time_range
from feeds.ical import plan_feed
from tests.web_support import (
    FEED_NAME,
    NOW,
    PUBLIC,
    Harness,
    Upstream,
    default_sessions,
    make_harness,
    token_of,
)


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


def by_id(page: html.HtmlElement, element_id: str) -> html.HtmlElement:
    found = page.get_element_by_id(element_id, None)
    assert found is not None, f"no element #{element_id}"
    return found


def text(element: html.HtmlElement) -> str:
    return " ".join(element.text_content().split())


def csrf_token(page: html.HtmlElement) -> str:
    return page.xpath("//form[@id='share-form']//input[@name='csrf_token']/@value")[0]


def share_form(page: html.HtmlElement, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf_token(page), "scope": "busy", "expires": "", **fields}


# -- the page ------------------------------------------------------------------------------


def test_page_shows_name_zone_freshness_and_next_sessions_in_feed_zone(harness: Harness) -> None:
    page = harness.page()
    assert text(page.xpath("//h1")[0]) == FEED_NAME
    assert "Europe/Berlin" in text(page.xpath("//ul[@class='meta']")[0])
    assert text(by_id(page, "refreshed")) == "Updated just now"
    assert page.get_element_by_id("stale", None) is None
    assert page.get_element_by_id("no-data", None) is None
    sessions = page.xpath("//ol[@class='sessions']/li")
    titles = [text(item.xpath(".//h3")[0]) for item in sessions]
    # The past session is not listed; the cancelled one is, marked; HTML in titles is escaped.
    assert titles == [
        "Morning flow",
        "Breathwork <basics>",
        "Sunday long practice Cancelled",
        "Not linked yet",
    ]
    first = sessions[0].xpath(".//time")[0]
    assert text(first) == "Mon 4 May, 10:00–11:00"  # 08:00 UTC in Berlin (CEST)
    assert first.get("data-start") == "2026-05-04T08:00:00+00:00"
    assert first.get("data-end") == "2026-05-04T09:00:00+00:00"
    assert "Europe/Berlin" in text(by_id(page, "zone-note"))


def test_each_session_has_its_signed_join_link_and_single_event_download(harness: Harness) -> None:
    page = harness.page()
    sessions = page.xpath("//ol[@class='sessions']/li")
    cancelled = sessions[2]
    assert cancelled.xpath(".//a") == []  # no join and no download for a cancelled session
    for item in (sessions[0], sessions[1], sessions[3]):
        uid = item.get("data-uid")
        join = item.xpath(".//a[contains(@class, 'join')]/@href")[0]
        add = item.xpath(".//a[contains(@class, 'add-one')]")[0]
        assert join.startswith(f"{PUBLIC}/j/")
        assert add.get("href") == f"{PUBLIC}/f/{harness.token}/events/{quote(uid, safe='')}.ics"
        assert text(add).startswith("Add this one")
        event = harness.client.get(urlsplit(add.get("href")).path)
        assert event.status_code == 200
        assert event.mimetype == "text/calendar"
        assert f"UID:{uid}".encode() in event.data
        # The join link goes through calbridge to the current meeting URL.
        redirected = harness.client.get(urlsplit(join).path)
        if item is sessions[3]:
            assert redirected.status_code == 404  # no meeting link yet: a page that says so
        else:
            assert redirected.status_code == 302
            assert redirected.location.startswith("https://meet.example.org/")


def test_subscribe_buttons_have_exact_encoded_targets(harness: Harness) -> None:
    page = harness.page()
    ics = f"{PUBLIC}/f/{harness.token}.ics"
    encoded_ics = quote(ics, safe="")
    encoded_name = "Yoga%20%26%20Friends%3A%20live"
    hrefs = {
        "apple-subscribe": "webcal://cal.example.org/f/" + harness.token + ".ics",
        "google-add": "https://calendar.google.com/calendar/r/settings/addbyurl",
        "google-one-click": "https://calendar.google.com/calendar/r?cid=" + encoded_ics,
        "outlook-add": "https://outlook.live.com/calendar/0/addfromweb"
        f"?url={encoded_ics}&name={encoded_name}",
        "m365-add": "https://outlook.office.com/calendar/0/addfromweb"
        f"?url={encoded_ics}&name={encoded_name}",
        "download": ics + "?download=1",
    }
    for element_id, href in hrefs.items():
        assert by_id(page, element_id).get("href") == href, element_id
    assert by_id(page, "feed-url").get("value") == ics
    for element_id in ("google-add", "copy-address", "copy-other"):
        assert by_id(page, element_id).get("data-copy") == ics
    # Copy-only buttons stay hidden until the script can make them work.
    assert by_id(page, "copy-other").get("hidden") is not None
    download = harness.client.get(f"/f/{harness.token}.ics?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment")


def test_client_links_encode_every_reserved_character() -> None:
    links = ClientLinks.for_token("https://h.example/base", "tok", "A/B ?&=#+ é")
    assert links.webcal_url == "webcal://h.example/base/f/tok.ics"
    assert links.outlook_com.endswith(
        "?url=https%3A%2F%2Fh.example%2Fbase%2Ff%2Ftok.ics&name=A%2FB%20%3F%26%3D%23%2B%20%C3%A9"
    )
    assert event_download_url("https://h", "t", "tagmango-1@h") == (
        "https://h/f/t/events/tagmango-1%40h.ics"
    )


def test_qr_code_is_an_inline_labelled_svg(harness: Harness) -> None:
    page = harness.page()
    svg = page.xpath("//figure[@id='qr']/svg")[0]
    assert svg.get("role") == "img"
    assert "webcal://cal.example.org/f/" in svg.get("aria-label")
    assert svg.xpath(".//path")  # drawn as vector paths, no image request


def test_page_headers_keep_the_secret_url_private(harness: Harness) -> None:
    response = harness.client.get(f"/f/{harness.token}")
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "no-store" in response.headers["Cache-Control"]
    assert "noindex" in response.headers["X-Robots-Tag"]
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "form-action 'self'" in policy


def test_only_the_owner_page_sets_a_tight_session_cookie(harness: Harness) -> None:
    cookie = harness.client.get(f"/f/{harness.token}").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie  # it carries the CSRF token
    share = operations.share_feed(harness.services, harness.feed_id, scope="busy")
    shared = harness.app.test_client().get(f"/f/{token_of(share.links.ics_url)}")
    assert "Set-Cookie" not in shared.headers


def test_page_without_data_yet_explains_and_ics_answers_503(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, Upstream(default_sessions(), failing=True))
    page = harness.page()
    notice = text(by_id(page, "no-data"))
    assert "not been able to load this calendar" in notice
    assert "connection refused" in notice  # the owner sees why
    assert page.xpath("//ol[@class='sessions']") == []
    assert by_id(page, "apple-subscribe").get("href").startswith("webcal://")
    assert harness.client.get(f"/f/{harness.token}.ics").status_code == 503


def test_share_viewer_does_not_see_upstream_error_details(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, Upstream(default_sessions(), failing=True))
    share = operations.share_feed(harness.services, harness.feed_id, scope="busy")
    notice = text(by_id(harness.page(token_of(share.links.ics_url)), "no-data"))
    assert "connection refused" not in notice


def test_page_served_stale_says_so(harness: Harness) -> None:
    harness.page()  # one good fetch
    harness.clock.now += timedelta(minutes=5)
    harness.upstream.failing = True
    page = harness.page()
    assert "Showing saved sessions" in text(by_id(page, "stale"))
    assert len(page.xpath("//ol[@class='sessions']/li")) == 4  # the saved sessions


def test_no_upcoming_sessions(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, Upstream([]))
    page = harness.page()
    assert "No upcoming sessions" in text(page.xpath("//p[@class='empty']")[0])


# -- share pages ---------------------------------------------------------------------------


def test_busy_share_page_shows_busy_without_links_or_management(harness: Harness) -> None:
    share = operations.share_feed(harness.services, harness.feed_id, scope="busy")
    page = harness.page(token_of(share.links.ics_url))
    titles = {text(h3) for h3 in page.xpath("//ol[@class='sessions']/li//h3")}
    assert titles == {"Busy", "Busy Cancelled"}
    assert page.xpath("//a[contains(@class, 'join')]") == []
    assert page.get_element_by_id("shares", None) is None
    assert page.xpath("//form") == []
    assert "Busy times only" in text(by_id(page, "shared-scope"))
    assert "Morning flow" not in html.tostring(page, encoding="unicode")


def test_no_links_share_page_shows_titles_but_no_join_links(harness: Harness) -> None:
    share = operations.share_feed(harness.services, harness.feed_id, scope="no-links")
    page = harness.page(token_of(share.links.ics_url))
    titles = [text(h3) for h3 in page.xpath("//ol[@class='sessions']/li//h3")]
    assert titles[0] == "Morning flow"
    assert page.xpath("//a[contains(@class, 'join')]") == []
    assert page.xpath("//a[contains(@class, 'add-one')]")
    assert page.get_element_by_id("shares", None) is None


def test_share_token_cannot_manage_shares(harness: Harness) -> None:
    share = operations.share_feed(harness.services, harness.feed_id, scope="full")
    share_token = token_of(share.links.ics_url)
    page = harness.page(share_token)
    assert page.get_element_by_id("shares", None) is None  # a full-scope share manages nothing
    response = harness.client.post(f"/f/{share_token}/shares", data={"scope": "busy"})
    assert response.status_code == 403
    response = harness.client.post(f"/f/{share_token}/shares/{share.id}/revoke")
    assert response.status_code == 403
    assert len(harness.services.store.list_shares(harness.feed_id)) == 1


# -- creating and revoking share links -----------------------------------------------------


def test_owner_creates_a_share_link_shown_once(harness: Harness) -> None:
    page = harness.page()
    assert text(by_id(page, "no-shares")) == "No share links yet."
    response = harness.client.post(
        f"/f/{harness.token}/shares", data=share_form(page, scope="no-links", expires="2026-06-30")
    )
    assert response.status_code == 201
    created = html.fromstring(response.get_data(as_text=True))
    panel = by_id(created, "new-share")
    page_url = by_id(created, "new-share-page").get("value")
    ics_url = by_id(created, "new-share-ics").get("value")
    assert page_url.startswith(f"{PUBLIC}/f/") and ics_url == page_url + ".ics"
    assert "until the end of Tue 30 Jun 2026 (Europe/Berlin)" in text(panel)
    [share] = harness.services.store.list_shares(harness.feed_id)
    assert share.scope == "no-links"
    # The link works through the whole day in the calendar's zone (Berlin: UTC+2 in June).
    assert share.expires_at == datetime(2026, 6, 30, 21, 59, 59, 999999, tzinfo=UTC)
    # The new link works, and the owner's page never shows it again.
    shared = harness.page(token_of(page_url))
    assert "Titles and times, no join links" in text(by_id(shared, "shared-scope"))
    again = harness.client.get(f"/f/{harness.token}").get_data(as_text=True)
    assert token_of(page_url) not in again
    row = html.fromstring(again).xpath(f"//tr[@data-share-id='{share.id}']")[0]
    assert "Active" in text(row) and "Tue 30 Jun 2026" in text(row)


def test_create_share_without_csrf_token_changes_nothing(harness: Harness) -> None:
    harness.page()  # the session cookie exists; only the token is missing
    response = harness.client.post(f"/f/{harness.token}/shares", data={"scope": "busy"})
    assert response.status_code == 400
    assert "nothing was changed" in response.get_data(as_text=True)
    forged = harness.client.post(
        f"/f/{harness.token}/shares", data={"scope": "busy", "csrf_token": "forged"}
    )
    assert forged.status_code == 400
    assert harness.services.store.list_shares(harness.feed_id) == []


def test_csrf_token_from_another_browser_session_is_refused(harness: Harness) -> None:
    token = csrf_token(harness.page())
    other_browser = harness.app.test_client()
    response = other_browser.post(
        f"/f/{harness.token}/shares", data={"scope": "busy", "csrf_token": token}
    )
    assert response.status_code == 400
    assert harness.services.store.list_shares(harness.feed_id) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"expires": "2026-05-01"}, "is in the past"),
        ({"expires": "next tuesday"}, "Not a valid date value"),
        ({"scope": "full"}, "Not a valid choice"),
        ({"scope": ""}, "Choose what the link shows"),
    ],
)
def test_bad_share_form_input_is_explained(
    harness: Harness, fields: dict[str, str], message: str
) -> None:
    page = harness.page()
    response = harness.client.post(f"/f/{harness.token}/shares", data=share_form(page, **fields))
    assert response.status_code == 400
    body = html.fromstring(response.get_data(as_text=True))
    errors = " ".join(text(e) for e in body.xpath("//*[@class='field-error']"))
    assert message in errors
    assert "--expires" not in errors
    assert harness.services.store.list_shares(harness.feed_id) == []


def test_owner_revokes_a_share_link(harness: Harness) -> None:
    share = operations.share_feed(harness.services, harness.feed_id, scope="busy")
    share_token = token_of(share.links.ics_url)
    harness.page(share_token)
    page = harness.page()
    form = page.xpath(f"//tr[@data-share-id='{share.id}']//form")[0]
    response = harness.client.post(
        form.get("action"), data={"csrf_token": form.xpath(".//input/@value")[0]}
    )
    assert response.status_code == 303
    assert response.location == f"/f/{harness.token}#shares"
    after = harness.page()
    assert "is revoked" in text(by_id(after, "flash"))
    row = after.xpath(f"//tr[@data-share-id='{share.id}']")[0]
    assert "Revoked" in text(row) and row.xpath(".//form") == []
    gone = harness.page(share_token, status=410)
    assert "revoked" in text(gone.xpath("//p[@class='lead']")[0])


def test_revoke_needs_csrf_and_a_share_of_this_feed(harness: Harness) -> None:
    share = operations.share_feed(harness.services, harness.feed_id, scope="busy")
    other = operations.create_feed(harness.services, name="Other", sources=["mango"])
    other_share = operations.share_feed(harness.services, other.id, scope="busy")
    csrf = csrf_token(harness.page())
    no_csrf = harness.client.post(f"/f/{harness.token}/shares/{share.id}/revoke")
    assert no_csrf.status_code == 400
    foreign = harness.client.post(
        f"/f/{harness.token}/shares/{other_share.id}/revoke", data={"csrf_token": csrf}
    )
    assert foreign.status_code == 404
    for unknown_id in ("999999", "9" * 30):
        unknown = harness.client.post(
            f"/f/{harness.token}/shares/{unknown_id}/revoke", data={"csrf_token": csrf}
        )
        assert unknown.status_code == 404
    assert all(s.revoked_at is None for s in harness.services.store.list_shares(harness.feed_id))
    assert all(s.revoked_at is None for s in harness.services.store.list_shares(other.id))


# -- error and refusal pages ---------------------------------------------------------------


def message_page(response: Any, status: int) -> tuple[str, str]:
    assert response.status_code == status
    assert response.mimetype == "text/html"
    page = html.fromstring(response.get_data(as_text=True))
    assert page.xpath("//link[@rel='stylesheet']/@href") == ["/static/calbridge.css"]
    assert page.xpath("//section[@class='message card']/@data-status") == [str(status)]
    return text(page.xpath("//h1")[0]), text(page.xpath("//p[@class='lead']")[0])


def test_unknown_and_revoked_feeds_get_styled_404_and_410(harness: Harness) -> None:
    title, message = message_page(harness.client.get("/f/not-a-real-token"), 404)
    assert title == "Not found" and "no calendar at this address" in message
    operations.revoke_feed(harness.services, harness.feed_id)
    title, message = message_page(harness.client.get(f"/f/{harness.token}"), 410)
    assert title == "No longer available" and "revoked" in message
    assert harness.client.get(f"/f/{harness.token}").headers["Referrer-Policy"] == "same-origin"


def test_expired_share_page_is_410(harness: Harness) -> None:
    share = operations.share_feed(
        harness.services, harness.feed_id, scope="busy", expires=NOW.date().isoformat()
    )
    assert harness.client.get(f"/f/{token_of(share.links.ics_url)}").status_code == 200
    expired = harness.services.store.create_share(harness.feed_id, "busy", NOW - timedelta(days=1))
    _, message = message_page(harness.client.get(f"/f/{expired[1]}"), 410)
    assert "expired" in message


def uid_of(harness: Harness, upstream_id: str) -> str:
    """The event UID the feed gives the session with this upstream id."""
    renderer = harness.services.feeds
    feed = harness.services.store.feed(harness.feed_id)
    now = harness.services.clock()
    options = renderer.options(FeedView.of_feed(feed), expand=False, now=now)
    sessions = renderer.sessions(feed, renderer.partitions(feed), now)
    for planned in plan_feed(sessions, options):
        if any(session.upstream_id == upstream_id for session in planned.sessions):
            return planned.uid
    raise AssertionError(f"no event for {upstream_id}")


def join_path(harness: Harness, upstream_id: str) -> str:
    uid = uid_of(harness, upstream_id)
    feed = harness.services.store.feed(harness.feed_id)
    return "/j/" + harness.services.signer.sign(feed.owner, uid, feed.generation)


def test_join_refusal_pages_render_in_the_same_style(harness: Harness) -> None:
    harness.page()
    title, _ = message_page(harness.client.get("/j/forged.token"), 400)
    assert title == "This join link is not valid"
    title, _ = message_page(harness.client.get(join_path(harness, "c3")), 410)
    assert title == "This session was cancelled"
    title, _ = message_page(harness.client.get(join_path(harness, "c4")), 404)
    assert title == "No meeting link yet"


def test_join_page_for_a_session_long_over(harness: Harness) -> None:
    harness.page()
    path = join_path(harness, "c1")
    harness.clock.now = NOW + timedelta(days=3)
    title, _ = message_page(harness.client.get(path), 410)
    assert title == "This session is over"


# -- small helpers -------------------------------------------------------------------------


def test_ago_and_time_range_wording() -> None:
    assert ago(NOW, NOW) == "just now"
    assert ago(NOW - timedelta(minutes=1), NOW) == "1 minute ago"
    assert ago(NOW - timedelta(hours=5, minutes=3), NOW) == "5 hours ago"
    assert ago(NOW - timedelta(days=2), NOW) == "2 days ago"
    assert ago(NOW + timedelta(minutes=5), NOW) == "just now"
    berlin = ZoneInfo("Europe/Berlin")
    late = datetime(2026, 5, 4, 21, 30, tzinfo=UTC)
    assert time_range(late, late + timedelta(hours=2), berlin, NOW) == (
        "Mon 4 May, 23:30–Tue 5 May, 01:30"
    )
    next_year = datetime(2027, 1, 8, 9, 0, tzinfo=UTC)
    assert time_range(next_year, next_year + timedelta(hours=1), berlin, NOW) == (
        "Fri 8 Jan 2027, 10:00–11:00"
    )
