"""A fake TrainerCentral academy: `GET /api/v4/<orgId>/talks.json` with real behaviour.

It answers the documented shape (`sessions`, `talks`, `sessionMembers`, `meta`, every value a
string, times in epoch ms), checks `Authorization: Zoho-oauthtoken <token>` (or `Bearer`)
against a `ZohoAccountsSimulator`'s live tokens, knows its org id, filters 1 (the caller's
sessions) and 5 (academy-wide, admins only), and pages with `limit`/`si`. What the docs leave
open is a setting, so clients can be tested under every reading: `count_unit` (does
`totalSessionsCount` count sessions or talks), `page_unit` (do `limit`/`si` count sessions or
talks) and `limit_cap` (a server-side maximum for `limit`).

Python controls: `latency`, `fail_next` (500, 400, 429, 401, timeouts, truncated JSON, expiring
the presented token), `corrupt_talk`, data changes (`retitle`, `move`, `cancel`, `remove`,
`add_talk`, `add_session`), `on_request` (a hook to change data mid-run) and `requests`.
The seed (`seed_academy`) is deterministic for a given `now`.

Upstream glitches (answers that look valid but are wrong):
`fail_next("contradictory_empty", times=N)` answers N requests with the real
`meta.totalSessionsCount` but no sessions or talks; `corrupt_talk(id)` makes one talk
unreadable; `hide_talks(ids)` leaves talks out of every answer, as if deleted;
`clear_glitches()` undoes the last two and drops every queued fault.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from werkzeug.wrappers import Request, Response

from bridge.simulator.trainercentral_roster import (
    PORTAL_MEMBERS,
    portal_members_page,
    seed_learners,
)
from bridge.simulator.trainercentral_seed import SimMember, SimSession, SimTalk, seed_academy
from bridge.simulator.zoho import SimClock, ZohoAccountsSimulator

__all__ = [
    "FAULTS",
    "LoggedRequest",
    "SimMember",
    "SimSession",
    "SimTalk",
    "TrainerCentralSimulator",
    "seed_academy",
]

Unit = Literal["sessions", "talks"]
FAULTS = (
    "server_error",
    "bad_request",
    "too_many_requests",
    "unauthorized",
    "timeout",
    "truncated",
    "expire_token",
    "contradictory_empty",
)
DEFAULT_ORG_ID = "100000000"
DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    params: dict[str, str]
    authorization: str | None
    status: int


@dataclass
class _Fault:
    kind: str
    times: int
    after: int


@dataclass
class _State:
    sessions: dict[str, SimSession] = field(default_factory=dict)
    talks: dict[str, SimTalk] = field(default_factory=dict)


class TrainerCentralSimulator:
    """WSGI app serving one academy's talks.json; see the module docstring for the controls."""

    def __init__(
        self,
        accounts: ZohoAccountsSimulator | None = None,
        *,
        org_id: str = DEFAULT_ORG_ID,
        now: datetime | None = None,
        clock: SimClock | None = None,
        seed: bool = True,
        count_unit: Unit = "sessions",
        page_unit: Unit = "sessions",
        limit_cap: int | None = None,
        static_tokens: Iterable[str] = (),
        admins: Iterable[str] = (ZohoAccountsSimulator.DEFAULT_USER_ID,),
    ) -> None:
        self.accounts = accounts
        self.org_id = org_id
        self.clock = clock or SimClock(now)
        self.count_unit: Unit = count_unit
        self.page_unit: Unit = page_unit
        self.limit_cap = limit_cap
        self.latency = 0.0
        self.timeout_delay = 3.0
        self.admins = set(admins)
        # Fixed tokens (the "access token only" configuration) act as the default user.
        self.static_tokens = set(static_tokens)
        self.on_request: Callable[[int], None] | None = None
        self.requests: list[LoggedRequest] = []
        self._faults: list[_Fault] = []
        self._hidden: set[str] = set()
        self._served = 0
        self._last_token: str | None = None
        self._lock = threading.RLock()
        self._state = _State()
        # portalMembers.json (bridge.simulator.trainercentral_roster); False: it answers 404.
        self.learners = seed_learners() if seed else []
        self.portal_members_enabled = True
        if seed:
            sessions, talks = seed_academy(self.clock.now())
            self._state.sessions = {s.id: s for s in sessions}
            self._state.talks = {t.id: t for t in talks}

    # -- reading the data (what a correct client must end up with) -----------------------

    def session(self, session_id: str) -> SimSession:
        with self._lock:
            return self._state.sessions[session_id]

    def talk(self, talk_id: str) -> SimTalk:
        with self._lock:
            return self._state.talks[talk_id]

    def upcoming_talks(self, filter_type: str = "5", user_id: str | None = None) -> list[SimTalk]:
        """The talks a talks.json walk with this filter (and user) lists, in listing order."""
        with self._lock:
            user = user_id or ZohoAccountsSimulator.DEFAULT_USER_ID
            return self._listing(filter_type, user)[1]

    # -- changing the data --------------------------------------------------------------

    def retitle(self, talk_id: str, name: str) -> None:
        self._update_talk(talk_id, name=name)

    def move(self, talk_id: str, start: datetime, end: datetime) -> None:
        self._update_talk(talk_id, start=start, end=end)

    def cancel(self, talk_id: str, *, via: Literal["isCancelled", "deletedTime"] = "isCancelled"):
        if via == "isCancelled":
            self._update_talk(talk_id, cancelled=True)
        else:
            self._update_talk(talk_id, deleted_at=self.clock.now())

    def cancel_session(self, session_id: str) -> None:
        with self._lock:
            self._state.sessions[session_id] = replace(
                self._state.sessions[session_id], cancelled=True
            )

    def remove(self, talk_id: str) -> None:
        with self._lock:
            del self._state.talks[talk_id]

    def corrupt_talk(self, talk_id: str | None = None) -> str:
        """Make one talk malformed (an unreadable scheduledTime); returns its id."""
        with self._lock:
            if talk_id is None:
                talk_id = self._listing("5", None)[1][len(self._state.talks) // 3].id
            self._update_talk(talk_id, malformed=True)
            return talk_id

    def hide_talks(self, talk_ids: Iterable[str]) -> None:
        """Leave these talks out of every answer until `clear_glitches()`."""
        with self._lock:
            self._hidden.update(talk_ids)

    def clear_glitches(self) -> None:
        """Show hidden talks, repair corrupted ones and drop every queued fault."""
        with self._lock:
            self._hidden.clear()
            self._faults.clear()
            for talk in list(self._state.talks.values()):
                if talk.malformed:
                    self._update_talk(talk.id, malformed=False)

    def add_session(self, session: SimSession) -> None:
        with self._lock:
            self._state.sessions[session.id] = session

    def add_talk(self, talk: SimTalk) -> None:
        with self._lock:
            if talk.session_id not in self._state.sessions:
                raise KeyError(f"no session {talk.session_id}")
            self._state.talks[talk.id] = talk

    def _update_talk(self, talk_id: str, **changes: Any) -> None:
        with self._lock:
            self._state.talks[talk_id] = replace(self._state.talks[talk_id], **changes)

    # -- faults ---------------------------------------------------------------------------

    def fail_next(self, kind: str, *, times: int = 1, after: int = 0) -> None:
        """Make talks.json requests number after+1 … after+times (from now on) fail as `kind`."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; choose from {', '.join(FAULTS)}")
        with self._lock:
            self._faults.append(_Fault(kind, times, after))

    def expire_current_token(self) -> None:
        """Expire, at the accounts server, the access token presented most recently."""
        if self.accounts is not None and self._last_token is not None:
            self.accounts.expire(self._last_token)

    def _take_fault(self) -> str | None:
        with self._lock:
            chosen = None
            for fault in self._faults:
                if fault.after > 0:
                    fault.after -= 1
                elif chosen is None and fault.times > 0:
                    fault.times -= 1
                    chosen = fault.kind
            self._faults = [f for f in self._faults if f.times > 0]
            return chosen

    # -- WSGI -----------------------------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        response = self._handle(request)
        with self._lock:
            self.requests.append(
                LoggedRequest(
                    request.method,
                    request.path,
                    dict(request.args),
                    request.headers.get("Authorization"),
                    response.status_code,
                )
            )
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        listing = parts[3] if len(parts) == 4 else ""
        if listing == PORTAL_MEMBERS and not self.portal_members_enabled:
            listing = ""
        if parts[:2] != ["api", "v4"] or listing not in ("talks.json", PORTAL_MEMBERS):
            return _error(404, "INVALID_URL_PATTERN", "Please check if the URL is correct")
        if request.method != "GET":
            return _error(405, "METHOD_NOT_ALLOWED", "Use GET for talks.json")
        with self._lock:
            self._served += 1
            serial = self._served
        if self.on_request is not None:
            self.on_request(serial)
        if self.latency:
            time.sleep(self.latency)
        fault = self._take_fault()
        token = _bearer(request.headers.get("Authorization", ""))
        self._last_token = token or self._last_token
        if fault == "expire_token" and token and self.accounts is not None:
            self.accounts.expire(token)
        if fault in ("server_error", "too_many_requests", "bad_request", "unauthorized"):
            return {
                "server_error": _error(500, "INTERNAL_ERROR", "Internal server error"),
                "too_many_requests": _error(429, "TOO_MANY_REQUESTS", "Rate limit exceeded"),
                "bad_request": _error(400, "INVALID_DATA", "Invalid request parameters"),
                "unauthorized": _error(401, "INVALID_OAUTHTOKEN", "invalid oauth token"),
            }[fault]
        if fault == "timeout":
            time.sleep(self.timeout_delay)

        user = self._user_for(token)
        if user is None:
            return _error(401, "INVALID_OAUTHTOKEN", "invalid oauth token")
        if parts[2] != self.org_id:
            return _error(404, "INVALID_PORTAL", f"No academy with id {parts[2]}")
        filter_type = request.args.get("filter", "1")
        if filter_type not in ("1", "5"):
            return _error(400, "INVALID_DATA", f"Invalid filter type {filter_type}")
        if filter_type == "5" and user not in self.admins:
            return _error(403, "PERMISSION_DENIED", "Admin role required for filter 5")
        try:
            limit = int(request.args.get("limit", DEFAULT_LIMIT))
            start_index = int(request.args.get("si", 0))
        except ValueError:
            return _error(400, "INVALID_DATA", "limit and si must be integers")
        if limit < 1 or start_index < 0:
            return _error(400, "INVALID_DATA", "limit must be >= 1 and si >= 0")
        if self.limit_cap is not None:
            limit = min(limit, self.limit_cap)
        if listing == PORTAL_MEMBERS:
            status, members = portal_members_page(self.learners, request.args, limit, start_index)
            return Response(json.dumps(members), status=status, mimetype="application/json")

        page = self._page(filter_type, user, start_index, limit)
        if fault == "contradictory_empty":
            page = {**page, "sessions": [], "sessionMembers": [], "talks": []}
        body = json.dumps(page)
        if fault == "truncated":
            body = body[: len(body) // 2]
        return Response(body, status=200, mimetype="application/json")

    def _user_for(self, token: str | None) -> str | None:
        if not token:
            return None
        if token in self.static_tokens:
            return ZohoAccountsSimulator.DEFAULT_USER_ID
        return self.accounts.user_for(token) if self.accounts is not None else None

    # -- listing --------------------------------------------------------------------------

    def _listing(
        self, filter_type: str, user: str | None
    ) -> tuple[list[SimSession], list[SimTalk]]:
        """Upcoming sessions and talks visible to `user`, in listing order (by start)."""
        now = self.clock.now()
        state = self._state
        talks = sorted(
            (
                t
                for t in state.talks.values()
                if t.end > now
                and t.id not in self._hidden
                and t.session_id in state.sessions
                and (filter_type == "5" or state.sessions[t.session_id].runs(user))
            ),
            key=lambda t: (t.start, t.id),
        )
        sessions: dict[str, SimSession] = {}
        for talk in talks:
            sessions.setdefault(talk.session_id, state.sessions[talk.session_id])
        return list(sessions.values()), talks

    def _page(self, filter_type: str, user: str, start_index: int, limit: int) -> dict[str, Any]:
        with self._lock:
            sessions, talks = self._listing(filter_type, user)
            if self.page_unit == "sessions":
                page_sessions = sessions[start_index : start_index + limit]
                ids = {s.id for s in page_sessions}
                page_talks = [t for t in talks if t.session_id in ids]
            else:
                page_talks = talks[start_index : start_index + limit]
                by_id = {s.id: s for s in sessions}
                page_sessions = list(
                    {t.session_id: by_id[t.session_id] for t in page_talks}.values()
                )
            total = len(sessions) if self.count_unit == "sessions" else len(talks)
            first_talk = {}
            for talk in talks:
                first_talk.setdefault(talk.session_id, talk)
            return {
                "sessions": [s.to_json(self.org_id, first_talk[s.id]) for s in page_sessions],
                "sessionMembers": [
                    m.to_json(self.org_id, s.id, n)
                    for s in page_sessions
                    for n, m in enumerate(s.members)
                ],
                "meta": {"totalSessionsCount": str(total)},
                "talks": [
                    t.to_json(self.org_id, self._state.sessions[t.session_id]) for t in page_talks
                ],
                "runningTalks": [],
                "sessionCategories": [],
            }


def _bearer(header: str) -> str | None:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() in ("zoho-oauthtoken", "bearer") and token.strip():
        return token.strip()
    return None


def _error(status: int, code: str, message: str) -> Response:
    return Response(
        json.dumps({"code": code, "message": message}), status=status, mimetype="application/json"
    )
