"""`calbridge feed rotate` as an operator runs it against `calbridge serve`: the join links of the
old address answer 410 with the "link no longer works" page, the new address publishes new join
links that redirect to the meeting, and a share link of the feed keeps its own working links."""

from __future__ import annotations

import functools
from typing import Any

import httpx
import icalendar
from lxml import html

from tests.e2e.conftest import add_sources, create_feed, feed_window
from tests.ical_validators import validate_feed

get = functools.partial(httpx.get, timeout=120)


def join_links(ics_url: str) -> dict[str, str]:
    """The join link of each event (by UID) in the feed at this address, checked first."""
    response = get(ics_url)
    assert response.status_code == 200
    validate_feed(response.content, start=feed_window()[0], end=feed_window()[1])
    calendar = icalendar.Calendar.from_ical(response.content)
    return {str(e["UID"]): str(e["URL"]) for e in calendar.walk("VEVENT") if "URL" in e}


def redirects(links: dict[str, str]) -> dict[str, str]:
    """The meeting each link of these that works leads to, by UID."""
    answers = {uid: get(link) for uid, link in links.items()}
    return {uid: a.headers["location"] for uid, a in answers.items() if a.status_code == 302}


def refusal_page(response: httpx.Response) -> dict[str, Any]:
    page = html.fromstring(response.text)
    return {
        "status": response.status_code,
        "title": page.xpath("string(//h1)").strip(),
        "message": " ".join(page.xpath("string(//p[@class='lead'])").split()),
    }


def test_rotation_cuts_off_old_join_links_and_keeps_the_share_links(
    upstream, bridge_env, server
) -> None:
    simulators, sim = upstream
    add_sources(bridge_env, simulators, sim.url)
    feed = create_feed(bridge_env)
    share = bridge_env.cli_json("feed", "share", str(feed["id"]), "--scope", "full")
    server.start()

    old_links = join_links(feed["ics_url"])
    meetings = redirects(old_links)
    assert len(meetings) >= 3
    share_links = join_links(share["ics_url"])
    assert redirects({uid: share_links[uid] for uid in meetings}) == meetings

    rotated = bridge_env.cli_json("feed", "rotate", str(feed["id"]))
    assert get(feed["ics_url"]).status_code == 404
    new_links = join_links(rotated["ics_url"])
    assert redirects({uid: new_links[uid] for uid in meetings}) == meetings
    for uid in meetings:
        assert new_links[uid] != old_links[uid]
        refused = get(old_links[uid])
        assert refused.headers["content-type"].startswith("text/html")
        assert refusal_page(refused) == {
            "status": 410,
            "title": "Link no longer works",
            "message": "The address of this calendar was changed, so the join links of its old "
            "address no longer work. Use the Join link in the updated calendar.",
        }

    # The share link is an address of its own: the feed's rotation leaves it and its links be.
    assert join_links(share["ics_url"]) == share_links
    assert redirects({uid: share_links[uid] for uid in meetings}) == meetings
