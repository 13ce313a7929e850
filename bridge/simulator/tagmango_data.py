"""The TagMango simulator's data: demo credentials, the creator, mangoes and video calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEMO_KEY = "tm-demo-key"
DEMO_HOST = "demo.tagmango.com"
CREATOR = {
    "_id": "6659ca9e5f2acb7abfdcd8fd",
    "name": "Asha Verma",
    "email": "asha@example.com",
    "host": DEMO_HOST,
    "userSlug": "asha-verma",
    "phone": 9876543210,
    "country": "India",
    "dialCode": "+91",
    "currency": "INR",
    "isDeactivated": False,
}


@dataclass(frozen=True)
class Mango:
    id: str
    title: str
    description: str = ""
    price: int = 500

    def to_json(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "creator": CREATOR["_id"],
            "title": self.title,
            "price": self.price,
            "description": self.description,
            "recurringType": "MONTHLY",  # the billing cycle, not a repetition of calls
            "noOfDays": 30,
        }


MANGOES = (
    Mango("66a1390268a76f2f5c9f39a3", "Founders' Circle", "<p>Live Q&amp;A for <b>members</b></p>"),
    Mango("66a1390268a76f2f5c9f39b7", "Yoga Daily — योग", "Morning practice, every day."),
)


@dataclass(frozen=True)
class SimCall:
    """One video call as the simulator stores it (times in UTC). A `one_to_one` call is
    listed (`videocallType` "onetoone") for the creator and, under the `user` filter, only for
    its `participants`; any other call also for every holder of its mango."""

    id: str
    title: str
    start: datetime
    end: datetime
    mango_id: str = MANGOES[0].id
    status: str = "available"
    meeting_url: str | None = "https://zoom.us/j/1234567890"
    group_id: str | None = None
    participants: tuple[str, ...] = ()
    platform: str = "zoom"
    timezone_name: str | None = None
    one_to_one: bool = False


def iso_ms(instant: datetime) -> str:
    """2026-01-01T00:00:00.000Z, the form TagMango uses for instants."""
    utc = instant.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
