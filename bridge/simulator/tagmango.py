"""A fake of TagMango's `GET /api/v1/external/workshops/video-calls`, for tests, demo and benches.

It behaves like the documented API: Bearer key bound to an `x-whitelabel-host`, the
documented 400/401/429 bodies, the 120 requests / 10 s budget per key, calls grouped by
date in the `x-timezone-offset` local time, filters (`startDate`/`endDate` on `fromTime`,
`mangoes`, `user`). What the docs leave open is configurable: whether `total` counts calls
or date groups, whether `limit`/`page` count calls or groups, a server-side cap on `limit`,
and the response envelope. Python controls: latency, a queue of faults for the next
requests, data changes, hooks after N requests, and a request log. Registered webhooks get
deliveries when the data changes (`webhooks`, see bridge.simulator.tagmango_hooks).

Upstream glitches (answers that look valid but are wrong), for the tests that calbridge
never publishes cancellations because of them:

* `fail_next(Fault.contradictory_empty())` (queue it N times for N requests): a 200 whose
  `total` still counts the calls but whose `data` is empty, like `{"total": 1, "data": []}`;
* `corrupt_call(call_id, **fields)`: every answer carries these raw JSON values for that call
  (default: `fromTime` as a number, a wrong type), so it cannot be parsed;
* `hide_calls(ids)`: those calls are left out of every answer, as if deleted;
* `clear_glitches()` ends all three (and empties the fault queue).

One module over 400 lines: the endpoint's documented behaviour and its open readings are one
surface that tests switch between; webhooks and the roster live in their own modules.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from werkzeug.wrappers import Request, Response

from bridge.simulator.tagmango_data import (
    CREATOR,
    DEMO_HOST,
    DEMO_KEY,
    MANGOES,
    Mango,
    SimCall,
    iso_ms,
)
from bridge.simulator.tagmango_hooks import REGISTER_PATH, TagMangoWebhooks
from bridge.simulator.tagmango_roster import ROSTER_PREFIX, SimSubscription, TagMangoRosterSim
from bridge.upstream.http import RateBudget

__all__ = [
    "CREATOR",
    "DEMO_HOST",
    "DEMO_KEY",
    "MANGOES",
    "Fault",
    "LoggedRequest",
    "Mango",
    "SimCall",
    "TagMangoSimulator",
    "iso_ms",
]

VIDEO_CALLS_PATH = "/api/v1/external/workshops/video-calls"
UNAUTHORIZED = {
    "code": 401,
    "type": "Unauthorized",
    "statusMessage": "UNAUTHORIZED",
    "message": "Invalid token",
    "success": False,
}
TOO_MANY_REQUESTS = {
    "statusCode": 429,
    "message": "Too many requests, please try again later.",
    "success": False,
}
Count = Literal["calls", "groups"]
Envelope = Literal["bare", "result", "data"]


@dataclass(frozen=True)
class Fault:
    """A fault for one upcoming request; build with the class methods."""

    kind: Literal[
        "status", "too_many", "hang", "truncated", "malformed_record", "contradictory_empty"
    ]
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0
    changes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def error(cls, status: int = 500) -> Fault:
        return cls("status", status=status)

    @classmethod
    def too_many(cls, retry_after: str | None = None) -> Fault:
        return cls("too_many", status=429, retry_after=retry_after)

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Sleep `seconds` before answering normally (longer than the client's read timeout)."""
        return cls("hang", seconds=seconds)

    @classmethod
    def truncated(cls) -> Fault:
        return cls("truncated")

    @classmethod
    def contradictory_empty(cls) -> Fault:
        """A 200 with the real `total` (at least 1) but no date groups at all."""
        return cls("contradictory_empty")

    @classmethod
    def malformed_record(cls, **changes: Any) -> Fault:
        """Corrupt the first call of the page (default: an unreadable `toTime`)."""
        return cls("malformed_record", changes=changes or {"toTime": "not-a-time"})


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]
    args: dict[str, str]
    status: int


