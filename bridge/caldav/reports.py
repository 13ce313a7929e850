"""PROPFIND answers and the three REPORTs: calendar-query, calendar-multiget, sync-collection.

Every function here takes a parsed request body and the login's `Calendar` (or the property
table of a resource) and returns the multistatus element to send; refusals are `DavError`s.
Filters (RFC 4791 §9.7) support what clients send: the VCALENDAR/VEVENT comp-filters with a
time-range (a series matches when any occurrence does, §9.9), is-not-defined, a VALARM
comp-filter, and prop-filters with is-not-defined or a text-match (i;ascii-casemap, i;octet,
i;unicode-casemap, negate-condition). Anything else is refused with CALDAV:supported-filter,
as §7.7 allows, rather than answered wrongly.

Calendar data is sent whole: CALDAV:expand and limit-recurrence-set are not applied (clients
expand the series themselves), nor partial calendar-data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import icalendar
from lxml import etree

from bridge.feed_views import FeedView
from bridge.store.caldav_queries import SyncChanges, SyncTokenExpired
from feeds.calendar_objects import CalendarListing, CalendarObject, overlaps

from .resources import (
    NOT_IN_ALLPROP,
    Calendar,
    Property,
    display_name,
    object_properties,
    principal_path,
    principal_properties,
)
from .xml import CALDAV, DAV, DavError, PropertyAnswer, multistatus, requested_properties, tag

PropertySource = tuple[str, dict[str, Property]]  # a resource's href and property table
# (since, listing) → the collection's changes after `since`, with `listing` recorded
ChangesSince = Callable[[int, CalendarListing], SyncChanges]


def property_answer(
    href: str, props: dict[str, Property], requested: list[str] | None, *, names: bool = False
) -> PropertyAnswer:
    """The resource's values of the `requested` properties (None: allprop), or with `names`
    (propname) just the names of all it has."""
    answer = PropertyAnswer(href)
    if names:
        answer.found = [etree.Element(name) for name in props]
        return answer
    for name in requested if requested is not None else props:
        if requested is None and name in NOT_IN_ALLPROP:
            continue
        getter = props.get(name)
        value = getter() if getter is not None else None
        if value is not None:
            answer.found.append(value)
        else:
            answer.missing.append(name)
    return answer


def propfind(body: etree._Element | None, resources: list[PropertySource]) -> etree._Element:
    if body is not None and body.tag != tag(DAV, "propfind"):
        raise DavError(400, "A PROPFIND body must be a DAV:propfind element.")
    names = body is not None and body.find(tag(DAV, "propname")) is not None
    requested = requested_properties(body)
    return multistatus(
        property_answer(href, props, requested, names=names) for href, props in resources
    )


def principal_search(body: etree._Element | None, user: str, view: FeedView) -> etree._Element:
    """RFC 3744 principal-property-search, as clients look themselves up: the login's own
    principal when every match is found in its display name or username (other logins'
    principals are never listed), with the display name and calendar home always included
    (the `caldav` library asks for them outside DAV:prop)."""
    if body is None or body.tag != tag(DAV, "principal-property-search"):
        raise DavError(
            403, "Only principal-property-search is answered here.", tag(DAV, "supported-report")
        )
    names = (display_name(view).casefold(), user.casefold())
    matches = [(m.text or "").casefold() for m in body.iter(tag(DAV, "match"))]
    if not all(any(match in name for name in names) for match in matches):
        return multistatus([])
    requested = [tag(DAV, "displayname"), tag(CALDAV, "calendar-home-set")]
    requested += [name for name in requested_properties(body) or () if name not in requested]
    answer = property_answer(principal_path(user), principal_properties(user, view), requested)
    return multistatus([answer])


def report(
    body: etree._Element | None, calendar: Calendar | None, changes: ChangesSince
) -> etree._Element:
    """The answer to a REPORT on the calendar collection (None: on another resource);
    `changes` reads the collection's sync log."""
    if body is None:
        raise DavError(400, "A REPORT needs a body naming the report.")
    handler = _REPORTS.get(body.tag)
    if handler is None:
        raise DavError(
            403, f"The report {body.tag} is not supported here.", tag(DAV, "supported-report")
        )
    if calendar is None:
        raise DavError(
            403, "Reports are answered on the calendar collection.", tag(DAV, "supported-report")
        )
    if handler is sync_collection:
        return sync_collection(body, calendar, changes)
    return handler(body, calendar)


def _object_answer(
    calendar: Calendar, obj: CalendarObject, requested: list[str] | None
) -> PropertyAnswer:
    return property_answer(calendar.object_path(obj.uid), object_properties(obj), requested)


def calendar_query(body: etree._Element, calendar: Calendar) -> etree._Element:
    test = _filter(body.find(tag(CALDAV, "filter")))
    requested = requested_properties(body)
    return multistatus(
        _object_answer(calendar, obj, requested) for obj in calendar.objects.values() if test(obj)
    )


def calendar_multiget(body: etree._Element, calendar: Calendar) -> etree._Element:
    requested = requested_properties(body)
    found, gone = [], []
    for node in body.iter(tag(DAV, "href")):
        path = unquote(urlsplit((node.text or "").strip()).path)
        obj = calendar.object_at(path) if path.startswith(calendar.path) else None
        if obj is None:
            gone.append((node.text or "").strip())
        else:
            found.append(_object_answer(calendar, obj, requested))
    return multistatus(found, gone=gone)


