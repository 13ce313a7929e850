"""Every address calbridge hands out for a feed or share token: the calendar, its webcal twin
and its page (`FeedLinks`), each calendar app's subscribe link (`ClientLinks`), single-event
downloads, the signed join links inside the feed (`JoinLinks`) and the CalDAV login
(`CalDavLogin`)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from bridge.caldav.resources import calendar_path, username
from bridge.signing import JoinSigner, caldav_password

GOOGLE_ADD_BY_URL = "https://calendar.google.com/calendar/r/settings/addbyurl"
GOOGLE_ONE_CLICK = "https://calendar.google.com/calendar/r?cid="
OUTLOOK_COM_ADD = "https://outlook.live.com/calendar/0/addfromweb"
MICROSOFT_365_ADD = "https://outlook.office.com/calendar/0/addfromweb"


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


def encoded(value: str) -> str:
    """Percent-encode a whole value for a query string (only A-Z a-z 0-9 _.-~ stay as is)."""
    return quote(value, safe="")


@dataclass(frozen=True)
class ClientLinks:
    """Every subscribe target for one calendar address."""

    ics_url: str  # the feed over http(s): what Google, Outlook and Thunderbird fetch
    webcal_url: str  # the same address with webcal://: Apple Calendar and iOS subscribe to it
    download_url: str
    google_add_by_url: str
    google_one_click: str
    outlook_com: str
    microsoft_365: str

    @classmethod
    def for_token(cls, public_url: str, token: str, name: str) -> ClientLinks:
        links = FeedLinks.for_token(public_url, token)
        ics, webcal = links.ics_url, links.webcal_url
        add_from_web = f"?url={encoded(ics)}&name={encoded(name)}"
        return cls(
            ics_url=ics,
            webcal_url=webcal,
            download_url=f"{ics}?download=1",
            google_add_by_url=GOOGLE_ADD_BY_URL,
            # Recent reports found an encoded https address works best here
            # (docs/client-compatibility.md, *Subscribe links*).
            google_one_click=GOOGLE_ONE_CLICK + encoded(ics),
            outlook_com=OUTLOOK_COM_ADD + add_from_web,
            microsoft_365=MICROSOFT_365_ADD + add_from_web,
        )


def event_download_url(public_url: str, token: str, uid: str) -> str:
    """The single-event .ics address of event `uid` (its UID percent-encoded as one segment)."""
    return f"{public_url}/f/{token}/events/{encoded(uid)}.ics"


@dataclass(frozen=True)
class JoinLinks:
    """The signed join links of one feed view. Equal for the same view, token generation and
    signer, so the per-event render cache of `feeds.ical` is reused from one render of the feed
    to the next; a rotated token makes other links (and so other events)."""

    signer: JoinSigner
    public_url: str
    owner: str
    generation: str

    def __call__(self, uid: str) -> str:
        return f"{self.public_url}/j/{self.signer.sign(self.owner, uid, self.generation)}"
