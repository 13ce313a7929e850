"""Services around a simulated TagMango account and a real Radicale calendar, for push tests.

`make_env` builds the real services (store on a SQLite file, immediate jobs, the renderer, the
pusher) with an injected clock; the TagMango simulator, seeded relative to that clock, is
served on loopback and read by the real TagMango client. `occurrences` expands a calendar
(the remote's objects, or the feed's body) with recurring-ical-events, so a test compares
what a calendar app would show.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import recurring_ical_events
from icalendar import Calendar

from bridge import operations
from bridge.feed_views import FeedView
from bridge.push import operations as push_operations
from bridge.services import Services, build_services
from bridge.settings import Settings
from bridge.simulator.combined import Simulators, build_simulators
from bridge.simulator.server import start_server
from tests.bridge.push.radicale_support import PASSWORD, USER, RadicaleServer
from tests.stores import Clock

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
WINDOW = (NOW - timedelta(days=40), NOW + timedelta(days=200))
Occurrence = tuple[str, str, str, str, str]  # uid, start, end, summary, status


@dataclass
class PushEnv:
    services: Services
    simulators: Simulators
    clock: Clock
    feed_id: int
    radicale: RadicaleServer
    calendar_url: str

    def add_target(
        self, password: str = PASSWORD, url: str | None = None, username: str = USER
    ) -> int:
        """A push target of the feed into the test's calendar (its first push runs at once)."""
        added = push_operations.add_push_target(
            self.services,
            feed_id=self.feed_id,
            url=url or self.calendar_url,
            username=username,
            password=password,
        )
        return int(added["id"])

    def refetch(self) -> None:
        """Read upstream again now, whatever the TTL (as a webhook would have it)."""
        feed = self.services.store.feed(self.feed_id)
        for partition in self.services.feeds.partitions(feed):
            self.services.refreshes.request(partition, force=True)

    def feed_occurrences(self) -> set[Occurrence]:
        feed = self.services.store.feed(self.feed_id)
        body = self.services.feeds.render(FeedView.of_feed(feed)).body
        return occurrences([body])

    def remote_occurrences(self) -> set[Occurrence]:
        return occurrences(self.radicale.objects(self.calendar_url).values())

    def target(self, target_id: int) -> dict[str, Any]:
        return next(
            t for t in push_operations.list_push_targets(self.services) if t["id"] == target_id
        )


def occurrences(calendars: Iterable[bytes]) -> set[Occurrence]:
    """Every occurrence in the window of every event of the calendars, as a calendar app
    expands them (recurring-ical-events: RRULE, EXDATE, overrides, time zones)."""
    found: set[Occurrence] = set()
    for data in calendars:
        calendar = Calendar.from_ical(data)
        for event in recurring_ical_events.of(calendar).between(*WINDOW):
            found.add(
                (
                    str(event["UID"]),
                    _instant(event["DTSTART"].dt),
                    _instant(event["DTEND"].dt),
                    str(event.get("SUMMARY", "")),
                    str(event.get("STATUS", "")),
                )
            )
    return found


def _instant(value: datetime | date) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value.isoformat()


@contextmanager
def make_env(tmp_path: Path, radicale: RadicaleServer, name: str) -> Iterator[PushEnv]:
    """Services with a TagMango source on the simulator, one feed of it (fetched once
    already), and an empty calendar `name` in Radicale."""
    clock = Clock(NOW)
    simulators = build_simulators(NOW)
    running = start_server(simulators)
    settings = Settings(
        secret_key="push-test-secret-key-0123456789",
        instance_path=tmp_path,
        database_url=f"sqlite:///{(tmp_path / 'calbridge.db').as_posix()}",
        public_url="https://cal.example.org",
        cache_ttl=3600,
    )
    services = build_services(settings, clock=clock, immediate_jobs=True)
    try:
        options = simulators.source_options(running.url)["tagmango"]
        operations.add_tagmango_source(services, name="mango", **options)
        feed = operations.create_feed(
            services, name="Workshops", sources=["mango"], timezone="Europe/Berlin"
        )
        calendar_url = radicale.make_calendar(name)
        yield PushEnv(services, simulators, clock, feed.id, radicale, calendar_url)
    finally:
        services.store.close()
        running.stop()
