"""Join links (`/j/<token>`) across the life of their feed's address: bound to the generation of
the token they were published under, so `feed rotate` cuts off the links of the old address
(410, with the refusal page) while the new address's links work; links from before
generations existed; share links; and a feed with no data yet. On the app of
tests/web_support.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import icalendar
import pytest
from lxml import html

from bridge import operations
from bridge.signing import hash_token, new_token
from bridge.store.tables import ShareTable
from tests.ical_validators import validate_feed
from tests.web_support import NOW, Harness, Upstream, default_sessions, make_harness, token_of

WINDOW = {"start": NOW - timedelta(days=7), "end": NOW + timedelta(days=30)}
MORNING_FLOW = "https://meet.example.org/c1"  # the meeting of upstream session "c1"


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


def join_links(harness: Harness, token: str) -> dict[str, str]:
    """The join link path of each event (by UID) in the feed at this token's address."""
    response = harness.client.get(f"/f/{token}.ics")
    assert response.status_code == 200
    validate_feed(response.data, **WINDOW)
    calendar = icalendar.Calendar.from_ical(response.data)
    return {
        str(event["UID"]): urlsplit(str(event["URL"])).path
        for event in calendar.walk("VEVENT")
        if "URL" in event
    }


def morning_flow(links: dict[str, str]) -> str:
    return links["tagmango-c1@cal.example.org"]


def refusal(response: Any, status: int) -> tuple[str, str]:
    """(title, message) of a "link no longer works" style page."""
    assert response.status_code == status
    assert response.mimetype == "text/html"
    page = html.fromstring(response.get_data(as_text=True))
    assert page.xpath("//section[@class='message card']/@data-status") == [str(status)]
    lead = page.xpath("//p[@class='lead']")[0]
    return page.xpath("//h1")[0].text_content().strip(), " ".join(lead.text_content().split())


def assert_redirects_to_the_meeting(harness: Harness, path: str) -> None:
    response = harness.client.get(path)
    assert response.status_code == 302 and response.headers["Location"] == MORNING_FLOW


def assert_cut_off_by_rotation(harness: Harness, path: str) -> None:
    title, message = refusal(harness.client.get(path), 410)
    assert title == "Link no longer works"
    assert "address of this calendar was changed" in message
    assert "Use the Join link in the updated calendar" in message


def legacy_link(harness: Harness, owner: str, uid: str) -> str:
    """A join link as published before links carried a generation: [owner, uid], signed."""
    signer = harness.services.signer
    return "/j/" + signer._serializer.dumps([owner, uid])


def test_rotation_cuts_off_the_join_links_of_the_old_address(harness: Harness) -> None:
    old = morning_flow(join_links(harness, harness.token))
    assert_redirects_to_the_meeting(harness, old)
    assert (
        join_links(harness, harness.token)["tagmango-c1@cal.example.org"] == old
    )  # same feed, same token, same event: the same link (stable bytes, ETags)

    rotated = operations.rotate_feed(harness.services, harness.feed_id)
    new = morning_flow(join_links(harness, token_of(rotated.links.ics_url)))
    assert new != old
    assert_cut_off_by_rotation(harness, old)
    assert_redirects_to_the_meeting(harness, new)

    again = operations.rotate_feed(harness.services, harness.feed_id)
    assert_cut_off_by_rotation(harness, new)
    assert_redirects_to_the_meeting(
        harness, morning_flow(join_links(harness, token_of(again.links.ics_url)))
    )


def test_a_revoked_feed_says_so_before_anything_about_rotation(harness: Harness) -> None:
    old = morning_flow(join_links(harness, harness.token))
    operations.rotate_feed(harness.services, harness.feed_id)
    operations.revoke_feed(harness.services, harness.feed_id)
    title, message = refusal(harness.client.get(old), 410)
    assert title == "Link no longer works" and "revoked" in message


def test_links_from_before_generations_work_until_the_feed_is_rotated(harness: Harness) -> None:
    feed = harness.services.store.feed(harness.feed_id)
    legacy = legacy_link(harness, feed.owner, "tagmango-c1@cal.example.org")
    assert_redirects_to_the_meeting(harness, legacy)
    operations.rotate_feed(harness.services, harness.feed_id)
    assert_cut_off_by_rotation(harness, legacy)


def test_share_links_keep_their_join_links_when_the_feed_is_rotated(harness: Harness) -> None:
    share = operations.share_feed(harness.services, harness.feed_id, scope="full")
    share_token = token_of(share.links.ics_url)
    shared = morning_flow(join_links(harness, share_token))
    assert shared != morning_flow(join_links(harness, harness.token))
    legacy = legacy_link(harness, f"s{share.id}", "tagmango-c1@cal.example.org")

    # The share link's own address still works after the feed's rotation, and so do the join
    # links it published (its subscribers did nothing wrong).
    operations.rotate_feed(harness.services, harness.feed_id)
    assert morning_flow(join_links(harness, share_token)) == shared
    assert_redirects_to_the_meeting(harness, shared)
    assert_redirects_to_the_meeting(harness, legacy)


def test_share_join_links_are_bound_to_the_share_links_own_token(harness: Harness) -> None:
    share = operations.share_feed(harness.services, harness.feed_id, scope="full")
    shared = morning_flow(join_links(harness, token_of(share.links.ics_url)))
    # Share links can't be rotated (yet): give this one a new token as a rotation would.
    replacement = new_token()
    with harness.services.store._write() as db:
        db.get(ShareTable, share.id).token_hash = hash_token(replacement)
    assert_cut_off_by_rotation(harness, shared)
    assert_redirects_to_the_meeting(harness, morning_flow(join_links(harness, replacement)))


def test_a_feed_without_data_yet_answers_503_with_retry_after(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, Upstream(default_sessions(), failing=True))
    feed = harness.services.store.feed(harness.feed_id)
    signer = harness.services.signer
    path = "/j/" + signer.sign(feed.owner, "tagmango-c1@cal.example.org", feed.generation)
    response = harness.client.get(path)
    title, message = refusal(response, 503)
    assert title == "This calendar has no data yet" and "connection refused" in message
    assert response.headers["Retry-After"] == "60"
