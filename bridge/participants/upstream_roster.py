"""Rosters read from the upstream APIs: TagMango's subscribers, TrainerCentral's learners.

What the code relies on, and what it guesses, is in docs/upstream-apis.md, *Participants:
roster*. In short:

* TagMango, the whole roster: `GET {subscribers_path}` ("Get Subscribers For Creator",
  reportedly deprecated; its path is a source setting, `roster_path`), paged with page/limit.
  A 404 raises `RosterGone` so the caller can fall back, clearly, to the documented per-user
  endpoint `GET /api/v1/external/subscriptions/{userId}` (`TagMangoRoster.member`).
  Records are subscriptions (one per fan and mango): they are folded into one member per fan,
  active while any subscription is. The creator id in the path comes from the flag or the
  source setting `creator_id`, else from the `creator._id` of a call in the video-call list.
* TrainerCentral: the academy's learners (`portalMembers.json?type=5`, paged with limit/si);
  when that is refused (403/404) the attendees (role 3) in talks.json's `sessionMembers`.

Every answer is read defensively: either envelope (`result`, `data`, bare), any of the list
keys seen, records without an id reported rather than guessed. An upstream failure raises an
UpstreamError, so a sync never works from half a roster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from bridge.participants.roster import (
    ACTIVE,
    EXPIRED,
    LEFT,
    Member,
    Roster,
    RosterProblem,
    check_member,
    normal_status,
)
from bridge.upstream.errors import UpstreamProtocolError, UpstreamRequestError
from bridge.upstream.http import UpstreamHTTP
from bridge.upstream.tagmango import (
    VIDEO_CALLS_PATH,
    TagMangoConfig,
    api_key_budget,
    iso_utc,
    timezone_offset_minutes,
)
from bridge.upstream.trainercentral import TrainerCentralClient

SUBSCRIBERS_PATH = "/api/v1/external/subscriptions/subscribers-by-creator/{creatorId}"
USER_SUBSCRIPTIONS_PATH = "/api/v1/external/subscriptions/{userId}"
PORTAL_MEMBERS = "portalMembers.json"
LEARNERS = "5"  # portalMembers.json?type=5: the academy's learners
ATTENDEE = "3"  # sessionMembers role: 0 admin, 1 speaker, 3 attendee, 4 guest presenter
_LIST_KEYS = (
    "result", "data", "subscribers", "subscriptions", "portalMembers", "members", "users",
    "docs", "items",
)  # fmt: skip


class RosterGone(Exception):
    """The whole-roster endpoint answered 404 (it is deprecated): fall back."""


def records_of(body: Any, what: str, source: str) -> list[Any]:
    """The list of records in an answer: bare, or under one of the keys seen (nested once, as
    in `{result: {data: [...]}}`)."""
    for _depth in range(3):
        if isinstance(body, list):
            return body
        if not isinstance(body, dict):
            break
        inner = next((body[key] for key in _LIST_KEYS if isinstance(body.get(key), list)), None)
        if inner is not None:
            return inner
        body = next((body[key] for key in _LIST_KEYS if isinstance(body.get(key), dict)), None)
    raise UpstreamProtocolError(source, f"the {what} answer holds no list of records")


def _has_next(body: Any) -> bool | None:
    for holder in (body, body.get("result") if isinstance(body, dict) else None):
        if isinstance(holder, dict) and isinstance(holder.get("hasNext"), bool):
            return holder["hasNext"]
    return None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else str(value) if isinstance(value, int) else ""


def _id(value: Any) -> str:
    """An id given as a string, a number or an object with `_id`/`id`."""
    if isinstance(value, dict):
        return _text(value.get("_id") or value.get("id"))
    return _text(value)


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class _Fan:
    name: str = ""
    email: str = ""
    active: list[str] = field(default_factory=list)  # mango ids of active subscriptions
    ended: str | None = None  # expired or left, when no subscription is active
    unknown: str | None = None  # an unknown status seen


class Subscriptions:
    """Subscription records folded into one member per fan (see the module docstring)."""

    def __init__(self, now: datetime, mangoes: tuple[str, ...], creator_id: str | None) -> None:
        self.now, self.mangoes, self.creator_id = now, mangoes, creator_id
        self.fans: dict[str, _Fan] = {}
        self.problems: list[RosterProblem] = []

    def add(self, record: Any, where: str) -> None:
        if not isinstance(record, dict):
            self.problems.append(RosterProblem(f"{where}: a record is not an object"))
            return
        fan_value = record.get("fan") or record.get("user") or record.get("subscriber")
        fan = fan_value if isinstance(fan_value, dict) else record
        user_id = _id(fan_value) or _id(record.get("userId") or record.get("fanId"))
        if fan is record and not user_id:
            user_id = _id(record.get("_id"))
        if not user_id:
            self.problems.append(RosterProblem(f"{where}: a subscription names no user id"))
            return
        creator = _id(record.get("creator"))
        if self.creator_id and creator and creator != self.creator_id:
            return  # another creator's subscription
        mango = _id(record.get("mango") or record.get("mangoId"))
        if self.mangoes and mango and mango not in self.mangoes:
            return  # a product the source does not read
        entry = self.fans.setdefault(user_id, _Fan())
        name = _text(fan.get("name")) or " ".join(
            _text(fan.get(key)) for key in ("firstName", "lastName") if _text(fan.get(key))
        )
        entry.name = entry.name or name
        entry.email = entry.email or _text(fan.get("email") or fan.get("emailId"))
        status = normal_status(record.get("status"))
        expires = _instant(record.get("expiredAt") or record.get("expiresAt"))
        if status == ACTIVE and expires is not None and expires <= self.now:
            status = EXPIRED  # still marked active, but its end has passed
        if status is None:
            entry.unknown = _text(record.get("status"))[:40] or repr(record.get("status"))
        elif status == ACTIVE:
            if mango and mango not in entry.active:
                entry.active.append(mango)
            elif not mango:
                entry.active.append("")
        elif entry.ended != EXPIRED:
            entry.ended = status

    def roster(self, origin: str, *, complete: bool) -> Roster:
        roster = Roster(origin, problems=list(self.problems), complete=complete)
        for user_id, fan in self.fans.items():
            mangoes = [m for m in fan.active if m]
            member, problem = check_member(user_id, fan.name, fan.email, mangoes)
            if member is None:
                roster.problems.append(RosterProblem(f"subscriber {user_id[:60]}: {problem}"))
            elif fan.active:
                roster.members.append(member)
            elif fan.unknown is not None:
                message = f"subscriber {user_id}: unknown subscription status {fan.unknown!r}"
                roster.problems.append(RosterProblem(message, user_id=user_id))
            else:
                roster.members.append(Member(**{**vars(member), "status": fan.ended or LEFT}))
        return roster


class TagMangoRoster:
    """Reads a TagMango creator's subscribers (see the module docstring)."""

    def __init__(
        self,
        config: TagMangoConfig,
        *,
        subscribers_path: str = SUBSCRIBERS_PATH,
        page_size: int = 100,
        max_pages: int = 500,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.subscribers_path = subscribers_path
        self.page_size, self.max_pages = page_size, max_pages
        self._now = now or (lambda: datetime.now(UTC))
        self.http = UpstreamHTTP(config.name, budget=api_key_budget(config.token))
        self.base = config.api_base.rstrip("/")

    def __enter__(self) -> TagMangoRoster:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.http.close()

    def _get(self, path: str, params: dict[str, str]) -> Any:
        headers = {
            "Authorization": f"Bearer {self.config.token}",
            "x-whitelabel-host": self.config.whitelabel_host,
            "x-timezone-offset": str(timezone_offset_minutes(self.config.timezone, self._now())),
            "Accept": "application/json",
        }
        return self.http.get_json(self.base + path, headers=headers, params=params)

    def creator_id(self) -> str:
        """The creator's id, from a call in the video-call list (two years around now)."""
        now = self._now()
        params = {
            "startDate": iso_utc(now - timedelta(days=365)),
            "endDate": iso_utc(now + timedelta(days=365)),
            "limit": "1",
            "page": "1",
        }
        for group in records_of(
            self._get(VIDEO_CALLS_PATH, params), "video-call", self.config.name
        ):
            calls = group.get("calls") if isinstance(group, dict) else None
            for call in calls if isinstance(calls, list) else []:
                creator = _id(call.get("creator")) if isinstance(call, dict) else ""
                if creator:
                    return creator
        raise UpstreamProtocolError(
            self.config.name,
            "no video call names the creator, so the creator id is unknown; give it with "
            "--creator-id",
        )

    def subscribers(self, creator_id: str) -> Roster:
        """Every subscriber of the creator (complete roster); RosterGone on a 404."""
        path = self.subscribers_path.replace("{creatorId}", quote(creator_id, safe=""))
        folded = Subscriptions(self._now(), self.config.mangoes, creator_id)
        first_size = None
        for page in range(1, self.max_pages + 1):
            try:
                body = self._get(path, {"page": str(page), "limit": str(self.page_size)})
            except UpstreamRequestError as error:
                if error.status == 404:
                    raise RosterGone(str(error)) from error
                raise
            records = records_of(body, "subscribers", self.config.name)
            for number, record in enumerate(records, 1):
                folded.add(record, f"subscribers page {page}, record {number}")
            first_size = first_size or len(records)
            if not records or _has_next(body) is False or len(records) < first_size:
                return folded.roster(f"TagMango {path}", complete=True)
        raise UpstreamProtocolError(
            self.config.name, f"the subscriber list goes on past {self.max_pages} pages"
        )

    def member(self, user_id: str) -> Roster:
        """One user's subscriptions (`/subscriptions/{userId}`, documented), as a roster of
        that user alone (not complete); a 404 (no such user) means they left."""
        path = USER_SUBSCRIPTIONS_PATH.replace("{userId}", quote(user_id, safe=""))
        folded = Subscriptions(self._now(), self.config.mangoes, None)
        origin = f"TagMango {USER_SUBSCRIPTIONS_PATH}"
        for page in range(1, self.max_pages + 1):
            try:
                body = self._get(path, {"page": str(page), "limit": str(self.page_size)})
            except UpstreamRequestError as error:
                if error.status != 404:
                    raise
                return Roster(origin, [Member(user_id, status=LEFT)], complete=False)
            records = records_of(body, "subscriptions", self.config.name)
            for number, record in enumerate(records, 1):
                if isinstance(record, dict) and not (record.get("fan") or record.get("user")):
                    record = {**record, "userId": user_id}  # the path names the user
                folded.add(record, f"subscriptions of {user_id}, record {number}")
            if not records or _has_next(body) is False or len(records) < self.page_size:
                break
        roster = folded.roster(origin, complete=False)
        if not any(m.user_id == user_id for m in roster.members) and not roster.problems:
            roster.members.append(Member(user_id, status=LEFT))  # no subscription at all
        return roster


def trainercentral_roster(client: TrainerCentralClient, *, max_pages: int = 500) -> Roster:
    """The academy's learners; the attendees of its sessions when portalMembers is refused."""
    try:
        return _learners(client, max_pages)
    except UpstreamRequestError as error:
        if error.status not in (403, 404):
            raise
        roster = _attendees(client, max_pages)
        roster.notes.append(
            f"portalMembers.json was refused ({error.status}): the roster is the attendees "
            "(sessionMembers with role 3) of the academy's upcoming sessions instead"
        )
        return roster


def _walk(
    client: TrainerCentralClient,
    path: str,
    params: dict[str, str],
    max_pages: int,
    read: Callable[[Any], int],
) -> None:
    """Read every page of a limit/si listing: `read` takes in a page and says how far `si`
    moves on (0: the page was empty, which proves the end)."""
    limit, start = client.config.page_size, 0
    for _ in range(max_pages):
        step = read(client.get_api(path, {**params, "limit": str(limit), "si": str(start)}))
        if not step:
            return
        start += step
    raise UpstreamProtocolError(client.config.name, f"{path} goes on past {max_pages} pages")


def _learners(client: TrainerCentralClient, max_pages: int) -> Roster:
    roster = Roster(f"TrainerCentral {PORTAL_MEMBERS}?type={LEARNERS}")
    seen: set[str] = set()

    def read(body: Any) -> int:
        records = records_of(body or [], "portalMembers", client.config.name)
        for record in records:
            _add_person(roster, seen, record, ("userId", "zuid", "id"), ("emailId", "email"))
        return len(records)

    _walk(client, PORTAL_MEMBERS, {"type": LEARNERS}, max_pages, read)
    return roster


def _attendees(client: TrainerCentralClient, max_pages: int) -> Roster:
    roster = Roster("TrainerCentral talks.json sessionMembers (attendees)")
    seen: set[str] = set()

    def read(body: Any) -> int:
        if not isinstance(body, dict):
            raise UpstreamProtocolError(client.config.name, "talks.json is not a JSON object")
        members = body.get("sessionMembers")
        for record in members if isinstance(members, list) else []:
            if isinstance(record, dict) and _text(record.get("role")) == ATTENDEE:
                _add_person(roster, seen, record, ("userId",), ("emailId", "email"))
        counts = [len(body.get(k) or []) for k in ("sessions", "talks")]
        return min((c for c in counts if c), default=0)  # never past an item not read

    _walk(client, "talks.json", {"filter": client.config.filter}, max_pages, read)
    return roster


def _add_person(
    roster: Roster,
    seen: set[str],
    record: Any,
    id_keys: tuple[str, ...],
    mail_keys: tuple[str, ...],
) -> None:
    if not isinstance(record, dict):
        roster.problems.append(RosterProblem("a member record is not an object"))
        return
    user_id = next((_id(record[k]) for k in id_keys if _id(record.get(k))), "")
    if user_id in seen:
        return
    name = _text(record.get("name")) or " ".join(
        _text(record.get(k)) for k in ("firstName", "lastName") if _text(record.get(k))
    )
    email = next((_text(record[k]) for k in mail_keys if _text(record.get(k))), "")
    member, problem = check_member(user_id, name, email, ())
    if member is None:
        roster.problems.append(RosterProblem(f"member {user_id[:60] or '?'}: {problem}"))
        return
    seen.add(user_id)
    roster.members.append(member)
