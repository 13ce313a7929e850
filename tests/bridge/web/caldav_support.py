"""Helpers for CalDAV tests: Basic logins, PROPFIND/REPORT bodies and multistatus reading."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from flask.testing import FlaskClient
from lxml import etree

from bridge.signing import caldav_password

NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "CS": "http://calendarserver.org/ns/"}


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def login_of(owner: str, token: str) -> tuple[str, str]:
    """The username and password of a feed ("f12") or share ("s3") with `token`."""
    kind = "feed" if owner.startswith("f") else "share"
    return f"{kind}-{owner[1:]}", caldav_password(token)


def propfind_body(*props: str) -> str:
    inner = "".join(f"<{p}/>" for p in props)
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<D:propfind xmlns:D="DAV:" xmlns:C="{NS["C"]}" xmlns:CS="{NS["CS"]}">'
        f"<D:prop>{inner}</D:prop></D:propfind>"
    )


def sync_body(token: str = "", *props: str) -> str:
    inner = "".join(f"<{p}/>" for p in props or ("D:getetag",))
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>"
        f"<D:prop>{inner}</D:prop></D:sync-collection>"
    )


@dataclass
class Multistatus:
    root: etree._Element

    @classmethod
    def of(cls, body: bytes) -> Multistatus:
        return cls(etree.fromstring(body))

    def hrefs(self) -> list[str]:
        return [r.findtext("D:href", namespaces=NS) for r in self.root.findall("D:response", NS)]

    def found(self, href: str, prop: str) -> etree._Element | None:
        """The value element of `prop` (e.g. "D:getetag") in the 200 propstat of `href`."""
        for response in self.root.findall("D:response", NS):
            if response.findtext("D:href", namespaces=NS) != href:
                continue
            for propstat in response.findall("D:propstat", NS):
                if "200" in (propstat.findtext("D:status", namespaces=NS) or ""):
                    return propstat.find(f"D:prop/{prop}", NS)
        return None

    def text(self, href: str, prop: str) -> str | None:
        value = self.found(href, prop)
        return None if value is None else (value.text or "")

    def status_of(self, href: str) -> str | None:
        """The response-level status of `href` (set for removed members)."""
        for response in self.root.findall("D:response", NS):
            if response.findtext("D:href", namespaces=NS) == href:
                return response.findtext("D:status", namespaces=NS)
        return None

    def sync_token(self) -> str | None:
        return self.root.findtext("D:sync-token", namespaces=NS)


class Dav:
    """A FlaskClient logged in as one CalDAV user."""

    def __init__(self, client: FlaskClient, user: str, password: str) -> None:
        self.client, self.user, self.headers = client, user, basic(user, password)

    @property
    def calendar(self) -> str:
        return f"/dav/calendars/{self.user}/sessions/"

    def request(self, method: str, path: str, body: str | bytes = b"", **headers: str):
        return self.client.open(path, method=method, data=body, headers={**self.headers, **headers})

    def propfind(self, path: str, *props: str, depth: str = "0") -> Multistatus:
        answer = self.request("PROPFIND", path, propfind_body(*props), Depth=depth)
        assert answer.status_code == 207, answer.get_data(as_text=True)
        return Multistatus.of(answer.data)

    def report(self, body: str, path: str | None = None, depth: str = "1") -> Multistatus:
        answer = self.request("REPORT", path or self.calendar, body, Depth=depth)
        assert answer.status_code == 207, answer.get_data(as_text=True)
        return Multistatus.of(answer.data)

    def etags(self) -> dict[str, str]:
        listing = self.propfind(self.calendar, "D:getetag", depth="1")
        return {
            href: listing.text(href, "D:getetag") or ""
            for href in listing.hrefs()
            if href != self.calendar
        }
