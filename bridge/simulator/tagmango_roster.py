"""The TagMango simulator's subscribers: the roster endpoints and expiring subscriptions.

`GET /api/v1/external/subscriptions/subscribers-by-creator/{creatorId}` (reportedly deprecated:
`deprecated = True` makes it answer 404) pages the creator's subscriptions with page/limit in
the `result` envelope with `{data, total, page, limit, hasNext}`; `GET
/api/v1/external/subscriptions/{userId}` lists one user's (404 for an unknown user). Each
record is `{_id, status, subscribedAt, expiredAt, fan: {_id, name, email, phone}, creator,
mango: {_id, title}}`. `expire(user_id)` ends a user's subscriptions and sends
`subscription.expired` to the registered hooks. The video-call list's `user` filter reads
`subscribed` (a subscriber sees the calls of the mangoes they are subscribed to).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from bridge.simulator.tagmango_data import CREATOR, MANGOES, iso_ms

ROSTER_PREFIX = "/api/v1/external/subscriptions/"
BY_CREATOR = ROSTER_PREFIX + "subscribers-by-creator/"
NAMES = ("Aarav Shah", "Zoë Müller", "Ishita Rao", "Kwame O'Neil", "Mei-Lin Chen", "José Núñez")


@dataclass(frozen=True)
class SimSubscription:
    user_id: str
    name: str
    email: str
    mango_id: str
    subscribed_at: datetime
    expires_at: datetime
    status: str = "active"

    def to_json(self) -> dict[str, Any]:
        mango = next((m for m in MANGOES if m.id == self.mango_id), None)
        return {
            "_id": f"{self.user_id}-{self.mango_id}"[-24:],
            "status": self.status,
            "subscribedAt": iso_ms(self.subscribed_at),
            "expiredAt": iso_ms(self.expires_at),
            "fan": {"_id": self.user_id, "name": self.name, "email": self.email, "phone": None},
            "creator": CREATOR["_id"],
            "mango": {"_id": self.mango_id, "title": mango.title if mango else "Unknown"},
        }


def seed_subscribers(now: datetime, count: int = 3000) -> list[SimSubscription]:
    """`count` subscribers across the mangoes (deterministic for `now`): every third one in
    both, one in twelve expired already, one in ten expiring within a month."""
    anchor = now.replace(hour=0, minute=0, second=0, microsecond=0)
    subscriptions = []
    for i in range(count):
        user_id = f"fan-{i:05d}"
        name = f"{NAMES[i % len(NAMES)]} {i}"
        mangoes = [m.id for m in MANGOES] if i % 3 == 0 else [MANGOES[i % 2].id]
        for mango_id in mangoes:
            expired = i % 12 == 5
            if expired:
                expires = anchor - timedelta(days=1 + i % 20)
            elif i % 10 == 7:
                expires = anchor + timedelta(days=1 + i % 30)
            else:
                expires = anchor + timedelta(days=200 + i % 100)
            subscriptions.append(
                SimSubscription(
                    user_id,
                    name,
                    f"fan{i}@example.org",
                    mango_id,
                    anchor - timedelta(days=30 + i % 300),
                    expires,
                    "expired" if expired else "active",
                )
            )
    return subscriptions


class TagMangoRosterSim:
    """The subscriptions of the simulated creator, and the two roster endpoints."""

    def __init__(self, subscriptions: Iterable[SimSubscription] = ()) -> None:
        self.deprecated = False
        self.limit_cap = 100
        self._lock = threading.Lock()
        self._subs = {(s.user_id, s.mango_id): s for s in subscriptions}

    def subscriptions(self) -> list[SimSubscription]:
        with self._lock:
            return sorted(self._subs.values(), key=lambda s: (s.user_id, s.mango_id))

    def subscribed(self, user_id: str, mango_id: str) -> bool:
        sub = self._subs.get((user_id, mango_id))
        return sub is not None and sub.status == "active"

    def active_users(self) -> dict[str, SimSubscription]:
        """Each actively subscribed user (one of their subscriptions)."""
        return {s.user_id: s for s in self.subscriptions() if s.status == "active"}

    def add(self, subscription: SimSubscription) -> None:
        with self._lock:
            self._subs[(subscription.user_id, subscription.mango_id)] = subscription

    def expire(self, user_id: str, at: datetime) -> list[SimSubscription]:
        """End every subscription of the user at `at`; returns them (as now stored)."""
        with self._lock:
            ended = [
                replace(s, status="expired", expires_at=at)
                for key, s in self._subs.items()
                if key[0] == user_id
            ]
            self._subs.update({(s.user_id, s.mango_id): s for s in ended})
        return ended

    def handle(self, request: Request, api_keys: Mapping[str, str]) -> Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        host = request.headers.get("x-whitelabel-host", "").strip().lower()
        if not token or not host or api_keys.get(token, "").lower() != host:
            return _json({"code": 401, "message": "Invalid token", "success": False}, 401)
        try:
            limit = min(int(request.args.get("limit", "10")), self.limit_cap)
            page = int(request.args.get("page", "1"))
        except ValueError:
            return _json({"code": 400, "message": "limit and page must be numbers"}, 400)
        if limit < 1 or page < 1:
            return _json({"code": 400, "message": "limit and page must be >= 1"}, 400)
        rest = request.path[len(ROSTER_PREFIX) :]
        if request.path.startswith(BY_CREATOR):
            if self.deprecated or unquote(rest.split("/", 1)[1]) != CREATOR["_id"]:
                return _json({"code": 404, "message": "Not found", "success": False}, 404)
            selected = self.subscriptions()
        else:
            user_id = unquote(rest)
            selected = [s for s in self.subscriptions() if s.user_id == user_id]
            if not selected:
                return _json({"code": 404, "message": "User not found", "success": False}, 404)
            statuses = {s for s in request.args.get("statuses", "").split(",") if s}
            selected = [s for s in selected if not statuses or s.status in statuses]
        chunk = selected[(page - 1) * limit : page * limit]
        result = {
            "data": [s.to_json() for s in chunk],
            "total": len(selected),
            "page": page,
            "limit": limit,
            "hasNext": page * limit < len(selected),
        }
        return _json({"code": 200, "success": True, "message": "OK", "result": result}, 200)


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status, content_type="application/json")
