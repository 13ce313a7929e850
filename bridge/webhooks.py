"""TagMango webhooks: each source's secret URL, and what a delivery does.

A delivery is a trigger, never the truth: it queues forced refreshes of the partitions whose
data it may have changed (the claims of bridge.jobs.requests keep a flood to one running and
one queued refresh per partition), and the API read that follows decides what the feeds show.
The one fact taken from a payload is the replay link of `webinar.completed.all`
(`webinarLink`), which the API does not list: it is kept per session and added to the session
by the next refresh.

Which partitions (`partitions_to_refresh`): a webinar delivery names the webinar's mangoes and
the one attendee it is sent for. The whole source and the mango partitions of those mangoes
are refreshed; participants' own queries are not, as their feeds read the partitions of the
mangoes they hold (bridge/partitions.py), except the attendee's when they hold none of those
mangoes (a 1:1 call, or a roster not synced yet). So one delivery costs a few requests however
many participants hold the mango. Feeds made by hand for one user are refreshed as before.
A delivery that names no mango and nobody, or a mango no partition reads (say, a title
rather than an id), narrows nothing: every partition of the source is refreshed.

`subscription.expired` re-checks the participant it names and revokes their feed if their
subscription really ended (bridge/participants/hooks.py).

Deliveries are de-duplicated (TagMango may send one twice) by a digest of the event and body,
remembered for a day (bridge.store.webhook_queries.DELIVERY_MEMORY).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from bridge.jobs.requests import Priority
from bridge.partitions import Partition
from bridge.services import Services
from bridge.store import SourceRow
from bridge.upstream.clients import tagmango_config
from bridge.upstream.tagmango_hooks import WEBINAR_EVENTS, register_webhooks
from feeds.limits import MAX_ID_CHARS, url_problem
from feeds.model import SourceKind, is_web_url

HOOK_PATH = "/hooks/tagmango"
COMPLETED = "webinar.completed.all"
SUBSCRIPTION_EXPIRED = "subscription.expired"
MAX_DELIVERY_BYTES = 1024 * 1024  # a payload lists one webinar's sessions: a few KB
MAX_NAMED_MANGOES = 100


class BadDelivery(ValueError):
    """A delivery that is not a JSON object (answered 400 with this message)."""


@dataclass(frozen=True)
class Delivery:
    event: str | None  # None: the body did not say, and neither did the URL
    recordings: dict[str, str] = field(default_factory=dict)  # upstream id → replay link
    people: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())  # user ids, emails named
    mangoes: tuple[str, ...] = ()  # the mangoes a webinar delivery names

    @property
    def triggers_refresh(self) -> bool:
        return self.event is None or self.event in WEBINAR_EVENTS


def webhook_url(app: Services, source: SourceRow, *, create: bool = True) -> str | None:
    """The source's secret webhook URL (TagMango sources only), its secret created on first
    use unless `create` is False (listings: they never write)."""
    if source.kind != SourceKind.TAGMANGO:
        return None
    secret = app.store.webhook_secret(source.id, create=create)
    return None if secret is None else f"{app.settings.public_url}{HOOK_PATH}/{secret}"


def register(app: Services, source: SourceRow) -> list[str]:
    """Register the source's webhook URL with TagMango for the webinar events."""
    url = webhook_url(app, source)
    if url is None:
        raise ValueError(f"source {source.name!r} is not a TagMango source")
    config = tagmango_config(source.name, source.settings, app.store.source_credentials(source))
    return register_webhooks(config, url)


