"""The subscribe page in a real browser: headless chromium through Playwright, on the demo.

The bridge and the simulators run in this process (`bridge.demo.start_demo`) on loopback;
chromium may reach 127.0.0.1 only (every other request is aborted and recorded), so the
calendar sites' links are checked by their href and never opened. Page loads are shared
where tests only read a page, to keep the module fast. The screenshots in
docs/screenshots/ are written by `test_screenshots_at_phone_and_desktop_widths`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest

from bridge.demo import Demo, start_demo
from bridge.simulator.tagmango import SimCall
from tests.e2e.browser_support import (
    PHONE,
    SCREENSHOTS,
    PageLog,
    Visitor,
    axe_violations,
    decode_qr,
    launch_chromium,
    missing,
)
from tests.e2e.processes import free_port

pytestmark = pytest.mark.browser

VIEWER_ZONE = "America/New_York"
CANCELLED_TITLE = "Browser test: cancelled session"
UNLINKED_TITLE = "Browser test: no link yet"
READ_CLIPBOARD = "() => navigator.clipboard.readText()"
CLEAR_CLIPBOARD = "() => navigator.clipboard.writeText('')"


@dataclass
class Site:
    demo: Demo
    owner_url: str  # the creator feed's page (full scope: management, join links)
    owner_ics: str
    owner_id: int
    name: str
    zone: str
    busy_url: str  # the demo's busy share link of the creator feed
    screenshot_url: str  # the participant feed's page, whose share list no test changes

    @property
    def services(self) -> Any:
        return self.demo.app.extensions["calbridge"]

    @property
    def webcal(self) -> str:
        return "webcal://" + self.owner_ics.split("://", 1)[1]

    @property
    def token(self) -> str:
        return self.owner_url.rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    demo = start_demo(tmp_path_factory.mktemp("demo"), free_port(), now=now)
    try:
        # Two calls of our own, listed before the bridge's first fetch.
        start = now + timedelta(minutes=30)
        for call_id, title, status, link in (
            ("browser-cancelled", CANCELLED_TITLE, "cancelled", "https://zoom.us/j/1"),
            ("browser-unlinked", UNLINKED_TITLE, "available", None),
        ):
            demo.simulators.tagmango.add_call(
                SimCall(
                    call_id,
                    title,
                    start,
                    start + timedelta(hours=1),
                    status=status,
                    meeting_url=link,
                )
            )
        feeds = {label.split()[0].lower(): links for label, links in demo.feeds.items()}
        creator, participant, busy = feeds["creator"], feeds["participant"], feeds["busy"]
        for url in (creator["page_url"], participant["page_url"], busy["page_url"]):
            # Fetch upstream now, so that page loads in the browser are quick.
            assert httpx.get(url, timeout=60).status_code == 200
        yield Site(
            demo=demo,
            owner_url=creator["page_url"],
            owner_ics=creator["ics_url"],
            owner_id=creator["id"],
            name=creator["name"],
            zone=creator["timezone"],
            busy_url=busy["page_url"],
            screenshot_url=participant["page_url"],
        )
    finally:
        demo.stop()


@pytest.fixture(scope="module")
def visitor(browser: Any, site: Site) -> Iterator[Visitor]:
    """A visitor in New York with JavaScript and clipboard access."""
    person = Visitor(browser, timezone_id=VIEWER_ZONE, clipboard=True)
    yield person
    person.close()


@pytest.fixture(scope="module")
def loaded(visitor: Visitor, site: Site) -> tuple[Any, PageLog]:
    """The owner's page on a desktop, loaded once for the tests that only read it."""
    page, log = visitor.open(axe=True)
    response = page.goto(site.owner_url)
    assert response is not None and response.status == 200
    return page, log


@pytest.fixture
def owner_page(loaded: tuple[Any, PageLog]) -> Any:
    return loaded[0]


def session_item(page: Any, title: str) -> Any:
    return page.locator("ol.sessions > li", has=page.locator("h3", has_text=title)).first


# -- the page ------------------------------------------------------------------------------


def test_page_loads_without_console_errors_or_outside_requests(
    loaded: tuple[Any, PageLog], visitor: Visitor, site: Site
) -> None:
    page, log = loaded
    assert page.locator("h1").inner_text() == site.name
    assert log.console_errors == []
    assert log.page_errors == []
    assert visitor.blocked == []  # the page loads nothing from elsewhere


