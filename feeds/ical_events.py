"""What each VEVENT says: UIDs, scoped texts, join links, times, in a fixed property order.

Builds `feeds.ical_text` components for single sessions, series masters and their overrides,
and the calendar header. Both serialisers (the fast one and the icalendar reference) write
exactly these components, so everything a feed contains is decided here:
- UID: `<platform>-<upstream id>@<domain>` for a session, `<platform>-series-<key>@<domain>`
  for a series (stable across refreshes);
- DTSTAMP = LAST-MODIFIED = `Session.changed_at` (the latest over a series), or
  `UNKNOWN_CHANGE_TIME` when unknown, never the clock; SEQUENCE likewise (max over a series);
- times in the feed zone (TZID) or UTC; a single event whose wall-clock time is ambiguous
  (the repeated hour when clocks go back) is written in UTC so it cannot be misread;
- join links only from `join_url(uid)`; the raw meeting URL is never written (it is also
  replaced in upstream titles and descriptions);
- scopes: FULL shows everything, NO_LINKS drops links and e-mail addresses, BUSY shows only
  "Busy" with the platform.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from feeds.ical_text import Component, Kind, Prop
from feeds.model import CONTROL_CHARACTERS, Scope, Session, SourceKind
from feeds.series import WEEKDAY_CODES, Frequency, Series, local_is_unambiguous

__all__ = [
    "PRODID",
    "UNKNOWN_CHANGE_TIME",
    "RenderContext",
    "calendar_component",
    "content_key",
    "series_events",
    "series_uid",
    "session_uid",
    "single_event",
    "single_uid",
    "uses_zone",
]

PRODID = "-//calbridge//Live session feed//EN"
# DTSTAMP/LAST-MODIFIED of a session whose change time is unknown: fixed so the bytes stay stable.
UNKNOWN_CHANGE_TIME = datetime(2000, 1, 1, tzinfo=UTC)
UNTITLED = "Untitled session"
BUSY = "Busy"
CANCELLED_PREFIX = "Cancelled: "
RECORDING_LABEL = "Watch the recording"  # the replay line of a session that has ended
_LINK_REMOVED = "[link removed]"
_LINK_PLACEHOLDER = "\x00link"  # stands for the join link while comparing occurrences

_SURROGATES = re.compile(r"[\ud800-\udfff]")
_URI_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\"<>\\^`{|}]")
_EMAIL = re.compile(r"[^\s@<>\"(),:;\[\]\\]+@[^\s@<>\"(),:;\[\]\\]+")
_PLATFORM_NAMES = {
    "tagmango": "TagMango",
    "trainercentral": "TrainerCentral",
    "zoom": "Zoom",
    "google-meet": "Google Meet",
    "googlemeet": "Google Meet",
    "teams": "Microsoft Teams",
}


@dataclass(frozen=True, slots=True)
class RenderContext:
    """The options that change what an event says (hashable: part of the render cache key)."""

    zone: tzinfo  # the feed's ZoneInfo, or datetime.UTC when times are written in UTC
    scope: Scope
    alarm_minutes: int | None
    uid_domain: str
    join_url: Callable[[str], str] | None

    def join_link(self, uid: str, session: Session) -> str | None:
        if self.scope is not Scope.FULL or self.join_url is None or not session.meeting_url:
            return None
        link = self.join_url(uid)
        if not isinstance(link, str) or not link or _URI_FORBIDDEN.search(link):
            raise ValueError(f"join_url({uid!r}) returned {link!r}, which is not a usable URI")
        return link


@dataclass(frozen=True, slots=True)
class _Fields:
    """The texts of one instance (everything but its times and identity)."""

    summary: str
    description: str | None
    location: str
    link: str | None
    organizer: tuple[str | None, str] | None  # (CN, mailto: URI)
    categories: tuple[str, ...]


def session_uid(kind: SourceKind, upstream_id: str, uid_domain: str) -> str:
    """The UID of a single session's event (also what the change log reports)."""
    return f"{kind.value}-{upstream_id}@{uid_domain}"


def single_uid(session: Session, ctx: RenderContext) -> str:
    return session_uid(session.source_kind, session.upstream_id, ctx.uid_domain)


def series_uid(kind: SourceKind, series_key: str, ctx: RenderContext) -> str:
    return f"{kind.value}-series-{series_key}@{ctx.uid_domain}"


def content_key(session: Session, ctx: RenderContext) -> Hashable:
    """What an occurrence shows besides its times; occurrences of a series differing here
    become RECURRENCE-ID overrides. The link counts by its target, since the join link of
    every occurrence of a series is the same (it is made from the series UID)."""
    has_link = ctx.scope is Scope.FULL and ctx.join_url is not None and bool(session.meeting_url)
    fields = _fields(session, ctx, _LINK_PLACEHOLDER if has_link else None, cancelled=False)
    return (fields, session.meeting_url if has_link else None)


