"""The CalDAV resources one login sees, and their WebDAV properties.

A login is a feed ("feed-12") or a share link ("share-3") with its CalDAV password. It sees:

    /dav/                                  the service root (discovery starts here)
    /dav/principals/<user>/                its principal
    /dav/calendars/<user>/                 its calendar home
    /dav/calendars/<user>/sessions/        its one calendar: the feed, as the login's scope shows it
    /dav/calendars/<user>/sessions/<uid>.ics   one object per UID (feeds.calendar_objects)

`Calendar` is read once per request: the view's objects (cached with the rendered feed) and
the collection's sync number, recorded against them (bridge.store.caldav_queries), so every
ETag, ctag and sync token in one answer belongs to the same state.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from lxml import etree

from bridge.feed_views import FeedView
from feeds.calendar_objects import CalendarListing, CalendarObject, timezone_calendar
from feeds.model import Scope

from .xml import APPLE, CALDAV, CALSERVER, DAV, element, href, tag

if TYPE_CHECKING:
    from bridge.services import Services

ROOT = "/dav/"
CALENDAR_NAME = "sessions"
OBJECT_CONTENT_TYPE = "text/calendar; charset=utf-8; component=vevent"
CALENDAR_DATA_TYPE = {"content-type": "text/calendar", "version": "2.0"}
SYNC_TOKEN_PREFIX = "urn:calbridge:sync:"
# Calendar colours clients show for a new subscription, picked by the feed's id.
COLOURS = ("#1E88E5FF", "#43A047FF", "#FB8C00FF", "#8E24AAFF", "#E53935FF", "#00897BFF")

REPORTS = (
    tag(CALDAV, "calendar-query"),
    tag(CALDAV, "calendar-multiget"),
    tag(DAV, "sync-collection"),
)


def username(owner: str) -> str:
    """The CalDAV username of a feed ("f12" → "feed-12") or share link ("s3" → "share-3")."""
    return ("feed-" if owner.startswith("f") else "share-") + owner[1:]


def owner_of(user: str) -> str | None:
    """The owner a username names, or None if it names none."""
    for prefix, kind in (("feed-", "f"), ("share-", "s")):
        if user.startswith(prefix) and user[len(prefix) :].isdigit():
            return kind + str(int(user[len(prefix) :]))
    return None


def principal_path(user: str) -> str:
    return f"{ROOT}principals/{user}/"


def home_path(user: str) -> str:
    return f"{ROOT}calendars/{user}/"


def calendar_path(user: str) -> str:
    return f"{home_path(user)}{CALENDAR_NAME}/"


def object_name(uid: str) -> str:
    return quote(uid, safe="") + ".ics"


def uid_of(name: str) -> str | None:
    return unquote(name[: -len(".ics")]) if name.endswith(".ics") else None


def display_name(view: FeedView) -> str:
    if view.owner.startswith("f"):
        return view.feed.name
    return f"{view.feed.name} ({'busy times' if view.scope is Scope.BUSY else 'shared'})"


@dataclass(frozen=True)
class Calendar:
    """One login's calendar as of this request. Its sync number (and so its ctag and sync
    token) is recorded against its objects only when an answer needs it."""

    user: str
    view: FeedView
    listing: CalendarListing
    record: Callable[[CalendarListing], int] = field(repr=False, compare=False)

    @classmethod
    def read(cls, app: Services, user: str, view: FeedView) -> Calendar:
        """The view's objects (raises FeedUnavailable without data)."""
        return cls(
            user,
            view,
            app.feeds.calendar_objects(view),
            lambda listing: app.store.sync_collection(view.owner, listing, app.clock()),
        )

    @property
    def objects(self) -> dict[str, CalendarObject]:
        return self.listing.objects

    @functools.cached_property
    def sync_number(self) -> int:
        return self.record(self.listing)

    @property
    def path(self) -> str:
        return calendar_path(self.user)

    @property
    def sync_token(self) -> str:
        return self.token_of(self.sync_number)

    def token_of(self, number: int) -> str:
        return f"{SYNC_TOKEN_PREFIX}{self.view.owner}:{number}"

    def sync_number_of(self, token: str) -> int | None:
        """The number a sync token of this collection carries (None: not one of its tokens)."""
        prefix = f"{SYNC_TOKEN_PREFIX}{self.view.owner}:"
        number = token[len(prefix) :]
        if not token.startswith(prefix) or not number.isdigit() or len(number) > 18:
            return None
        return int(number)

    def object_path(self, uid: str) -> str:
        return self.path + object_name(uid)

    def object_at(self, path: str) -> CalendarObject | None:
        if not path.startswith(self.path):
            return None
        uid = uid_of(path[len(self.path) :])
        return None if uid is None else self.objects.get(uid)


# -- properties ------------------------------------------------------------------------------

Property = Callable[[], etree._Element | None]


def _privileges(*names: tuple[str, str]) -> etree._Element:
    return element(
        tag(DAV, "current-user-privilege-set"),
        None,
        *(element(tag(DAV, "privilege"), None, element(tag(ns, n))) for ns, n in names),
    )


_READ_ONLY = ((DAV, "read"), (DAV, "read-current-user-privilege-set"), (CALDAV, "read-free-busy"))


def _resourcetype(*kinds: tuple[str, str]) -> etree._Element:
    return element(tag(DAV, "resourcetype"), None, *(element(tag(ns, n)) for ns, n in kinds))


