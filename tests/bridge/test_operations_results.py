"""bridge.operations' results: their JSON is the admin API's and `--json`'s, key for key and
in this order (scripts read it; the CLI prints it as is)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bridge.links import CalDavLogin, FeedLinks
from bridge.operations import (
    FeedCreated,
    FeedDetails,
    FeedInfo,
    ShareCreated,
    ShareInfo,
    SourceInfo,
    SourceWebhooks,
)
from feeds.model import Scope, SourceKind

CREATED = datetime(2027, 1, 4, 9, 30, tzinfo=UTC)
FEED = FeedInfo(
    id=3,
    name="Workshops",
    sources=("mango",),
    timezone="Europe/Berlin",
    history_days=30,
    horizon_days=180,
    user=None,
    mangoes=("m1",),
    alarm_minutes=10,
    created_at=CREATED,
    rotated_at=None,
    revoked_at=None,
)
SHARE = ShareInfo(7, 3, Scope.BUSY, None, None, CREATED)
LINKS = FeedLinks.for_token("https://cal.example.org", "tok")
LOGIN = CalDavLogin("https://cal.example.org/dav/calendars/feed-3/sessions/", "feed-3", "pw")


def test_a_created_feed_is_its_info_then_its_links_then_its_login() -> None:
    assert json.dumps(FeedCreated.of(FEED, LINKS, LOGIN).to_json()) == json.dumps(
        {
            "id": 3,
            "name": "Workshops",
            "sources": ["mango"],
            "timezone": "Europe/Berlin",
            "history_days": 30,
            "horizon_days": 180,
            "user": None,
            "mangoes": ["m1"],
            "alarm_minutes": 10,
            "created_at": "2027-01-04T09:30:00+00:00",
            "rotated_at": None,
            "revoked_at": None,
            "ics_url": "https://cal.example.org/f/tok.ics",
            "webcal_url": "webcal://cal.example.org/f/tok.ics",
            "page_url": "https://cal.example.org/f/tok",
            "caldav_url": "https://cal.example.org/dav/calendars/feed-3/sessions/",
            "caldav_username": "feed-3",
            "caldav_password": "pw",
        }
    )


def test_a_shown_feed_nests_its_shares_and_lists_its_warnings() -> None:
    shown = FeedDetails.of(FEED, (SHARE,), ("too big",)).to_json()
    assert list(shown)[-2:] == ["shares", "warnings"] and shown["warnings"] == ["too big"]
    assert shown["shares"] == [
        {
            "id": 7,
            "feed_id": 3,
            "scope": "busy",
            "expires_at": None,
            "revoked_at": None,
            "created_at": "2027-01-04T09:30:00+00:00",
        }
    ]
    created = ShareCreated.of(SHARE, LINKS, LOGIN).to_json()
    assert list(created) == [*SHARE.to_json(), *vars(LINKS), *vars(LOGIN)]


def test_a_source_spreads_its_settings_and_adds_its_webhook_url_once_it_has_one() -> None:
    settings = {"whitelabel_host": "demo.example.org", "mangoes": [], "user": None}
    plain = SourceInfo(1, "mango", SourceKind.TAGMANGO, settings)
    assert json.dumps(plain.to_json()) == json.dumps(
        {"id": 1, "name": "mango", "kind": "tagmango", **settings}
    )
    hooked = SourceWebhooks.of(
        SourceInfo(1, "mango", SourceKind.TAGMANGO, settings, "https://h"), ("webinar.a",)
    )
    assert list(hooked.to_json())[-2:] == ["webhook_url", "registered"]
    assert hooked.to_json()["registered"] == ["webinar.a"]
