"""All three simulators behind one WSGI app (their paths do not collide).

`calbridge simulate`, `calbridge demo`, the end-to-end tests and the benchmarks use
this: one loopback port that answers like TagMango (/api/v1/external/...), like a
TrainerCentral academy (/api/v4/...) and like Zoho accounts (/oauth/v2/token).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Response

from bridge.simulator.tagmango import DEMO_HOST, DEMO_KEY, TagMangoSimulator
from bridge.simulator.trainercentral import DEFAULT_ORG_ID, TrainerCentralSimulator
from bridge.simulator.zoho import SimClock, ZohoAccountsSimulator

# A participant of the seeded TagMango calls, for participant feeds.
DEMO_PARTICIPANT = "user-alice"


@dataclass
class Simulators:
    """The three simulators and the app that routes to them."""

    tagmango: TagMangoSimulator
    trainercentral: TrainerCentralSimulator
    zoho: ZohoAccountsSimulator

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/api/v1/"):
            return self.tagmango(environ, start_response)
        if path.startswith("/api/v4/"):
            return self.trainercentral(environ, start_response)
        if path.startswith("/oauth/"):
            return self.zoho(environ, start_response)
        return Response("no simulator answers this path\n", status=404)(environ, start_response)

    def source_options(self, base_url: str) -> dict[str, dict[str, str]]:
        """The options that register the simulated accounts as calbridge sources."""
        return {
            "tagmango": {
                "token": DEMO_KEY,
                "whitelabel_host": DEMO_HOST,
                "api_base": base_url,
                "timezone": "Asia/Kolkata",
            },
            "trainercentral": {
                "org_id": DEFAULT_ORG_ID,
                "academy_url": base_url,
                "filter": "5",
                "client_id": ZohoAccountsSimulator.DEFAULT_CLIENT_ID,
                "client_secret": ZohoAccountsSimulator.DEFAULT_CLIENT_SECRET,
                "refresh_token": ZohoAccountsSimulator.DEFAULT_REFRESH_TOKEN,
                "accounts_url": base_url,
            },
        }


def build_simulators(now: datetime | None = None, **tagmango_options: Any) -> Simulators:
    """Seeded simulators for `now` (default: the current time)."""
    now = now or datetime.now(UTC)
    clock = SimClock(now)
    zoho = ZohoAccountsSimulator(clock=clock)
    return Simulators(
        tagmango=TagMangoSimulator.seeded(now, **tagmango_options),
        trainercentral=TrainerCentralSimulator(zoho, now=now, clock=clock),
        zoho=zoho,
    )
