"""The user's CalDAV calendar, as a push sees it: conditional PUT, DELETE and GET of objects.

Built on the `caldav` library's `DAVClient` (it negotiates Basic or Digest authentication
from the server's challenge, and keeps one HTTP connection for the whole push). Only the
object requests a push needs are sent; each is counted in `sent` by method.

Whatever stops a whole push is raised as `RemoteFailure` with one clear sentence: a login
the server refuses (401/403), a server that cannot be reached or does not answer within the
timeout, one that answers with a server error or asks to slow down, or a calendar URL that
holds no collection. Other answers are returned as a `Reply` for the pusher to judge.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from caldav import DAVClient
from caldav.lib.error import AuthorizationError, DAVError
from icalendar import Calendar

# Seconds to wait for the server to connect or answer one request.
REMOTE_TIMEOUT = 20.0
CALENDAR_TYPE = "text/calendar; charset=utf-8"


class RemoteFailure(Exception):
    """The push cannot go on; `reason` names the kind (auth, unreachable, server, url)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Reply:
    status: int
    etag: str | None = None
    body: bytes = b""


def object_href(collection_url: str, uid: str) -> str:
    """Where calbridge puts the event with this UID: a name derived from the UID alone (so a
    push that was cut short finds its own objects again), safe in any server's paths."""
    return f"{collection_url}calbridge-{hashlib.sha256(uid.encode()).hexdigest()[:40]}.ics"


def holds_uid(body: bytes, uid: str) -> bool:
    """Whether a calendar object (as GET returned it) is the event with this UID."""
    try:
        calendar = Calendar.from_ical(body)
    except (ValueError, IndexError, KeyError):
        return False
    return any(str(component.get("UID", "")) == uid for component in calendar.walk("VEVENT"))


class Remote(Protocol):
    """What the pusher needs of a calendar (tests may pass their own)."""

    url: str
    sent: Counter[str]

    def href_for(self, uid: str) -> str: ...
    def put(self, href: str, data: bytes, *, if_match: str | None = None) -> Reply: ...
    def create(self, href: str, data: bytes) -> Reply: ...
    def delete(self, href: str, *, if_match: str | None = None) -> Reply: ...
    def get(self, href: str) -> Reply: ...
    def close(self) -> None: ...


@dataclass
class CalDavRemote:
    """A calendar collection at `url` (ending in "/"), reached with caldav's DAVClient."""

    url: str
    username: str
    password: str = field(repr=False)
    timeout: float = REMOTE_TIMEOUT
    sent: Counter[str] = field(default_factory=Counter)
    _client: DAVClient | None = field(default=None, repr=False)

    def href_for(self, uid: str) -> str:
        return object_href(self.url, uid)

    def create(self, href: str, data: bytes) -> Reply:
        """PUT a new object; 412 when something is at `href` already."""
        return self._request("PUT", href, data, {"If-None-Match": "*"})

    def put(self, href: str, data: bytes, *, if_match: str | None = None) -> Reply:
        """Replace an object; 412 when its ETag is no longer `if_match` (when given)."""
        return self._request("PUT", href, data, {"If-Match": if_match} if if_match else {})

    def delete(self, href: str, *, if_match: str | None = None) -> Reply:
        return self._request("DELETE", href, b"", {"If-Match": if_match} if if_match else {})

    def get(self, href: str) -> Reply:
        return self._request("GET", href, b"", {})

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connected(self) -> DAVClient:
        if self._client is None:
            self._client = DAVClient(
                url=self.url,
                username=self.username,
                password=self.password,
                timeout=self.timeout,
            )
        return self._client

    def _request(self, method: str, href: str, body: bytes, headers: dict[str, str]) -> Reply:
        if method == "PUT":
            headers = {**headers, "Content-Type": CALENDAR_TYPE}
        self.sent[method] += 1
        try:
            response = self._connected().request(href, method, body, headers)
        except AuthorizationError as error:
            status = getattr(error, "status", None) or 401
            raise RemoteFailure("auth", self._refused(status)) from None
        except DAVError as error:  # a 429 or 503 with Retry-After (RateLimitError), and such
            raise RemoteFailure(
                "server", f"the CalDAV server at {self.url} refused {method}: {error}"
            ) from None
        except OSError as error:  # connection refused, timeouts, TLS, DNS (niquests/requests)
            raise RemoteFailure("unreachable", self._unreachable(error)) from None
        status = int(response.status)
        if status in (401, 403):
            raise RemoteFailure("auth", self._refused(status))
        if status >= 500 or status == 429:
            raise RemoteFailure(
                "server",
                f"the CalDAV server at {self.url} answered {method} with HTTP {status}",
            )
        if status in (404, 405, 409) and method == "PUT" and "If-Match" not in headers:
            raise RemoteFailure(
                "url",
                f"{self.url} is not a calendar the server lets us write to (PUT answered HTTP "
                f"{status}): give the calendar's own collection URL",
            )
        etag = response.headers.get("ETag")
        raw = response.raw if method == "GET" else b""
        return Reply(status, etag, raw.encode() if isinstance(raw, str) else bytes(raw or b""))

    def _refused(self, status: int) -> str:
        if status == 403:
            return (
                f"the CalDAV server at {self.url} does not let {self.username} write to this "
                "calendar (HTTP 403)"
            )
        return (
            f"the CalDAV server at {self.url} refused the login of {self.username} (HTTP 401): "
            "check the username and password"
        )

    def _unreachable(self, error: OSError) -> str:
        text = str(error)
        if "timed out" in text.lower() or "timeout" in type(error).__name__.lower():
            why = f"no answer within {self.timeout:g} s"
        elif "refused" in text.lower():
            why = "connection refused"
        else:
            why = text.splitlines()[0][:200] if text else type(error).__name__
        return f"could not reach the CalDAV server at {self.url}: {why}"


def open_remote(url: str, username: str, password: str, timeout: float) -> Remote:
    """The default remote factory of the pusher."""
    return CalDavRemote(url, username, password, timeout)