def uses_zone(ctx: RenderContext, start: datetime, end: datetime) -> bool:
    """Whether a single event with these instants is written with the feed's TZID."""
    return _span(start, end, ctx)[0].tzinfo is not UTC


def single_event(session: Session, ctx: RenderContext) -> Component:
    """One VEVENT for one session; a cancelled one is a "Cancelled: " tombstone."""
    uid = single_uid(session, ctx)
    cancelled = session.cancelled
    link = None if cancelled else ctx.join_link(uid, session)
    fields = _fields(session, ctx, link, cancelled=cancelled)
    start, end = _span(session.start, session.end, ctx)
    return _event(
        uid,
        fields,
        stamp=_stamp((session,)),
        sequence=session.sequence,
        times=[_dt("DTSTART", start), _dt("DTEND", end)],
        cancelled=cancelled,
        ctx=ctx,
    )


def series_events(uid: str, series: Series, ctx: RenderContext) -> list[Component]:
    """The master VEVENT (RRULE, EXDATE) followed by its RECURRENCE-ID overrides."""
    members = series.members
    stamp = _stamp(members)
    sequence = max(s.sequence for s in members)
    times = [
        _dt("DTSTART", _zoned(series.start, ctx)),
        _dt("DTEND", _zoned(series.start + series.duration, ctx)),
        Prop("RRULE", Kind.RECUR, _rrule(series)),
    ]
    if series.exdates:
        times.append(
            Prop("EXDATE", Kind.DATETIMES, tuple(_zoned(moment, ctx) for moment in series.exdates))
        )
    template = series.template
    events = [
        _event(
            uid,
            _fields(template, ctx, ctx.join_link(uid, template), cancelled=False),
            stamp=stamp,
            sequence=sequence,
            times=times,
            cancelled=False,
            ctx=ctx,
        )
    ]
    for override in series.overrides:
        session = override.session
        start, end = _span(session.start, session.end, ctx)
        events.append(
            _event(
                uid,
                _fields(session, ctx, ctx.join_link(uid, session), cancelled=False),
                stamp=stamp,
                sequence=sequence,
                times=[_dt("DTSTART", start), _dt("DTEND", end)],
                cancelled=False,
                ctx=ctx,
                recurrence_id=_zoned(override.recurrence_id, ctx),
            )
        )
    return events


def calendar_component(
    *,
    name: str | None,
    description: str | None,
    timezone_name: str | None,
    refresh_interval: timedelta | None,
) -> Component:
    """The VCALENDAR with its properties (no subcomponents). `name` None: a one-event download."""
    props = [
        Prop("VERSION", Kind.TEXT, "2.0"),
        Prop("PRODID", Kind.TEXT, PRODID),
        Prop("CALSCALE", Kind.TEXT, "GREGORIAN"),
    ]
    if name is not None:
        # NAME is RFC 7986; Google and Outlook read X-WR-CALNAME. Each is written exactly once.
        props.append(Prop("NAME", Kind.TEXT, clean_text(name)))
        props.append(Prop("X-WR-CALNAME", Kind.TEXT, clean_text(name)))
    if description:
        props.append(Prop("DESCRIPTION", Kind.TEXT, clean_text(description)))
        props.append(Prop("X-WR-CALDESC", Kind.TEXT, clean_text(description)))
    if timezone_name is not None:
        # Safe only because every time in the feed is absolute (TZID or UTC, never floating).
        props.append(Prop("X-WR-TIMEZONE", Kind.TEXT, timezone_name))
    if refresh_interval is not None:
        props.append(
            Prop("REFRESH-INTERVAL", Kind.DURATION, refresh_interval, (("VALUE", "DURATION"),))
        )
        props.append(Prop("X-PUBLISHED-TTL", Kind.DURATION, refresh_interval))
    return Component("VCALENDAR", props)


def clean_text(text: str) -> str:
    """Text as it can be written: no control characters (but tab and newline), CR/LF → LF,
    lone surrogates (undecodable input) → U+FFFD."""
    if text.isprintable():  # the common case: nothing to clean
        return text
    text = CONTROL_CHARACTERS.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        text = _SURROGATES.sub("\ufffd", text)
    return text


def platform_label(session: Session) -> str:
    raw = clean_text((session.platform or "").strip()) or session.source_kind.value
    return _PLATFORM_NAMES.get(raw.lower(), raw)


# --- internals -------------------------------------------------------------------------------


