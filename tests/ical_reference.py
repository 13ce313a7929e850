"""The reference serialiser: a feed's components written through the icalendar library.

`render_feed_icalendar` builds real `icalendar.Calendar`/`Event`/`Alarm` objects from
`feeds.ical.feed_parts` and calls `to_ical(sorted=False)`; the tests require its bytes to equal
`feeds.ical.render_feed`'s (the fast path, `feeds.ical_text`). Much slower, and not shipped: it
is the proof that the fast path writes what icalendar writes. Properties keep the insertion
order chosen in `feeds.ical_events` (`sorted=False`) rather than icalendar's sorted order, so
both paths share one fixed order.
"""

from __future__ import annotations

from collections.abc import Iterable

from icalendar import Alarm, Calendar, Event
from icalendar import Component as ICalComponent
from icalendar.prop import vCalAddress, vCategory, vDuration, vRecur, vText, vUri

from feeds.ical import FeedOptions, feed_parts
from feeds.ical_text import Component, Kind, Prop
from feeds.model import Session

__all__ = ["render_feed_icalendar", "to_icalendar"]

_COMPONENT_TYPES: dict[str, type[ICalComponent]] = {
    "VCALENDAR": Calendar,
    "VEVENT": Event,
    "VALARM": Alarm,
}


class _Text(vText):
    r"""icalendar's TEXT, except that a literal backslash-N survives.

    icalendar's escaper first rewrites the two characters `\N` into a line break (it treats
    them as an already escaped newline), which silently changes upstream text such as
    `C:\New`. The text is split around them, each piece escaped by icalendar itself, and the
    backslash written escaped (`\\N`), as RFC 5545 §3.3.11 asks.
    """

    def to_ical(self) -> bytes:
        if "\\N" not in self:
            return super().to_ical()
        return b"\\\\N".join(vText(piece).to_ical() for piece in str(self).split("\\N"))


def to_icalendar(component: Component) -> ICalComponent:
    """An icalendar component (with subcomponents) holding the same properties, in order."""
    result = _COMPONENT_TYPES[component.name]()
    for prop in component.props:
        result.add(prop.name, _value(prop), parameters=dict(prop.params) or None)
    for sub in component.subcomponents:
        result.add_component(to_icalendar(sub))
    return result


def _value(prop: Prop) -> object:
    kind, value = prop.kind, prop.value
    if kind is Kind.TEXT:
        return _Text(value)
    if kind is Kind.URI:
        return vUri(value)
    if kind is Kind.DATETIME or kind is Kind.INTEGER:
        return value  # icalendar picks vDDDTypes (TZID from the ZoneInfo) / vInt
    if kind is Kind.DATETIMES:
        return list(value)  # type: ignore[call-overload]
    if kind is Kind.RECUR:
        return vRecur({part: list(v) if isinstance(v, tuple) else v for part, v in value})  # type: ignore[attr-defined]
    if kind is Kind.DURATION:
        return vDuration(value)
    if kind is Kind.ADDRESS:
        return vCalAddress(value)
    if kind is Kind.CATEGORIES:
        categories = vCategory([])
        categories.cats = [_Text(c) for c in value]  # type: ignore[attr-defined]
        return categories
    raise TypeError(kind)  # pragma: no cover - Kind is closed


def render_feed_icalendar(sessions: Iterable[Session], options: FeedOptions) -> bytes:
    """The feed `feeds.ical.render_feed` writes, written by icalendar instead."""
    parts = feed_parts(sessions, options)
    calendar = to_icalendar(parts.header)
    if parts.vtimezone is not None:
        calendar.add_component(parts.vtimezone)
    for event in parts.events:
        calendar.add_component(to_icalendar(event))
    return calendar.to_ical(sorted=False)
