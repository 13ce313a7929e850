"""The TrainerCentral simulator's records and its seeded academy (deterministic for a `now`).

`SimSession`, `SimTalk` and `SimMember` hold the data; their `to_json` writes the documented
talks.json shape, every value a string. `seed_academy(now)` builds an academy that exercises
what a feed must get right: a weekly workshop at 19:00 Berlin time long enough to cross a DST
change, a daily series with one cancelled and one deleted talk, single workshops (HTML
descriptions, unicode and punctuation in titles, one without a join link, one cancelled as a
whole, one run by another speaker that only `filter=5` lists), 60+ talks in all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bridge.simulator.zoho import ZohoAccountsSimulator

ACADEMY = "https://zylkeracademy.trainercentral.com"
OWNER = ZohoAccountsSimulator.DEFAULT_USER_ID
GUEST = "90000000002"


def ms(when: datetime) -> str:
    """An instant as TrainerCentral writes it: epoch milliseconds, as a string."""
    return str(int(when.timestamp() * 1000))


@dataclass(frozen=True)
class SimMember:
    user_id: str
    name: str
    email: str
    role: str  # "0" admin, "1" speaker, "3" attendee, "4" guest presenter

    def to_json(self, org_id: str, session_id: str, index: int) -> dict[str, str]:
        member_id = f"{session_id}{index:02d}"
        return {
            "country": "IN",
            "amount": "0.0",
            "role": self.role,
            "encryptedSessionMemberId": _key("member", member_id),
            "session": session_id,
            "sessionMemberId": member_id,
            "language": "en",
            "emailId": self.email,
            "source": "0",
            "sessionId": session_id,
            "presenterImageUrl": f"/api/v4/{org_id}/materials/image/{member_id}.json",
            "userId": self.user_id,
            "orgId": org_id,
            "name": self.name,
            "createdTime": "1643622010135",
            "lastUpdatedTime": "1643622010135",
            "time": "1643622010135",
            "id": member_id,
            "paymentStatus": "6",
            "status": "0",
        }


@dataclass(frozen=True)
class SimSession:
    id: str
    name: str
    timezone: str
    description: str = ""
    recurring_type: str = "0"
    join_url: str | None = None
    owner: str = OWNER
    members: tuple[SimMember, ...] = ()
    cancelled: bool = False
    deleted_at: datetime | None = None

    def runs(self, user_id: str | None) -> bool:
        """Whether `user_id` is an admin or speaker of this session (what filter=1 lists)."""
        return any(m.user_id == user_id and m.role in ("0", "1") for m in self.members)

    def to_json(self, org_id: str, first_talk: SimTalk) -> dict[str, Any]:
        base = f"/api/v4/{org_id}/session/{self.id}"
        body: dict[str, Any] = {
            "sessionIndex": "0",
            "timezone": self.timezone,
            "description": self.description,
            "isPaidActiveTicketAvailable": "false",
            "orgId": org_id,
            "formattedTotalRevenue": "Rs.0",
            "protoFlag": "1",
            "recurringType": self.recurring_type,
            "descriptionId": f"{self.id}9",
            "deliveryMode": "3",
            "sessionType": "1",
            "createdTime": "1643622010125",
            "links": {
                "tickets": f"{base}/tickets.json",
                "recentTalks": f"{base}/recentTalks.json",
                "sessionSettings": f"{base}/sessionSettings.json",
            },
            "scheduledBy": self.owner,
            "id": self.id,
            "totalRevenue": "0.0",
            "deletedTime": ms(self.deleted_at) if self.deleted_at else "-1",
            "isCancelled": "true" if self.cancelled else "false",
            "publishStatus": "0",
            "registeredCount": "0",
            "invitedCount": "0",
            "isFeaturedLesson": "false",
            "scheduledTime": ms(first_talk.start),
            "kind": "0",
            "uniqueKey": _key("session", self.id),
            "isRepublishNeeded": "false",
            "scheduledEndTime": ms(first_talk.end),
            "sessionId": self.id,
            "attendedCount": "0",
            "referrer": "1",
            "sessionState": "0",
            "scheduleType": "0",
            "name": self.name,
            "zaid": "700000001",
            "time": "1643622010182",
        }
        if self.join_url:
            body["joinURL"] = self.join_url
        return body


@dataclass(frozen=True)
class SimTalk:
    id: str
    session_id: str
    start: datetime
    end: datetime
    name: str | None = None  # None: the session's name, as TrainerCentral repeats it
    join_url: str | None = None
    cancelled: bool = False
    deleted_at: datetime | None = None
    malformed: bool = False

    def to_json(self, org_id: str, session: SimSession) -> dict[str, Any]:
        base = f"/api/v4/{org_id}/talk/{self.id}"
        body: dict[str, Any] = {
            "session": self.session_id,
            "orgId": org_id,
            "formattedTotalRevenue": "Rs.0",
            "deliveryMode": "3",
            "sessionType": "1",
            "links": {
                "talkTimings": f"{base}/talkTimings.json",
                "recordings": f"{base}/recordings.json",
            },
            "id": self.id,
            "totalRevenue": "0.0",
            "talkId": self.id,
            "registeredCount": "0",
            "owner": session.owner,
            "scheduledTime": "not-a-time" if self.malformed else ms(self.start),
            "scheduledEndTime": ms(self.end),
            "sessionId": self.session_id,
            "totalSlides": "0",
            "name": self.name or session.name,
            "audienceCount": "0",
            "status": "1",
            "isCancelled": "true" if self.cancelled else "false",
            "deletedTime": ms(self.deleted_at) if self.deleted_at else "-1",
        }
        if self.join_url:
            body["joinURL"] = self.join_url
        return body


def seed_academy(now: datetime) -> tuple[list[SimSession], list[SimTalk]]:
    """The seeded academy: sessions and their talks, all upcoming relative to `now`."""
    owner_admin = SimMember(OWNER, "Asha Rao", "asha@zylker.example", "0")
    owner_speaker = SimMember(OWNER, "Asha Rao", "asha@zylker.example", "1")
    attendee = SimMember("90000000009", "Lea Attendee", "lea@learner.example", "3")
    sessions: list[SimSession] = []
    talks: list[SimTalk] = []
    serial = iter(range(1, 10_000))

    def add(session: SimSession, slots: list[tuple[datetime, datetime]], **talk_kw: Any) -> None:
        sessions.append(session)
        for start, end in slots:
            talk_id = f"3{int(session.id[-3:]):03d}{next(serial):06d}00"
            talks.append(SimTalk(talk_id, session.id, start, end, join_url=session.join_url))

    def join(session_id: str) -> str:
        return f"{ACADEMY}/meeting/register/{_key('join', session_id)[:12]}"

    berlin = SimSession(
        "1900000000000101",
        "Deutsch am Abend: Konversation (B1)",
        "Europe/Berlin",
        "<p>Wöchentliche Konversationsrunde für Fortgeschrittene.</p>"
        "<p>Material: <a href='https://example.org/arbeitsblatt'>Arbeitsblatt</a> &amp; Vokabeln"
        "</p><ul><li>Sprechen</li><li>Hören</li></ul>",
        recurring_type="2",
        join_url=join("101"),
        members=(SimMember(OWNER, "Jürgen Müller", "juergen@zylker.example", "1"), owner_admin),
    )
    # 32 weekly occurrences: the gap between two DST changes is at most 31 weeks.
    add(berlin, _weekly(now, "Europe/Berlin", weekday=1, at=time(19), minutes=90, count=32))

    yoga = SimSession(
        "1900000000000102",
        "Morning Yoga Flow",
        "Asia/Kolkata",
        "Gentle flow.\nBring a mat.",
        recurring_type="1",
        join_url=join("102"),
        members=(owner_admin, SimMember(OWNER, "Priya Nair", "priya@zylker.example", "1")),
    )
    add(yoga, _daily(now, "Asia/Kolkata", at=time(7), minutes=45, count=21))
    yoga_talks = [t for t in talks if t.session_id == yoga.id]
    talks[talks.index(yoga_talks[4])] = replace(yoga_talks[4], cancelled=True)
    talks[talks.index(yoga_talks[9])] = replace(yoga_talks[9], deleted_at=now)

    clinic = SimSession(
        "1900000000000103",
        "Evening Maths Clinic",
        "America/New_York",
        "<div>Bring your <b>homework</b>.<br>Questions welcome!</div>",
        recurring_type="2",
        join_url=join("103"),
        members=(owner_speaker, attendee),
    )
    add(clinic, _weekly(now, "America/New_York", weekday=3, at=time(18), minutes=60, count=8))

    singles = [
        SimSession(
            "1900000000000104",
            "Café & Crème — ½-day «Masterclass»: Q&A? 日本語 🎉",
            "America/New_York",
            "<h2>Agenda</h2><p>Espresso &amp; latte art &mdash; with <i>“quotes”</i>, "
            "commas, semicolons; and a backslash \\.</p>",
            join_url=join("104"),
            members=(owner_speaker, attendee),
        ),
        SimSession(
            "1900000000000105",
            "Office hours (no link yet)",
            "UTC",
            "",
            members=(owner_admin,),
        ),
        SimSession(
            "1900000000000106",
            "Portfolio review",
            "Asia/Kolkata",
            "<p>Cancelled by the speaker.</p>",
            join_url=join("106"),
            members=(owner_speaker,),
            cancelled=True,
        ),
        SimSession(
            "1900000000000107",
            'Intro to Python, part 1/3: "basics"; commas, too',
            "Asia/Kolkata",
            "<p>Line one</p><p>Line two with <a href='https://docs.python.org/'>the docs</a></p>",
            join_url=join("107"),
            members=(owner_speaker, owner_admin),
        ),
        SimSession(
            "1900000000000108",
            "Guest workshop: Storytelling",
            "Europe/London",
            "Run by a guest speaker.",
            join_url=join("108"),
            owner=GUEST,
            members=(SimMember(GUEST, "Bruno Guest", "bruno@guest.example", "1"),),
        ),
        SimSession(
            "1900000000000109",
            "Deadline sprint (Sydney)",
            "Australia/Sydney",
            "",
            join_url=join("109"),
            members=(owner_speaker,),
        ),
    ]
    for offset, session in enumerate(singles):
        start = _local(now, session.timezone, days=3 + 4 * offset, at=time(10, 30))
        add(session, [(start, start + timedelta(hours=2))])
    return sessions, talks


def _weekly(
    now: datetime, zone: str, *, weekday: int, at: time, minutes: int, count: int
) -> list[tuple[datetime, datetime]]:
    tz = ZoneInfo(zone)
    first = now.astimezone(tz).date() + timedelta(days=1)
    first += timedelta(days=(weekday - first.weekday()) % 7)
    return [_slot(first + timedelta(weeks=n), at, tz, minutes) for n in range(count)]


def _daily(
    now: datetime, zone: str, *, at: time, minutes: int, count: int
) -> list[tuple[datetime, datetime]]:
    tz = ZoneInfo(zone)
    first = now.astimezone(tz).date() + timedelta(days=1)
    return [_slot(first + timedelta(days=n), at, tz, minutes) for n in range(count)]


def _local(now: datetime, zone: str, *, days: int, at: time) -> datetime:
    tz = ZoneInfo(zone)
    day = now.astimezone(tz).date() + timedelta(days=days)
    return datetime.combine(day, at, tz).astimezone(UTC)


def _slot(day: date, at: time, tz: ZoneInfo, minutes: int) -> tuple[datetime, datetime]:
    start = datetime.combine(day, at, tz).astimezone(UTC)
    return start, start + timedelta(minutes=minutes)


def _key(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]
