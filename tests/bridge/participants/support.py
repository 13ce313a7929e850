"""A bridge app on a real SQLite store, with the simulators served on loopback HTTP.

The simulators are seeded relative to NOW and the app's clock is injected, so nothing depends
on today's date. `subscribers` sets how many TagMango subscribers the simulator seeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient

from bridge import operations
from bridge.app import create_app
from bridge.services import Services
from bridge.settings import Settings
from bridge.simulator.combined import Simulators, build_simulators
from bridge.simulator.server import RunningServer, serving
from bridge.simulator.tagmango_roster import seed_subscribers
from bridge.upstream.zoho import forget_cached_tokens
from tests.stores import Clock

NOW = datetime(2026, 3, 3, 9, 30, tzinfo=UTC)
PUBLIC = "https://cal.example.org"
ADMIN = "participants-admin-token"


@dataclass
class Rig:
    app: Flask
    client: FlaskClient
    simulators: Simulators
    upstream: RunningServer
    clock: Clock

    @property
    def services(self) -> Services:
        return self.app.extensions["calbridge"]


def path_of(url: str) -> str:
    return urlsplit(url).path


def settings_for(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(
        secret_key="participants-test-secret-key-0123",
        instance_path=tmp_path,
        database_url=f"sqlite:///{(tmp_path / 'calbridge.db').as_posix()}",
        public_url=PUBLIC,
        admin_token=ADMIN,
        **extra,
    )


@contextmanager
def make_rig(tmp_path: Path, subscribers: int = 12, *, immediate: bool = True) -> Iterator[Rig]:
    """Sources "mango" (TagMango) and "academy" (TrainerCentral) on the simulators."""
    forget_cached_tokens()
    simulators = build_simulators(NOW, subscriptions=seed_subscribers(NOW, subscribers))
    with serving(simulators) as upstream:
        clock = Clock(NOW)
        app = create_app(settings_for(tmp_path), clock=clock, immediate_jobs=immediate)
        app.config["TESTING"] = True
        services = app.extensions["calbridge"]
        options = simulators.source_options(upstream.url)
        operations.add_tagmango_source(services, name="mango", **options["tagmango"])
        operations.add_trainercentral_source(services, name="academy", **options["trainercentral"])
        yield Rig(app, app.test_client(), simulators, upstream, clock)
        services.store.close()
    forget_cached_tokens()