def _fields(session: Session, ctx: RenderContext, link: str | None, *, cancelled: bool) -> _Fields:
    platform = platform_label(session)
    if ctx.scope is Scope.BUSY:
        summary = BUSY
        return _Fields(
            summary=CANCELLED_PREFIX + summary if cancelled else summary,
            description=None,
            location=platform,
            link=None,
            organizer=None,
            categories=(platform,),
        )
    summary = _without_meeting_url(clean_text(session.title), session, link)
    if not summary.strip():
        summary = UNTITLED
    if cancelled:
        summary = CANCELLED_PREFIX + summary
    product = clean_text(session.product_title or "").strip()
    organizer_name = clean_text(session.organizer_name or "").strip() or None
    parts = []
    if link:
        parts.append(f"Join: {link}")
    details = _without_meeting_url(clean_text(session.description).strip(), session, link)
    if details:
        parts.append(details)
    if product:
        parts.append(f"Product: {product}")
    if session.recording_url and ctx.scope is Scope.FULL:
        parts.append(f"{RECORDING_LABEL}: {session.recording_url}")
    if organizer_name:
        parts.append(f"Organizer: {organizer_name}")
    organizer = None
    email = (session.organizer_email or "").strip()
    if ctx.scope is Scope.FULL and email and _EMAIL.fullmatch(email):
        organizer = (organizer_name, f"mailto:{email}")
    categories = tuple(dict.fromkeys(c for c in (platform, product) if c))
    return _Fields(
        summary=summary,
        description="\n\n".join(parts) or None,
        location=link or platform,
        link=link,
        organizer=organizer,
        categories=categories,
    )


def _without_meeting_url(text: str, session: Session, link: str | None) -> str:
    """Upstream text with the raw meeting URL replaced by the join link (or a marker)."""
    if session.meeting_url and session.meeting_url in text:
        return text.replace(session.meeting_url, link or _LINK_REMOVED)
    return text


def _event(
    uid: str,
    fields: _Fields,
    *,
    stamp: datetime,
    sequence: int,
    times: list[Prop],
    cancelled: bool,
    ctx: RenderContext,
    recurrence_id: datetime | None = None,
) -> Component:
    props = [Prop("UID", Kind.TEXT, uid)]
    if recurrence_id is not None:
        props.append(_dt("RECURRENCE-ID", recurrence_id))
    props.append(Prop("DTSTAMP", Kind.DATETIME, stamp))
    props.append(Prop("LAST-MODIFIED", Kind.DATETIME, stamp))
    props.append(Prop("SEQUENCE", Kind.INTEGER, sequence))
    props.extend(times)
    props.append(Prop("STATUS", Kind.TEXT, "CANCELLED" if cancelled else "CONFIRMED"))
    props.append(Prop("SUMMARY", Kind.TEXT, fields.summary))
    if fields.description:
        props.append(Prop("DESCRIPTION", Kind.TEXT, fields.description))
    props.append(Prop("LOCATION", Kind.TEXT, fields.location))
    if fields.link:
        props.append(Prop("URL", Kind.URI, fields.link))
        props.append(
            Prop(
                "CONFERENCE",
                Kind.URI,
                fields.link,
                (("VALUE", "URI"), ("FEATURE", "VIDEO"), ("LABEL", "Join")),
            )
        )
    if fields.organizer is not None:
        name, address = fields.organizer
        props.append(Prop("ORGANIZER", Kind.ADDRESS, address, (("CN", name),) if name else ()))
    if fields.categories:
        props.append(Prop("CATEGORIES", Kind.CATEGORIES, fields.categories))
    event = Component("VEVENT", props)
    if ctx.alarm_minutes is not None and not cancelled:
        event.subcomponents.append(
            Component(
                "VALARM",
                [
                    Prop("ACTION", Kind.TEXT, "DISPLAY"),
                    Prop("DESCRIPTION", Kind.TEXT, fields.summary),
                    Prop("TRIGGER", Kind.DURATION, timedelta(minutes=-ctx.alarm_minutes)),
                ],
            )
        )
    return event


def _dt(name: str, value: datetime) -> Prop:
    return Prop(name, Kind.DATETIME, value)


def _zoned(instant: datetime, ctx: RenderContext) -> datetime:
    return instant if ctx.zone is UTC else instant.astimezone(ctx.zone)


def _span(start: datetime, end: datetime, ctx: RenderContext) -> tuple[datetime, datetime]:
    """Start and end in the feed zone, or both in UTC when either wall time is ambiguous."""
    if ctx.zone is UTC:
        return start, end
    local_start, local_end = start.astimezone(ctx.zone), end.astimezone(ctx.zone)
    if local_is_unambiguous(local_start) and local_is_unambiguous(local_end):
        return local_start, local_end
    return start, end


def _stamp(sessions: tuple[Session, ...]) -> datetime:
    latest = max(s.changed_at or UNKNOWN_CHANGE_TIME for s in sessions)
    return latest.replace(microsecond=0)


def _rrule(series: Series) -> tuple[tuple[str, object], ...]:
    rule = series.rule
    parts: list[tuple[str, object]] = [("FREQ", rule.frequency.value), ("UNTIL", series.until)]
    if rule.interval > 1:
        parts.append(("INTERVAL", rule.interval))
    if rule.frequency is Frequency.WEEKLY:
        parts.append(("BYDAY", tuple(WEEKDAY_CODES[d] for d in rule.weekdays)))
    return tuple(parts)