def sync_collection(
    body: etree._Element, calendar: Calendar, changes_since: ChangesSince
) -> etree._Element:
    """RFC 6578: the objects changed since the token (all, without one), removed ones as 404
    responses, and the token of the state answered."""
    token = (body.findtext(tag(DAV, "sync-token")) or "").strip()
    since = 0 if not token else calendar.sync_number_of(token)
    invalid = DavError(
        403,
        "The sync token is not valid (any more): sync again from scratch.",
        tag(DAV, "valid-sync-token"),
    )
    if since is None:
        raise invalid
    try:
        changes = changes_since(since, calendar.listing)
    except SyncTokenExpired:
        raise invalid from None
    requested = requested_properties(body)
    answers, gone = [], []
    for change in changes.changes:
        obj = calendar.objects.get(change.uid)
        if obj is None:
            gone.append(calendar.object_path(change.uid))
        else:
            answers.append(_object_answer(calendar, obj, requested))
    return multistatus(answers, gone=gone, sync_token=calendar.token_of(changes.number))


_REPORTS: dict[str, Callable[..., etree._Element]] = {
    tag(CALDAV, "calendar-query"): calendar_query,
    tag(CALDAV, "calendar-multiget"): calendar_multiget,
    tag(DAV, "sync-collection"): sync_collection,
}


# -- filters ---------------------------------------------------------------------------------

ObjectTest = Callable[[CalendarObject], bool]


def _unsupported(what: str) -> DavError:
    return DavError(403, f"This filter is not supported: {what}.", tag(CALDAV, "supported-filter"))


def _filter(node: etree._Element | None) -> ObjectTest:
    if node is None:
        return lambda obj: True
    top = node.find(tag(CALDAV, "comp-filter"))
    if top is None:
        raise DavError(403, "A filter needs a comp-filter.", tag(CALDAV, "valid-filter"))
    if top.get("name", "").upper() != "VCALENDAR":
        return lambda obj: False
    if top.find(tag(CALDAV, "is-not-defined")) is not None:
        return lambda obj: False
    tests = [_component_test(child) for child in top.findall(tag(CALDAV, "comp-filter"))]
    if any(top.find(tag(CALDAV, name)) is not None for name in ("prop-filter", "time-range")):
        raise _unsupported("properties or time ranges of VCALENDAR itself")
    return lambda obj: all(test(obj) for test in tests)


def _component_test(node: etree._Element) -> ObjectTest:
    name = node.get("name", "").upper()
    absent = node.find(tag(CALDAV, "is-not-defined")) is not None
    if name != "VEVENT":  # the only component a collection holds
        return lambda obj: absent
    if absent:
        return lambda obj: False
    tests: list[ObjectTest] = []
    for child in node:
        if child.tag == tag(CALDAV, "time-range"):
            start, end = _instant(child.get("start")), _instant(child.get("end"))
            tests.append(lambda obj, start=start, end=end: overlaps(obj, start, end))
        elif child.tag == tag(CALDAV, "prop-filter"):
            tests.append(_property_test(child))
        elif child.tag == tag(CALDAV, "comp-filter"):
            tests.append(_alarm_test(child))
        else:
            raise _unsupported(child.tag)
    return lambda obj: all(test(obj) for test in tests)


def _alarm_test(node: etree._Element) -> ObjectTest:
    if node.get("name", "").upper() != "VALARM" or len(node) > 1:
        raise _unsupported(f"comp-filter {node.get('name')} inside VEVENT")
    wanted = len(node) == 0
    if not wanted and node[0].tag != tag(CALDAV, "is-not-defined"):
        raise _unsupported("VALARM filters other than presence")
    return lambda obj: (b"BEGIN:VALARM" in obj.data) == wanted


def _property_test(node: etree._Element) -> ObjectTest:
    name = node.get("name", "").upper()
    children = list(node)
    if not children:
        return lambda obj: any(name in event for event in _events(obj))
    if len(children) > 1 or children[0].tag not in (
        tag(CALDAV, "is-not-defined"),
        tag(CALDAV, "text-match"),
    ):
        raise _unsupported(f"prop-filter {name} with {[c.tag for c in children]}")
    if children[0].tag == tag(CALDAV, "is-not-defined"):
        return lambda obj: any(name not in event for event in _events(obj))
    match = children[0]
    collation = match.get("collation", "i;ascii-casemap")
    if collation not in ("i;ascii-casemap", "i;octet", "i;unicode-casemap"):
        raise DavError(403, f"Unknown collation {collation}.", tag(CALDAV, "supported-collation"))
    fold = (lambda text: text) if collation == "i;octet" else str.casefold
    needle = fold(match.text or "")
    negate = match.get("negate-condition", "no") == "yes"

    def test(obj: CalendarObject) -> bool:
        for event in _events(obj):
            values = event.get(name)
            values = values if isinstance(values, list) else [values] if values is not None else []
            texts = [str(v) if isinstance(v, str) else v.to_ical().decode() for v in values]
            if texts and any((needle in fold(text)) != negate for text in texts):
                return True
        return False

    return test


@functools.lru_cache(maxsize=256)
def _events(obj: CalendarObject) -> tuple[icalendar.Event, ...]:
    return tuple(icalendar.Calendar.from_ical(obj.data).walk("VEVENT"))


def _instant(value: str | None) -> datetime | None:
    """A time-range bound: UTC date-time in basic format (RFC 4791 §9.9), or None."""
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise DavError(
            403,
            f"The time-range bound {value!r} is not a UTC date-time such as 20270104T000000Z.",
            tag(CALDAV, "valid-filter"),
        ) from None
