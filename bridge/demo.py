"""`calbridge demo`: simulators and a seeded bridge in one process.

Also used by the browser tests: `start_demo()` returns the running servers and the
URLs of the seeded feeds without blocking.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bridge import operations
from bridge.app import create_app
from bridge.logs import RedactingFilter
from bridge.operations import JsonObject
from bridge.settings import Settings
from bridge.simulator.combined import DEMO_PARTICIPANT, Simulators, build_simulators
from bridge.simulator.server import RunningServer, start_server


@dataclass
class Demo:
    """A running demo: the simulators, the bridge, and what was seeded."""

    simulators: Simulators
    simulator_server: RunningServer
    bridge_server: RunningServer
    app: Any
    # Each seeded feed or share link's JSON (as `--json` prints it): id, name, ics_url, page_url...
    feeds: dict[str, JsonObject] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.bridge_server.url

    def stop(self) -> None:
        self.bridge_server.stop()
        self.app.extensions["calbridge"].jobs.stop()
        self.simulator_server.stop()

    def describe(self) -> str:
        lines = [
            f"calbridge demo running at {self.url}",
            f"simulated TagMango / TrainerCentral / Zoho at {self.simulator_server.url}",
            "",
        ]
        for label, links in self.feeds.items():
            lines += [
                f"{label}:",
                f"  subscribe page: {links['page_url']}",
                f"  calendar:       {links['ics_url']}",
                f"  webcal:         {links['webcal_url']}",
                f"  CalDAV:         {self.url}/ as {links['caldav_username']}, "
                f"password {links['caldav_password']}",
            ]
        lines += [
            "",
            f"health: {self.url}/healthz   metrics: {self.url}/metrics",
            "Press Ctrl-C to stop.",
        ]
        return "\n".join(lines)


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_demo(directory: Path, port: int = 8000, *, now: datetime | None = None) -> Demo:
    """Start simulators and a bridge on 127.0.0.1:port, seeded; returns without blocking."""
    simulators = build_simulators(now)
    simulator_server = start_server(simulators)
    settings = Settings.for_demo(directory, f"http://127.0.0.1:{port}")
    app = create_app(settings)
    services = app.extensions["calbridge"]
    services.jobs.start()  # the background refreshes, in this process
    options = simulators.source_options(simulator_server.url)
    operations.add_tagmango_source(services, name="tagmango-demo", **options["tagmango"])
    operations.add_trainercentral_source(
        services, name="trainercentral-demo", **options["trainercentral"]
    )
    creator = operations.create_feed(
        services,
        name="All live sessions (creator)",
        sources=["tagmango-demo", "trainercentral-demo"],
        timezone="Asia/Kolkata",
    )
    participant = operations.create_feed(
        services,
        name="Alice's workshops",
        sources=["tagmango-demo"],
        user=DEMO_PARTICIPANT,
        timezone="Europe/London",
    )
    busy = operations.share_feed(services, creator.id, scope="busy")
    logging.getLogger("werkzeug").addFilter(RedactingFilter())
    bridge_server = start_server(app, port=port)
    return Demo(
        simulators,
        simulator_server,
        bridge_server,
        app,
        {
            "Creator feed (full: join links)": creator.to_json(),
            "Participant feed (TagMango user filter)": participant.to_json(),
            "Busy share link of the creator feed": busy.to_json(),
        },
    )