def root_properties(user: str) -> dict[str, Property]:
    return {
        tag(DAV, "resourcetype"): lambda: _resourcetype((DAV, "collection")),
        tag(DAV, "current-user-principal"): lambda: _href_of("current-user-principal", user),
        tag(DAV, "principal-collection-set"): lambda: element(
            tag(DAV, "principal-collection-set"), None, href(f"{ROOT}principals/")
        ),
    }


def _href_of(name: str, user: str) -> etree._Element:
    return element(tag(DAV, name), None, href(principal_path(user)))


def principal_properties(user: str, view: FeedView) -> dict[str, Property]:
    return {
        tag(DAV, "resourcetype"): lambda: _resourcetype((DAV, "principal")),
        tag(DAV, "displayname"): lambda: element(tag(DAV, "displayname"), display_name(view)),
        tag(DAV, "current-user-principal"): lambda: _href_of("current-user-principal", user),
        tag(DAV, "principal-URL"): lambda: _href_of("principal-URL", user),
        tag(DAV, "owner"): lambda: _href_of("owner", user),
        tag(CALDAV, "calendar-home-set"): lambda: element(
            tag(CALDAV, "calendar-home-set"), None, href(home_path(user))
        ),
        tag(DAV, "current-user-privilege-set"): lambda: _privileges(*_READ_ONLY),
    }


def home_properties(user: str, view: FeedView) -> dict[str, Property]:
    return {
        tag(DAV, "resourcetype"): lambda: _resourcetype((DAV, "collection")),
        tag(DAV, "displayname"): lambda: element(tag(DAV, "displayname"), display_name(view)),
        tag(DAV, "current-user-principal"): lambda: _href_of("current-user-principal", user),
        tag(DAV, "owner"): lambda: _href_of("owner", user),
        tag(DAV, "current-user-privilege-set"): lambda: _privileges(*_READ_ONLY),
    }


def calendar_properties(calendar: Calendar, now: datetime) -> dict[str, Property]:
    view, user = calendar.view, calendar.user
    feed = view.feed

    def timezone() -> etree._Element | None:
        data = timezone_calendar(feed.timezone, now)
        return None if data is None else element(tag(CALDAV, "calendar-timezone"), data.decode())

    def reports() -> etree._Element:
        supported = [
            element(
                tag(DAV, "supported-report"),
                None,
                element(tag(DAV, "report"), None, element(name)),
            )
            for name in REPORTS
        ]
        return element(tag(DAV, "supported-report-set"), None, *supported)

    return {
        tag(DAV, "resourcetype"): lambda: _resourcetype((DAV, "collection"), (CALDAV, "calendar")),
        tag(DAV, "displayname"): lambda: element(tag(DAV, "displayname"), display_name(view)),
        tag(DAV, "current-user-principal"): lambda: _href_of("current-user-principal", user),
        tag(DAV, "owner"): lambda: _href_of("owner", user),
        tag(DAV, "current-user-privilege-set"): lambda: _privileges(*_READ_ONLY),
        tag(DAV, "supported-report-set"): reports,
        tag(DAV, "sync-token"): lambda: element(tag(DAV, "sync-token"), calendar.sync_token),
        tag(CALSERVER, "getctag"): lambda: element(tag(CALSERVER, "getctag"), calendar.sync_token),
        tag(DAV, "getetag"): lambda: element(
            tag(DAV, "getetag"), f'"{_collection_etag(calendar)}"'
        ),
        tag(CALDAV, "supported-calendar-component-set"): lambda: element(
            tag(CALDAV, "supported-calendar-component-set"),
            None,
            etree.Element(tag(CALDAV, "comp"), name="VEVENT"),
        ),
        tag(CALDAV, "supported-calendar-data"): lambda: element(
            tag(CALDAV, "supported-calendar-data"),
            None,
            etree.Element(
                tag(CALDAV, "calendar-data"), {"content-type": "text/calendar", "version": "2.0"}
            ),
        ),
        tag(CALDAV, "calendar-timezone"): timezone,
        tag(CALDAV, "calendar-description"): lambda: element(
            tag(CALDAV, "calendar-description"), f"Live sessions of {feed.name}, read-only"
        ),
        tag(APPLE, "calendar-color"): lambda: element(
            tag(APPLE, "calendar-color"), COLOURS[feed.id % len(COLOURS)]
        ),
        tag(APPLE, "calendar-order"): lambda: element(tag(APPLE, "calendar-order"), "1"),
    }


def _collection_etag(calendar: Calendar) -> str:
    return hashlib.sha256(calendar.sync_token.encode()).hexdigest()[:32]


def object_properties(obj: CalendarObject) -> dict[str, Property]:
    return {
        tag(DAV, "resourcetype"): lambda: element(tag(DAV, "resourcetype")),
        tag(DAV, "getetag"): lambda: element(tag(DAV, "getetag"), f'"{obj.etag}"'),
        tag(DAV, "getcontenttype"): lambda: element(
            tag(DAV, "getcontenttype"), OBJECT_CONTENT_TYPE
        ),
        tag(DAV, "getcontentlength"): lambda: element(
            tag(DAV, "getcontentlength"), str(len(obj.data))
        ),
        tag(CALDAV, "calendar-data"): lambda: element(
            tag(CALDAV, "calendar-data"), obj.data.decode()
        ),
    }


# Properties left out of allprop (RFC 4791 §9.6: calendar-data is returned only when asked).
NOT_IN_ALLPROP = frozenset({tag(CALDAV, "calendar-data"), tag(CALDAV, "calendar-timezone")})