class TagMangoSimulator:
    """WSGI app answering the video-call list like TagMango does; see the module docstring."""

    def __init__(
        self,
        calls: Iterable[SimCall] = (),
        *,
        api_keys: Mapping[str, str] | None = None,
        mangoes: Iterable[Mango] = MANGOES,
        total_counts: Count = "calls",
        page_unit: Count = "calls",
        limit_cap: int | None = None,
        envelope: Envelope = "bare",
        budget: tuple[int, float] = (120, 10.0),
        latency: float = 0.0,
        default_offset: int = 330,
        default_limit: int = 10,
        subscriptions: Iterable[SimSubscription] = (),
    ) -> None:
        self.api_keys = dict(api_keys) if api_keys is not None else {DEMO_KEY: DEMO_HOST}
        self.mangoes = {mango.id: mango for mango in mangoes}
        self.total_counts = total_counts
        self.page_unit = page_unit
        self.limit_cap = limit_cap
        self.envelope = envelope
        self.budget = budget
        self.latency = latency
        self.default_offset = default_offset
        self.default_limit = default_limit
        self._calls = {call.id: call for call in calls}
        self._sorted: list[SimCall] | None = None
        self._json: dict[SimCall, dict[str, Any]] = {}  # a changed call is a new SimCall
        self._faults: deque[Fault] = deque()
        self._corrupted: dict[str, dict[str, Any]] = {}
        self._hidden: set[str] = set()
        self._hooks: list[tuple[int, Callable[[], None]]] = []
        self._budgets: dict[str, RateBudget] = {}
        self._log: list[LoggedRequest] = []
        self._served = 0
        self._lock = threading.RLock()
        self.webhooks = TagMangoWebhooks()
        self.roster = TagMangoRosterSim(subscriptions)  # bridge.simulator.tagmango_roster

    @classmethod
    def seeded(cls, now: datetime, **options: Any) -> TagMangoSimulator:
        """A simulator holding `tagmango_seed.seed_calls(now)` and `seed_subscribers(now)`;
        options go to the constructor."""
        from bridge.simulator.tagmango_roster import seed_subscribers
        from bridge.simulator.tagmango_seed import seed_calls  # the seed builds on this module

        options.setdefault("subscriptions", seed_subscribers(now))
        return cls(seed_calls(now), **options)

    # -- data controls -------------------------------------------------------------------
    def calls(self) -> list[SimCall]:
        with self._lock:
            if self._sorted is None:
                self._sorted = sorted(self._calls.values(), key=lambda c: (c.start, c.id))
            return list(self._sorted)

    def add_call(self, call: SimCall) -> None:
        with self._lock:
            self._calls[call.id] = call
            self._sorted = None
        self.webhooks.call_changed(call)

    def update_call(self, call_id: str, **changes: Any) -> SimCall:
        with self._lock:
            updated = self._calls[call_id] = replace(self._calls[call_id], **changes)
            self._sorted = None
        self.webhooks.call_changed(updated)
        return updated

    def complete_call(self, call_id: str, replay_url: str) -> None:
        """The call's recording is ready: `webinar.completed.all` with its replay link."""
        with self._lock:
            call = self._calls[call_id]
        self.webhooks.call_completed(call, replay_url)

    def expire_subscriber(self, user_id: str, at: datetime) -> None:
        """The user's subscriptions end at `at`: `subscription.expired` to the hooks."""
        for subscription in self.roster.expire(user_id, at):
            self.webhooks.subscription_expired(subscription.to_json())

    def remove_call(self, call_id: str) -> None:
        with self._lock:
            del self._calls[call_id]
            self._sorted = None

    # -- fault controls and log ------------------------------------------------------------
    def fail_next(self, *faults: Fault) -> None:
        """Queue faults; each applies to one upcoming request, in order."""
        with self._lock:
            self._faults.extend(faults)

    def after_requests(self, count: int, action: Callable[[], None]) -> None:
        """Run `action` once, just before the request after the `count`-th is handled."""
        with self._lock:
            self._hooks.append((self._served + count, action))

    def corrupt_call(self, call_id: str, **fields: Any) -> None:
        """Answer with these raw values in the call's JSON until `clear_glitches()` (default:
        a numeric `fromTime`, which no client can read as an ISO date-time)."""
        with self._lock:
            self._corrupted[call_id] = fields or {"fromTime": 1767225600000}

    def hide_calls(self, call_ids: Iterable[str]) -> None:
        """Leave these calls out of every answer until `clear_glitches()`."""
        with self._lock:
            self._hidden.update(call_ids)

    def clear_glitches(self) -> None:
        """Undo `corrupt_call` and `hide_calls`, and drop every queued fault."""
        with self._lock:
            self._corrupted.clear()
            self._hidden.clear()
            self._faults.clear()

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # -- WSGI ----------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if self.latency:
            time.sleep(self.latency)
        response = self._respond(request)
        with self._lock:
            self._log.append(
                LoggedRequest(
                    request.method,
                    request.path,
                    {k.lower(): v for k, v in request.headers.items()},
                    dict(request.args.items()),
                    response.status_code,
                )
            )
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        if request.path.rstrip("/") == REGISTER_PATH:
            return self.webhooks.handle_registration(request, self.api_keys)
        if request.path.startswith(ROSTER_PREFIX) and request.method == "GET":
            return self.roster.handle(request, self.api_keys)
        if request.path.rstrip("/") != VIDEO_CALLS_PATH:
            return _json({"code": 404, "message": "Not found", "success": False}, 404)
        if request.method != "GET":
            return _json({"code": 405, "message": "Method not allowed", "success": False}, 405)
        with self._lock:
            self._served += 1
            due = [action for at, action in self._hooks if at < self._served]
            self._hooks = [(at, action) for at, action in self._hooks if at >= self._served]
        for action in due:
            action()

        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if token and not self._within_budget(token):
            return _json(TOO_MANY_REQUESTS, 429)
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.kind in ("status", "too_many"):
            body = TOO_MANY_REQUESTS if fault.kind == "too_many" else _error(fault.status)
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return _json(body, fault.status, headers)
        if fault is not None and fault.kind == "hang":
            time.sleep(fault.seconds)

        host = request.headers.get("x-whitelabel-host", "").strip().lower()
        if not token or self.api_keys.get(token, "").lower() != host or not host:
            return _json(UNAUTHORIZED, 401)
        empty = fault is not None and fault.kind == "contradictory_empty"
        try:
            body = self._list(request.args, request.headers.get("x-timezone-offset"), empty)
        except ValueError as exc:
            return _json(_error(400, f"Invalid request: {exc}"), 400)
        if fault is not None and fault.kind == "malformed_record":
            _corrupt_first_call(body, fault.changes)
        raw = json.dumps(body, ensure_ascii=False).encode()
        if fault is not None and fault.kind == "truncated":
            raw = raw[: len(raw) // 2]
        return Response(raw, 200, content_type="application/json; charset=utf-8")

    def _within_budget(self, token: str) -> bool:
        with self._lock:
            budget = self._budgets.get(token)
            if budget is None:
                budget = self._budgets[token] = RateBudget(*self.budget)
        return budget.try_acquire() == 0.0

    def _list(
        self, args: Mapping[str, str], offset_header: str | None, empty: bool = False
    ) -> dict[str, Any]:
        offset = _integer(offset_header, "x-timezone-offset", self.default_offset, low=-720)
        limit = _integer(args.get("limit"), "limit", self.default_limit, low=1)
        page = _integer(args.get("page"), "page", 1, low=1)
        start = _instant(args.get("startDate"), "startDate")
        end = _instant(args.get("endDate"), "endDate")
        mangoes = {m.strip() for m in args.get("mangoes", "").split(",") if m.strip()}
        user = args.get("user")
        if self.limit_cap is not None:
            limit = min(limit, self.limit_cap)

        with self._lock:
            hidden, corrupted = set(self._hidden), dict(self._corrupted)
        selected = [
            call
            for call in self.calls()
            if call.id not in hidden
            and (start is None or call.start >= start)
            and (end is None or call.start <= end)  # the end bound is inclusive here
            and (not mangoes or call.mango_id in mangoes)
            and (user is None or self.lists_for_user(call, user))
        ]
        local = timedelta(minutes=offset)
        groups: dict[date, list[SimCall]] = {}
        if self.page_unit == "calls":
            selected_page = selected[(page - 1) * limit : page * limit]
        else:
            selected_page = selected
        for call in selected_page:
            groups.setdefault((call.start + local).date(), []).append(call)
        group_items = sorted(groups.items())
        if self.page_unit == "groups":
            group_items = group_items[(page - 1) * limit : page * limit]
        if self.total_counts == "calls":
            total = len(selected)
        else:
            total = len({(call.start + local).date() for call in selected})
        data = [
            {
                "date": day.isoformat(),
                "calls": [{**self._call_json(c), **corrupted.get(c.id, {})} for c in calls],
            }
            for day, calls in group_items
        ]
        if empty:
            return self._wrap({"total": max(total, 1), "data": []})
        return self._wrap({"total": total, "data": data})

    def lists_for_user(self, call: SimCall, user: str) -> bool:
        """Whether the `user` filter lists the call: the user is one of its participants, or
        holds its mango and it is not someone else's 1:1 call."""
        return user in call.participants or (
            not call.one_to_one and self.roster.subscribed(user, call.mango_id)
        )

    def _wrap(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.envelope == "bare":
            return payload
        return {
            "message": "Video calls fetched successfully",
            "success": True,
            "code": 200,
            "statusMessage": "OK",
            self.envelope: payload,
        }

    def _call_json(self, call: SimCall) -> dict[str, Any]:
        cached = self._json.get(call)
        if cached is None:
            cached = self._json[call] = self._build_call_json(call)
        return dict(cached)  # a copy: faults edit the answer

    def _build_call_json(self, call: SimCall) -> dict[str, Any]:
        mango = self.mangoes.get(call.mango_id, Mango(call.mango_id, "Unknown mango"))
        record: dict[str, Any] = {
            "_id": call.id,
            "title": call.title,
            "toTime": iso_ms(call.end),
            "fromTime": iso_ms(call.start),
            "status": call.status,
            "videocallType": "onetoone" if call.one_to_one else "group",
            "ongoingCallType": "workshop",
            "platform": call.platform,
            "whitelabelHost": DEMO_HOST,
            "creator": CREATOR,
            "mango": mango.to_json(),
        }
        if call.meeting_url is not None:
            record["meetingUrl"] = call.meeting_url
        if call.group_id is not None:
            record["groupId"] = call.group_id
        if call.timezone_name is not None:
            record["timezoneName"] = call.timezone_name
        return record


def _json(body: Any, status: int, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status, headers=dict(headers or {}), mimetype="application/json"
    )


def _error(status: int, message: str | None = None) -> dict[str, Any]:
    if status == 400:
        return {
            "code": 400,
            "type": "Bad request",
            "statusMessage": "BAD_REQUEST",
            "message": message or "Invalid request",
            "success": False,
        }
    return {
        "code": status,
        "type": "Internal server error",
        "statusMessage": "INTERNAL_SERVER_ERROR",
        "message": message or "Something went wrong",
        "success": False,
    }


def _integer(value: str | None, name: str, default: int, *, low: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a number") from None
    if number < low:
        raise ValueError(f"{name} must be >= {low}, not {number}")
    return number


def _instant(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a date-time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _corrupt_first_call(body: dict[str, Any], changes: Mapping[str, Any]) -> None:
    payload = body.get("result") or (body["data"] if isinstance(body["data"], dict) else body)
    for group in payload["data"]:
        for call in group["calls"]:
            for key, value in changes.items():
                if value is None:
                    call.pop(key, None)
                else:
                    call[key] = value
            return
