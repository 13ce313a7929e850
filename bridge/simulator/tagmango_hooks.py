"""The TagMango simulator's webhooks: registration, and deliveries when its data changes.

`POST /api/v1/integration/webhook/webhook` (header `x-api-key`, body `{hookUrl, event, …}`)
registers a URL for an event, as the documented endpoint does. When the simulator's data
changes, every URL registered for the matching event gets a delivery shaped like the
documented payload (`{name, email, phone, timezone, callList: [...], mangoes}`), POSTed from a
background thread: `webinar.created.single` (or `.recurring` for a call in a series) for an
added or changed call, `webinar.completed.all` (with the replay link as `webinarLink`) from
`complete_call`. Controls: `enabled` (False: register but send nothing), `delay` (seconds
before each delivery), `duplicates` (send each delivery this many times), `deliveries` (a log
of what was sent and the answer's status), `wait_idle()`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from werkzeug.wrappers import Request, Response

from bridge.simulator.tagmango_data import SimCall, iso_ms

REGISTER_PATH = "/api/v1/integration/webhook/webhook"
EVENTS = (
    "webinar.created.single",
    "webinar.created.recurring",
    "webinar.completed.all",
    "webinar.reminder.15min",
    "webinar.reminder.1day",
    "webinar.reminder.all",
    "subscription.expired",
)


@dataclass(frozen=True)
class SentDelivery:
    url: str
    event: str
    status: int | None  # None: the receiver could not be reached
    answer: str = ""  # the receiver's answer (its body)


@dataclass
class TagMangoWebhooks:
    """Registered hooks of the simulated TagMango account, and the deliveries sent."""

    enabled: bool = True
    delay: float = 0.0
    duplicates: int = 1
    registered: list[tuple[str, str]] = field(default_factory=list)  # (event, hook URL)
    deliveries: list[SentDelivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _pending: int = 0

    def handle_registration(self, request: Request, api_keys: dict[str, str]) -> Response:
        if request.method != "POST":
            return _json({"code": 405, "message": "Method not allowed"}, 405)
        if request.headers.get("x-api-key", "") not in api_keys:
            return _json({"code": 401, "message": "Unauthorized"}, 401)
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            return _json({"code": 400, "message": "Invalid JSON"}, 400)
        if not isinstance(body, dict):
            return _json({"code": 400, "message": "Body must be an object"}, 400)
        hook_url, event = body.get("hookUrl"), body.get("event")
        if not isinstance(hook_url, str) or not hook_url.startswith(("http://", "https://")):
            return _json({"code": 400, "message": "hookUrl must be an http(s) URL"}, 400)
        if event not in EVENTS:
            return _json({"code": 400, "message": f"Unknown event {event!r}"}, 400)
        with self._lock:
            if (event, hook_url) not in self.registered:
                self.registered.append((event, hook_url))
        return _json({"code": 200, "message": "Webhook registered", "result": body}, 200)

    def call_changed(self, call: SimCall) -> None:
        """A call was added or changed: the created event of its kind."""
        event = "webinar.created.recurring" if call.group_id else "webinar.created.single"
        self._send(event, call, call.meeting_url)

    def call_completed(self, call: SimCall, replay_url: str) -> None:
        self._send("webinar.completed.all", call, replay_url)

    def subscription_expired(self, subscription: dict[str, Any]) -> None:
        """A subscription ended: `subscription.expired` with the subscription record (its
        `fan` names the participant; the documented page gives no payload, so this is a guess)."""
        self._post("subscription.expired", {"event": "subscription.expired", **subscription})

    def wait_idle(self, seconds: float = 10.0) -> None:
        """Wait until every delivery started has been sent."""
        deadline = time.monotonic() + seconds
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.01)

    def _send(self, event: str, call: SimCall, link: str | None) -> None:
        self._post(event, _payload(call, link))

    def _post(self, event: str, body: dict[str, Any]) -> None:
        with self._lock:
            urls = [url for registered, url in self.registered if registered == event]
        if not self.enabled or not urls:
            return
        payload = json.dumps(body).encode()
        with self._lock:
            self._pending += len(urls)
        for url in urls:
            threading.Thread(target=self._deliver, args=(url, event, payload), daemon=True).start()

    def _deliver(self, url: str, event: str, payload: bytes) -> None:
        try:
            if self.delay:
                time.sleep(self.delay)
            for _ in range(self.duplicates):
                try:
                    response = httpx.post(
                        url,
                        content=payload,
                        headers={"Content-Type": "application/json"},
                        timeout=30,
                    )
                    sent = SentDelivery(url, event, response.status_code, response.text)
                except httpx.HTTPError:
                    sent = SentDelivery(url, event, None)
                with self._lock:
                    self.deliveries.append(sent)
        finally:
            with self._lock:
                self._pending -= 1


def _payload(call: SimCall, link: str | None) -> dict[str, Any]:
    """The documented delivery shape, for one attendee (Asha) of one call."""
    return {
        "name": "Asha Verma",
        "email": "asha@example.org",
        "phone": "+910000000000",
        "timezone": "+05:30",
        "callList": [
            {
                "webinar": call.title,
                "webinarId": call.id,
                "webinarLink": link,
                "webinarFromTime": iso_ms(call.start),
                "webinarToTime": iso_ms(call.end),
                "creatorTimezone": "Asia/Kolkata",
            }
        ],
        "mangoes": call.mango_id,
    }


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status, content_type="application/json")