def test_every_button_points_exactly_right(owner_page: Any, site: Site) -> None:
    encoded_ics = quote(site.owner_ics, safe="")
    encoded_name = quote(site.name, safe="")
    expected = {
        "#apple-subscribe": site.webcal,
        "#google-add": "https://calendar.google.com/calendar/r/settings/addbyurl",
        "#google-one-click": f"https://calendar.google.com/calendar/r?cid={encoded_ics}",
        "#outlook-add": "https://outlook.live.com/calendar/0/addfromweb"
        f"?url={encoded_ics}&name={encoded_name}",
        "#m365-add": "https://outlook.office.com/calendar/0/addfromweb"
        f"?url={encoded_ics}&name={encoded_name}",
        "#download": f"{site.owner_ics}?download=1",
    }
    for selector, href in expected.items():
        assert owner_page.locator(selector).get_attribute("href") == href, selector
        assert owner_page.locator(selector).is_visible(), selector
    assert owner_page.locator("#feed-url").input_value() == site.owner_ics
    google = owner_page.locator("#google-add")
    assert google.inner_text() == "Copy address & open Google Calendar"
    assert owner_page.locator("#copy-other").is_visible()
    # Join goes through calbridge; "Add this one" is the single-event .ics of that UID.
    first = owner_page.locator("ol.sessions > li", has=owner_page.locator("a.join")).first
    uid = first.get_attribute("data-uid")
    assert first.locator("a.join").get_attribute("href").startswith(f"{site.demo.url}/j/")
    assert first.locator("a.add-one").get_attribute("href") == (
        f"{site.demo.url}/f/{site.token}/events/{quote(uid, safe='')}.ics"
    )


def test_times_are_shown_in_the_viewers_zone(owner_page: Any) -> None:
    note = owner_page.locator("#zone-note").inner_text()
    assert note == f"Times are in your time zone, {VIEWER_ZONE}."
    first = owner_page.locator("ol.sessions time").first
    start = datetime.fromisoformat(first.get_attribute("data-start"))
    local = start.astimezone(ZoneInfo(VIEWER_ZONE))
    assert f"{local.day} " in first.inner_text()
    assert f", {local:%H:%M}–" in first.inner_text()


def test_qr_code_decodes_to_the_webcal_url(owner_page: Any, site: Site) -> None:
    png = owner_page.locator("#qr svg").screenshot()
    assert decode_qr(png) == [site.webcal]


def test_no_serious_accessibility_violations_on_the_owners_page(owner_page: Any) -> None:
    assert axe_violations(owner_page) == []


def test_copy_puts_the_feed_url_on_the_clipboard(
    owner_page: Any, visitor: Visitor, site: Site
) -> None:
    owner_page.evaluate(CLEAR_CLIPBOARD)
    owner_page.locator("#copy-address").click()
    owner_page.wait_for_function("() => navigator.clipboard.readText().then(t => t !== '')")
    assert owner_page.evaluate(READ_CLIPBOARD) == site.owner_ics
    owner_page.wait_for_function(
        "() => document.getElementById('copy-status').textContent.includes('Copied')"
    )
    # Keyboard use works the same.
    owner_page.evaluate(CLEAR_CLIPBOARD)
    owner_page.locator("#copy-other").focus()
    owner_page.keyboard.press("Enter")
    owner_page.wait_for_function("() => navigator.clipboard.readText().then(t => t !== '')")
    assert owner_page.evaluate(READ_CLIPBOARD) == site.owner_ics
    # Google: one click copies the address and opens Google's "From URL" page (blocked here).
    owner_page.evaluate(CLEAR_CLIPBOARD)
    with visitor.context.expect_page() as popup:
        owner_page.locator("#google-add").click()
    popup.value.close()
    assert owner_page.evaluate(READ_CLIPBOARD) == site.owner_ics
    blocked = [url for url in visitor.blocked if url.startswith("https://calendar.google")]
    assert blocked == ["https://calendar.google.com/calendar/r/settings/addbyurl"]
    visitor.blocked.clear()


def test_keyboard_focus_order_follows_the_page(owner_page: Any) -> None:
    owner_page.reload()  # a fresh start: no focus left over from the tests before
    focused = "() => document.activeElement.id || document.activeElement.className"
    owner_page.keyboard.press("Tab")
    assert owner_page.evaluate(focused) == "skip-link"
    owner_page.keyboard.press("Enter")
    assert owner_page.evaluate(focused) == "main"
    order = []
    for _ in range(9):
        owner_page.keyboard.press("Tab")
        order.append(owner_page.evaluate(focused))
    assert order == [
        "feed-url",
        "copy-address",
        "apple-subscribe",
        "google-add",
        "google-one-click",
        "outlook-add",
        "m365-add",
        "copy-other",
        "download",
    ]


def test_page_works_without_javascript(browser: Any, site: Site) -> None:
    person = Visitor(browser, javascript=False)
    try:
        page, log = person.open(site.owner_url)
        assert site.zone in page.locator("#zone-note").inner_text()
        first = page.locator("ol.sessions time").first
        start = datetime.fromisoformat(first.get_attribute("data-start"))
        assert f"{start.astimezone(ZoneInfo(site.zone)):%H:%M}–" in first.inner_text()
        assert not page.locator("#copy-address").is_visible()  # copying needs the script
        google = page.locator("#google-add").inner_text()
        assert google == "Open Google Calendar’s “From URL” page"
        assert page.locator("#feed-url").input_value() == site.owner_ics
        assert page.locator("#apple-subscribe").get_attribute("href") == site.webcal
        assert log.clean
    finally:
        person.close()


