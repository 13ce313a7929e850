"""TagMango's `subscription.expired` webhook: re-check that participant, revoke if it ended.

As every delivery, it is a trigger, never the truth (docs/upstream-apis.md, *Participants:
roster*): the user named in the payload (by id, else by an email a known participant has) is
read again through the per-user subscriptions endpoint, and only an ended subscription there
revokes their feed.
"""

from __future__ import annotations

from typing import Any

from bridge.participants.roster import MAX_USER_ID
from bridge.participants.sync import sync_participants
from bridge.services import Services
from bridge.store.rows import SourceRow

SUBSCRIPTION_EXPIRED = "subscription.expired"
_ID_KEYS = ("userId", "user_id", "fanId", "fan", "user", "subscriber")
_MAX_PEOPLE = 50


def people_named(payload: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The user ids and the emails a delivery names (at the top or under `subscription`)."""
    ids: list[str] = []
    emails: list[str] = []
    holders = [payload, payload.get("subscription"), payload.get("data")]
    for holder in holders:
        if not isinstance(holder, dict):
            continue
        for key in _ID_KEYS:
            value = holder.get(key)
            if isinstance(value, dict):
                value = value.get("_id") or value.get("id")
                email = holder[key].get("email")
                if isinstance(email, str) and "@" in email:
                    emails.append(email.strip())
            if isinstance(value, str) and 0 < len(value.strip()) <= MAX_USER_ID:
                ids.append(value.strip())
        email = holder.get("email")
        if isinstance(email, str) and "@" in email:
            emails.append(email.strip())
    ids_seen = tuple(dict.fromkeys(ids))[:_MAX_PEOPLE]
    return ids_seen, tuple(dict.fromkeys(emails))[:_MAX_PEOPLE]


def subscription_expired(
    app: Services, source: SourceRow, ids: tuple[str, ...], emails: tuple[str, ...]
) -> str:
    """Re-check the participants a delivery names: "revoked", "checked" (still subscribed,
    or not one of ours) or "ignored" (it names nobody we know how to look up)."""
    known = app.store.participants(source.id)
    wanted = {e.lower() for e in emails}
    users = list(ids) + [p.user_id for p in known if p.email and p.email.lower() in wanted]
    if not users:
        return "ignored"
    report = sync_participants(app, source.name, users=list(dict.fromkeys(users)))
    return "revoked" if report.revoked else "checked"