def parse_delivery(body: bytes, event: str | None) -> Delivery:
    """Read a delivery's body (`event` from the registered URL, when it named one)."""
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise BadDelivery(f"the body is not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise BadDelivery("the body must be a JSON object")
    named = next(
        (payload[k] for k in ("event", "eventType", "type") if isinstance(payload.get(k), str)),
        None,
    )
    event = event or named
    recordings = _recordings(payload) if event == COMPLETED else {}
    from bridge.participants.hooks import people_named  # it imports bridge.operations

    return Delivery(event, recordings, people_named(payload), _mangoes(payload))


def _mangoes(payload: dict[str, Any]) -> tuple[str, ...]:
    """The mango ids a delivery names: "a, b" as documented, or a list of ids or objects."""
    value = next((payload[k] for k in ("mangoes", "mangoIds", "mango") if k in payload), None)
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, dict):
        items = [items]
    found = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            item = item.get("_id") or item.get("id")
        if isinstance(item, str) and 0 < len(item.strip()) <= MAX_ID_CHARS:
            found.append(item.strip())
    return tuple(dict.fromkeys(found))[:MAX_NAMED_MANGOES]


def _recordings(payload: dict[str, Any]) -> dict[str, str]:
    calls = payload.get("callList")
    found: dict[str, str] = {}
    for call in calls if isinstance(calls, list) else []:
        if not isinstance(call, dict):
            continue
        upstream_id, link = call.get("webinarId"), call.get("webinarLink")
        if not (isinstance(upstream_id, str) and 0 < len(upstream_id) <= MAX_ID_CHARS):
            continue
        if isinstance(link, str) and is_web_url(link.strip()) and not url_problem(link.strip()):
            found[upstream_id] = link.strip()
    return found


def partitions_to_refresh(app: Services, source: SourceRow, delivery: Delivery) -> list[Partition]:
    """The registered partitions of the source that a webinar delivery may have changed
    (see the module docstring)."""
    registered = [Partition.from_key(s, key) for s, key in app.store.source_partitions(source.id)]
    named = set(delivery.mangoes)
    ids, emails = delivery.people
    read_mangoes = {mango for partition in registered for mango in partition.mangoes}
    if not (named or ids or emails) or not named <= read_mangoes:
        return registered
    holdings = app.store.participant_holdings(source.id)
    wanted_emails = {email.lower() for email in emails}
    attendees = set(ids) | {
        user for user, (email, _held) in holdings.items() if email.lower() in wanted_emails
    }

    def may_show(mangoes: tuple[str, ...]) -> bool:
        return not mangoes or not named or bool(named.intersection(mangoes))

    def wanted(partition: Partition) -> bool:
        user = partition.user
        held = holdings[user][1] if user in holdings else ()
        if not held:  # not a participant's own query, or one reading no mango's partition
            return may_show(partition.mangoes)
        return user in attendees and not named.intersection(held)

    return [partition for partition in registered if wanted(partition)]


def handle_delivery(app: Services, source: SourceRow, body: bytes, event: str | None) -> str:
    """Act on one delivery: "duplicate", "ignored" (an event that changes no session),
    "queued" (refreshes of the source's partitions asked for), or for `subscription.expired`
    "revoked" / "checked". Raises BadDelivery (and UpstreamError when a re-check fails)."""
    delivery = parse_delivery(body, event)
    digest = hashlib.sha256(f"{delivery.event}\n".encode() + body).hexdigest()
    now = app.clock()
    if app.store.delivery_seen(source.id, digest):
        return "duplicate"
    if delivery.recordings:
        app.store.save_recordings(source.id, delivery.recordings, now)
    outcome = "queued" if delivery.triggers_refresh else "ignored"
    if delivery.event == SUBSCRIPTION_EXPIRED:
        from bridge.participants.hooks import subscription_expired

        outcome = subscription_expired(app, source, *delivery.people)
    if delivery.triggers_refresh:
        for partition in partitions_to_refresh(app, source, delivery):
            app.refreshes.request(partition, priority=Priority.WEBHOOK, force=True)
    # Noted once acted on: if the above failed (a 500), TagMango's next attempt is not a
    # "duplicate". Two copies arriving together may both act: the claims make that harmless.
    if not app.store.record_delivery(source.id, digest, now):
        return "duplicate"
    return outcome
