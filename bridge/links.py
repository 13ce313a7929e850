"""The public addresses of a feed or share token: the calendar, its webcal twin, its page,
and its CalDAV login."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.caldav.resources import calendar_path, username
from bridge.signing import caldav_password


@dataclass(frozen=True)
class FeedLinks:
    ics_url: str  # what Google, Outlook and Thunderbird fetch
    webcal_url: str  # the same address as webcal://, which Apple Calendar subscribes to
    page_url: str  # the subscribe page

    @classmethod
    def for_token(cls, public_url: str, token: str) -> FeedLinks:
        ics = f"{public_url}/f/{token}.ics"
        return cls(ics, "webcal://" + ics.split("://", 1)[1], f"{public_url}/f/{token}")


@dataclass(frozen=True)
class CalDavLogin:
    """What a CalDAV client needs for a feed or share link: its calendar collection, and the
    username and password to log in with (the server's own address also works for clients
    that discover the calendar, such as Apple Calendar and DAVx5)."""

    caldav_url: str
    caldav_username: str
    caldav_password: str

    @classmethod
    def for_token(cls, public_url: str, token: str, owner: str) -> CalDavLogin:
        user = username(owner)
        return cls(f"{public_url}{calendar_path(user)}", user, caldav_password(token))
