"""Rules on the input every layer checks, each defined here once (pure: no I/O).

The CLI and the admin API (`bridge.operations`, the schemas of `bridge.web.openapi`), the
store, the upstream clients and the feed writer all check against these. A check takes the
name the caller shows for the value (`--alarm`, `alarm_minutes`) and the exception class the
caller raises (`OperationError`, `StoreError`, `InvalidSession`; default `ValueError`), so each
layer reports the same rule in its own terms.

The other rules of this kind live beside what they are about:
- a time zone is an IANA name zoneinfo knows: `feeds.timezones.load_zone` / `zone_names`;
- the largest id is the database's: `bridge.store.base.MAX_ID`;
- what a title may look like: `feeds.model.normalize_title`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Literal

__all__ = [
    "MAX_ALARM_MINUTES",
    "MAX_DAYS",
    "TRAINERCENTRAL_ACCESS_TOKEN",
    "TRAINERCENTRAL_OAUTH",
    "aware_utc",
    "check_alarm_minutes",
    "trainercentral_auth",
]

# A feed's history and horizon (days): ten years either way.
MAX_DAYS = 3660
# A reminder at most a week before a session.
MAX_ALARM_MINUTES = 7 * 24 * 60

# TrainerCentral credentials: a fixed Zoho access token, or an OAuth client with its refresh
# token (docs/upstream-apis.md, *Zoho OAuth*). The names are the stored credentials' and the API's.
TRAINERCENTRAL_ACCESS_TOKEN = "access_token"
TRAINERCENTRAL_OAUTH = ("client_id", "client_secret", "refresh_token")


def aware_utc(value: datetime, what: str, error: type[Exception] = ValueError) -> datetime:
    """`value` in UTC. A naive datetime is refused (raising `error`), never guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise error(f"{what} {value.isoformat()} has no timezone")
    return value.astimezone(UTC)


def check_alarm_minutes(
    value: int | None, what: str = "alarm_minutes", error: type[Exception] = ValueError
) -> int | None:
    """A reminder's minutes before the session: None (no reminder) or 0 to MAX_ALARM_MINUTES."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ALARM_MINUTES
    ):
        raise error(f"{what} must be between 0 and {MAX_ALARM_MINUTES} minutes, got {value!r}")
    return value


def trainercentral_auth(
    given: Iterable[str],
    spell: Callable[[str], str] = str,
    error: type[Exception] = ValueError,
) -> Literal["access_token", "oauth"]:
    """How TrainerCentral credentials were given: a fixed access token or an OAuth client.

    `given` names the credentials present (TRAINERCENTRAL_ACCESS_TOKEN and the names of
    TRAINERCENTRAL_OAUTH); `spell` is how the caller shows a name (`--client-id`). Exactly one
    way must be given, the OAuth one whole.
    """
    present = set(given)
    token = spell(TRAINERCENTRAL_ACCESS_TOKEN)
    client_id, client_secret, refresh_token = (spell(name) for name in TRAINERCENTRAL_OAUTH)
    oauth = [name for name in TRAINERCENTRAL_OAUTH if name in present]
    if TRAINERCENTRAL_ACCESS_TOKEN in present:
        if oauth:
            raise error(
                f"give either {token} or {client_id}, {client_secret} and {refresh_token}, not both"
            )
        return "access_token"
    if len(oauth) < len(TRAINERCENTRAL_OAUTH):
        raise error(f"give {token}, or all of {client_id}, {client_secret} and {refresh_token}")
    return "oauth"
