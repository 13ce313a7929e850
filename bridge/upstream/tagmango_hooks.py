"""Registering calbridge's webhook URL with TagMango (`POST /api/v1/integration/webhook/webhook`).

TagMango signs nothing: the URL itself carries the secret, and a delivery is only a trigger to
read the API again. Each webinar event is registered on its own, with `?event=<name>` on the
URL, because a delivery's body does not say which event it is (docs/upstream-apis.md,
*TagMango: webhooks*).
"""

from __future__ import annotations

from urllib.parse import urlencode

from bridge.upstream.http import UpstreamHTTP
from bridge.upstream.tagmango import TagMangoConfig, api_key_budget

REGISTER_PATH = "/api/v1/integration/webhook/webhook"
WEBINAR_EVENTS = ("webinar.created.single", "webinar.created.recurring", "webinar.completed.all")
# Registered too: a participant's subscription ended (bridge/participants/hooks.py).
PARTICIPANT_EVENTS = ("subscription.expired",)


def event_url(hook_url: str, event: str) -> str:
    """The URL registered for one event: the source's webhook URL naming the event."""
    return f"{hook_url}?{urlencode({'event': event})}"


def register_webhooks(config: TagMangoConfig, hook_url: str) -> list[str]:
    """Register `hook_url` for every webinar event and `subscription.expired`; returns the
    events registered. Raises UpstreamError (an auth error names the API key) on the first
    refusal."""
    url = config.api_base.rstrip("/") + REGISTER_PATH
    headers = {"x-api-key": config.token, "Accept": "application/json"}
    registered = []
    with UpstreamHTTP(config.name, budget=api_key_budget(config.token)) as http:
        for event in (*WEBINAR_EVENTS, *PARTICIPANT_EVENTS):
            http.send(
                "POST",
                url,
                headers=headers,
                json_body={"hookUrl": event_url(hook_url, event), "event": event},
                auth_error_message="TagMango refused the API key while registering webhooks",
                retry=False,  # registering twice would deliver everything twice
            )
            registered.append(event)
    return registered
