"""The public addresses of a feed or share token: the calendar, its webcal twin, its page."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeedLinks:
    ics_url: str  # what Google, Outlook and Thunderbird fetch
    webcal_url: str  # the same address as webcal://, which Apple Calendar subscribes to
    page_url: str  # the subscribe page

    @classmethod
    def for_token(cls, public_url: str, token: str) -> FeedLinks:
        ics = f"{public_url}/f/{token}.ics"
        return cls(ics, "webcal://" + ics.split("://", 1)[1], f"{public_url}/f/{token}")
