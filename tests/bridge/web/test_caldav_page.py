"""The subscribe page shows the CalDAV login of its feed or share link, and gives a feed made
before CalDAV its password."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, update

from bridge import operations
from bridge.store.tables import FeedTable
from tests.bridge.web.caldav_support import Dav, login_of
from tests.web_support import make_harness, token_of


def test_the_page_shows_the_login_that_works(tmp_path: Path) -> None:
    harness = make_harness(tmp_path)
    user, password = login_of(f"f{harness.feed_id}", harness.token)
    page = harness.page()
    assert page.get_element_by_id("caldav-username").text == user
    assert page.get_element_by_id("caldav-password").text == password
    assert page.get_element_by_id("caldav-server").text == "https://cal.example.org/"
    assert page.get_element_by_id("caldav-url").text.endswith(f"/dav/calendars/{user}/sessions/")
    steps = page.get_element_by_id("caldav").text_content()
    for client in ("Apple Calendar on a Mac", "iPhone", "Thunderbird", "DAVx5"):
        assert client in steps
    share = operations.share_feed(harness.services, harness.feed_id, scope="busy")
    share_page = harness.page(token_of(share.links.ics_url))
    assert share_page.get_element_by_id("caldav-username").text == share.login.caldav_username
    assert share_page.get_element_by_id("caldav-password").text == share.login.caldav_password


def test_a_feed_from_before_caldav_gets_its_password_from_its_page(tmp_path: Path) -> None:
    harness = make_harness(tmp_path)
    engine = create_engine(harness.services.settings.database_url)
    with engine.begin() as db:  # as migration 0007 leaves an existing feed
        db.execute(update(FeedTable).values(caldav_password_hash=None))
    engine.dispose()
    dav = Dav(harness.client, *login_of(f"f{harness.feed_id}", harness.token))
    assert dav.request("PROPFIND", "/dav/", Depth="0").status_code == 401
    harness.page()
    assert dav.request("PROPFIND", "/dav/", Depth="0").status_code == 207