def test_phone_layout_in_dark_mode_is_accessible_and_fits(visitor: Visitor, site: Site) -> None:
    page, log = visitor.open(site.owner_url, viewport=PHONE, color_scheme="dark", axe=True)
    assert axe_violations(page) == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert log.clean
    page.close()


def test_screenshots_at_phone_and_desktop_widths(browser: Any, site: Site) -> None:
    person = Visitor(browser, timezone_id="Europe/London")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        for name, viewport in (("phone", PHONE), ("desktop", {"width": 1280, "height": 900})):
            page, log = person.open(site.screenshot_url, viewport=viewport, axe=name == "phone")
            if name == "phone":
                assert axe_violations(page) == []
                assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
            path = SCREENSHOTS / f"subscribe-{name}.png"
            page.screenshot(path=str(path))
            assert path.stat().st_size > 10_000
            assert log.clean
    finally:
        person.close()


# -- share links ---------------------------------------------------------------------------


def test_share_page_shows_no_management(visitor: Visitor, site: Site) -> None:
    page, log = visitor.open(site.busy_url, axe=True)
    assert "Busy times only" in page.locator("#shared-scope").inner_text()
    assert page.locator("#shares").count() == 0
    assert page.locator("form").count() == 0
    assert page.locator("a.join").count() == 0
    titles = {" ".join(t.split()) for t in page.locator("ol.sessions h3").all_inner_texts()}
    assert titles <= {"Busy", "Busy Cancelled"}
    assert axe_violations(page) == []
    assert log.clean
    page.close()


def test_owner_creates_and_revokes_a_share_link(visitor: Visitor, site: Site) -> None:
    page, log = visitor.open(site.owner_url)
    page.get_by_label("Titles and times, no join links").check()
    page.get_by_role("button", name="Create share link").click()
    panel = page.locator("#new-share")
    panel.wait_for()
    share_id = panel.get_attribute("data-share-id")
    share_url = page.locator("#new-share-page").input_value()
    assert share_url.startswith(f"{site.demo.url}/f/")

    shared, _ = visitor.open(share_url)
    assert "no join links" in shared.locator("#shared-scope").inner_text()
    assert shared.locator("#shares").count() == 0

    page.goto(site.owner_url)
    assert share_url not in page.content()  # shown once: only its hash is stored
    row = page.locator(f"tr[data-share-id='{share_id}']")
    row.get_by_role("button", name=f"Revoke link #{share_id}").click()
    page.locator("#flash").wait_for()
    assert f"Share link #{share_id} is revoked" in page.locator("#flash").inner_text()
    assert "Revoked" in page.locator(f"tr[data-share-id='{share_id}']").inner_text()
    response = shared.goto(share_url)
    assert response is not None and response.status == 410
    assert "revoked" in shared.locator("p.lead").inner_text()
    assert log.clean
    page.close()
    shared.close()


# -- join refusal pages --------------------------------------------------------------------


def test_join_refusal_pages_render(visitor: Visitor, site: Site) -> None:
    page, _ = visitor.open(site.owner_url, viewport=PHONE, axe=True)
    session_item(page, UNLINKED_TITLE).locator("a.join").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "No meeting link yet"
    assert axe_violations(page) == []

    signer = site.services.signer
    owner_feed = site.services.store.feed(site.owner_id)
    owner, generation = owner_feed.owner, owner_feed.generation
    page.goto(site.owner_url)
    cancelled = session_item(page, CANCELLED_TITLE)
    assert cancelled.locator("a.join").count() == 0
    cancelled_uid = cancelled.get_attribute("data-uid")
    expired, _ = site.services.store.create_share(
        site.owner_id, "full", datetime.now(UTC) - timedelta(hours=1)
    )
    cases = {
        f"/j/{signer.sign(owner, cancelled_uid, generation)}": (410, "This session was cancelled"),
        f"/j/{signer.sign(owner, 'tagmango-gone@127.0.0.1', generation)}": (
            404,
            "This session is no longer in the calendar",
        ),
        f"/j/{signer.sign(expired.owner, cancelled_uid, expired.generation)}": (
            410,
            "Link no longer works",
        ),
        "/j/forged-token.not-signed-by-us": (400, "This join link is not valid"),
    }
    for path, (status, title) in cases.items():
        response = page.goto(site.demo.url + path)
        assert response is not None and response.status == status, path
        assert page.locator("h1").inner_text() == title
        assert page.locator("link[rel=stylesheet]").get_attribute("href") == (
            "/static/calbridge.css"
        )
    page.close()
