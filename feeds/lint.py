"""Byte-level lint for .ics feeds: the client-breaking mistakes no parser reports.

Implements the rules of docs/client-compatibility.md, *Lint rules*, where each rule and its
reason are listed (line endings and folding, one VCALENDAR, RRULE shape, EXDATE/RECURRENCE-ID
typing, floating times, UTC stamps, UID pairs, VTIMEZONE presence and shape, durations,
duplicated single-valued properties, size). It works on the raw bytes and on the unfolded
content lines with a small tokenizer; parsing proper is left to the parsers the test helper
runs. Line numbers are physical lines (1-based).

One module over 400 lines: the rules share one tokenizer and one pass over the lines, and
are listed in the order docs/client-compatibility.md gives them.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from icalendar import Timezone

from feeds.limits import FEED_BYTE_BUDGET
from feeds.timezones import check_vtimezone, load_zone

__all__ = ["LintProblem", "lint"]

MAX_FEED_BYTES = FEED_BYTE_BUDGET  # the budget feeds.fitting holds every feed to
MAX_FEED_EVENTS = 1000
MAX_LINE_OCTETS = 75
MAX_PER_RULE = 20


@dataclass(frozen=True)
class LintProblem:
    """One finding. `rule` is a stable identifier; `line` a physical line number or None."""

    rule: str
    message: str
    line: int | None = None
    severity: str = "error"  # or "warning" (reported, but the feed still works)


_NAME = r"[A-Za-z0-9-]+"
_PARAM_VALUE = r'"[^"\x00-\x08\x0a-\x1f\x7f]*"|[^";:,\x00-\x08\x0a-\x1f\x7f]*'
_PARAM = rf";{_NAME}=(?:{_PARAM_VALUE})(?:,(?:{_PARAM_VALUE}))*"
_CONTENT_LINE = re.compile(rf"({_NAME})((?:{_PARAM})*):(.*)", re.DOTALL)
_ONE_PARAM = re.compile(rf";({_NAME})=((?:{_PARAM_VALUE})(?:,(?:{_PARAM_VALUE}))*)")
_PARAM_PART = re.compile(rf"{_PARAM_VALUE}")
_DATE = re.compile(r"\d{8}")
_DATE_TIME = re.compile(r"\d{8}T\d{6}Z?")
_DURATION = re.compile(r"[+-]?P(?:\d+W|(?=\d|T\d)(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+S)?)?)")
_NTH_WEEKDAY = re.compile(r"(?:[1-4]|-1)(?:MO|TU|WE|TH|FR|SA|SU)")

_DATE_PROPERTIES = frozenset(
    {"DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "EXDATE", "RDATE", "DTSTAMP", "CREATED"}
    | {"LAST-MODIFIED", "COMPLETED", "ACKNOWLEDGED", "TRIGGER"}
)
_UTC_ONLY = frozenset({"DTSTAMP", "LAST-MODIFIED", "CREATED", "COMPLETED", "ACKNOWLEDGED"})
_DURATION_PROPERTIES = frozenset({"DURATION", "REFRESH-INTERVAL", "X-PUBLISHED-TTL", "TRIGGER"})
_SINGLE_VALUED = {
    "VCALENDAR": {"VERSION", "PRODID", "CALSCALE", "METHOD", "NAME", "X-WR-CALNAME", "UID"}
    | {"X-WR-CALDESC", "X-WR-TIMEZONE", "REFRESH-INTERVAL", "X-PUBLISHED-TTL", "DESCRIPTION"}
    | {"LAST-MODIFIED", "URL", "COLOR", "SOURCE"},
    "VEVENT": {"DTSTAMP", "UID", "DTSTART", "CLASS", "CREATED", "DESCRIPTION", "GEO", "RRULE"}
    | {"LAST-MODIFIED", "LOCATION", "ORGANIZER", "PRIORITY", "SEQUENCE", "STATUS", "SUMMARY"}
    | {"TRANSP", "URL", "RECURRENCE-ID", "DTEND", "DURATION", "COLOR"},
    "VTIMEZONE": {"TZID", "LAST-MODIFIED", "TZURL"},
    "STANDARD": {"DTSTART", "TZOFFSETFROM", "TZOFFSETTO", "RRULE"},
    "DAYLIGHT": {"DTSTART", "TZOFFSETFROM", "TZOFFSETTO", "RRULE"},
    "VALARM": {"ACTION", "TRIGGER", "DURATION", "REPEAT", "DESCRIPTION", "SUMMARY"},
}


@dataclass
class _Property:
    name: str
    params: dict[str, list[str]]
    value: str
    line: int

    @property
    def tzid(self) -> str | None:
        values = self.params.get("TZID")
        return values[0] if values else None


@dataclass
class _Component:
    name: str
    line: int
    properties: list[_Property] = field(default_factory=list)
    children: list[_Component] = field(default_factory=list)
    source: list[str] = field(default_factory=list)  # VTIMEZONE only: its unfolded lines

    def first(self, name: str) -> _Property | None:
        return next((p for p in self.properties if p.name == name), None)

    def walk(self) -> Iterator[_Component]:
        yield self
        for child in self.children:
            yield from child.walk()


def lint(data: bytes) -> list[LintProblem]:
    """Every lint rule that `data` breaks, in line order (size last)."""
    problems: list[LintProblem] = []
    logical = _physical_checks(data, problems)
    roots = _parse(logical, problems)
    calendars = [root for root in roots if root.name == "VCALENDAR"]
    if len(calendars) != 1:
        problems.append(
            LintProblem("vcalendar", f"expected exactly one VCALENDAR, found {len(calendars)}")
        )
    for calendar in calendars:
        _check_calendar(calendar, problems)
    problems = _capped(sorted(problems, key=lambda p: (p.line is None, p.line or 0)))
    events = sum(1 for c in calendars for child in c.children if child.name == "VEVENT")
    if len(data) > MAX_FEED_BYTES:
        problems.append(
            LintProblem(
                "size", f"{len(data)} bytes; Google may drop feeds near 1 MB", None, "warning"
            )
        )
    if events > MAX_FEED_EVENTS:
        problems.append(
            LintProblem(
                "size", f"{events} VEVENTs (keep it under {MAX_FEED_EVENTS})", None, "warning"
            )
        )
    return problems


def _capped(problems: list[LintProblem]) -> list[LintProblem]:
    """At most MAX_PER_RULE problems per rule (a file with LF endings breaks every line)."""
    kept: list[LintProblem] = []
    counts: Counter[str] = Counter()
    for problem in problems:
        counts[problem.rule] += 1
        if counts[problem.rule] <= MAX_PER_RULE:
            kept.append(problem)
    for rule, count in counts.items():
        if count > MAX_PER_RULE:
            kept.append(LintProblem(rule, f"... and {count - MAX_PER_RULE} more like this"))
    return kept


# --- bytes and lines ---------------------------------------------------------------------


def _physical_checks(data: bytes, problems: list[LintProblem]) -> list[tuple[int, str]]:
    """Check endings, BOM, UTF-8, length and folding; return (line number, unfolded line)."""
    add = problems.append
    if data.startswith(b"\xef\xbb\xbf"):
        add(LintProblem("bom", "the file starts with a UTF-8 byte order mark", 1))
        data = data[3:]
    pieces = re.split(rb"(\r\n|\r|\n)", data)
    lines, endings = pieces[0::2], pieces[1::2]
    if lines[-1] == b"":
        lines.pop()  # nothing after the last line ending (or an empty file)
    elif data:
        add(LintProblem("crlf", "the last line does not end with CRLF", len(lines)))
    logical: list[tuple[int, bytearray]] = []
    for number, (raw, ending) in enumerate(zip(lines, [*endings, b"\r\n"], strict=False), 1):
        if ending != b"\r\n":
            kind = "bare LF" if ending == b"\n" else "bare CR"
            add(LintProblem("crlf", f"line ends with a {kind}, not CRLF", number))
        if not raw:
            add(LintProblem("blank-line", "blank line", number))
            continue
        if len(raw) > MAX_LINE_OCTETS:
            add(
                LintProblem(
                    "line-length",
                    f"{len(raw)} octets; fold lines longer than {MAX_LINE_OCTETS}",
                    number,
                )
            )
        if raw[:1] in (b" ", b"\t"):
            if not logical:
                add(LintProblem("fold", "continuation line with nothing to continue", number))
                continue
            previous = logical[-1][1]
            if _ends_inside_utf8_sequence(previous):
                add(LintProblem("fold-utf8", "a fold splits a UTF-8 character", number))
            previous.extend(raw[1:])
            continue
        logical.append((number, bytearray(raw)))
    result = []
    for number, raw in logical:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            add(LintProblem("utf8", f"not valid UTF-8 ({exc.reason} at byte {exc.start})", number))
            text = raw.decode("utf-8", errors="replace")
        result.append((number, text))
    return result


def _ends_inside_utf8_sequence(raw: bytearray) -> bool:
    """True when `raw` ends with the lead (and some continuation) bytes of a character."""
    for back in range(1, min(4, len(raw)) + 1):
        byte = raw[-back]
        if byte & 0xC0 == 0x80:
            continue  # continuation byte: keep looking for the lead byte
        if byte & 0x80 == 0:
            return False
        needed = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4
        return back < needed
    return False


def _parse(logical: list[tuple[int, str]], problems: list[LintProblem]) -> list[_Component]:
    """Tokenize content lines and nest BEGIN/END blocks (structure problems reported)."""
    roots: list[_Component] = []
    stack: list[_Component] = []
    for index, (number, text) in enumerate(logical):
        match = _CONTENT_LINE.fullmatch(text)
        if match is None:
            problems.append(
                LintProblem(
                    "syntax", f"not a content line (NAME[;PARAM=...]:value): {text[:40]!r}", number
                )
            )
            continue
        name, params_text, value = match.group(1).upper(), match.group(2), match.group(3)
        params: dict[str, list[str]] = {}
        for param in _ONE_PARAM.finditer(params_text):
            parts = [v.strip('"') for v in _PARAM_PART.findall(param.group(2)) if v != ""]
            params[param.group(1).upper()] = parts or [""]
        if index == 0 and (name, value.upper()) != ("BEGIN", "VCALENDAR"):
            problems.append(
                LintProblem("vcalendar", "the first line is not BEGIN:VCALENDAR", number)
            )
        if index == len(logical) - 1 and (name, value.upper()) != ("END", "VCALENDAR"):
            problems.append(LintProblem("vcalendar", "the last line is not END:VCALENDAR", number))
        for component in stack:
            if component.name == "VTIMEZONE":
                component.source.append(text)
        if name == "BEGIN":
            component = _Component(value.upper(), number, source=[text])
            (stack[-1].children if stack else roots).append(component)
            stack.append(component)
        elif name == "END":
            if not stack or stack[-1].name != value.upper():
                open_name = stack[-1].name if stack else "nothing"
                problems.append(
                    LintProblem("structure", f"END:{value} while {open_name} is open", number)
                )
                continue
            stack.pop()
        elif stack:
            stack[-1].properties.append(_Property(name, params, value, number))
        else:
            problems.append(LintProblem("vcalendar", f"{name} outside any component", number))
    for component in stack:
        problems.append(
            LintProblem("structure", f"BEGIN:{component.name} is never closed", component.line)
        )
    return roots


# --- calendar rules ------------------------------------------------------------------------


def _check_calendar(calendar: _Component, problems: list[LintProblem]) -> None:
    add = problems.append
    version = calendar.first("VERSION")
    if version is None or version.value != "2.0":
        add(LintProblem("version", "VERSION:2.0 is missing", calendar.line))
    if calendar.first("PRODID") is None:
        add(LintProblem("prodid", "PRODID is missing", calendar.line))
    events = [c for c in calendar.children if c.name == "VEVENT"]
    method = calendar.first("METHOD")
    if method is not None:
        if method.value.upper() != "PUBLISH":
            add(LintProblem("method", f"METHOD:{method.value} in a feed; omit METHOD", method.line))
        for event in events:
            if event.first("ORGANIZER") is None:
                add(
                    LintProblem(
                        "method", "METHOD:PUBLISH needs ORGANIZER on every VEVENT", event.line
                    )
                )
    for component in calendar.walk():
        _check_single_values(component, problems)
        in_timezone = component.name in ("STANDARD", "DAYLIGHT")
        for prop in component.properties:
            if not in_timezone:
                _check_value_forms(prop, problems)
    _check_events(events, problems)
    _check_timezones(calendar, problems)
    refresh = calendar.first("REFRESH-INTERVAL")
    if refresh is not None and refresh.params.get("VALUE", [""])[0].upper() != "DURATION":
        add(LintProblem("refresh-interval", "REFRESH-INTERVAL needs VALUE=DURATION", refresh.line))


def _check_single_values(component: _Component, problems: list[LintProblem]) -> None:
    allowed_once = _SINGLE_VALUED.get(component.name, set())
    counts = Counter(p.name for p in component.properties)
    for prop in component.properties:
        if prop.name in allowed_once and counts[prop.name] > 1:
            problems.append(
                LintProblem(
                    "single-value",
                    f"{prop.name} appears {counts[prop.name]} times in {component.name}",
                    prop.line,
                )
            )
            counts[prop.name] = 0  # report once


def _check_value_forms(prop: _Property, problems: list[LintProblem]) -> None:
    add = problems.append
    value_type = prop.params.get("VALUE", [""])[0].upper()
    if prop.name in _DURATION_PROPERTIES and value_type not in ("DATE-TIME", "DATE"):
        if not _DURATION.fullmatch(prop.value):
            add(
                LintProblem(
                    "duration", f"{prop.name}:{prop.value} is not an RFC 5545 duration", prop.line
                )
            )
        return
    if prop.name not in _DATE_PROPERTIES:
        return
    for value in prop.value.split(","):
        value = value.split("/", 1)[0] if value_type == "PERIOD" else value
        if value_type == "DATE" or (not value_type and _DATE.fullmatch(value)):
            if not _DATE.fullmatch(value):
                add(LintProblem("value", f"{prop.name}: {value!r} is not a DATE", prop.line))
            elif prop.name in _UTC_ONLY:
                add(LintProblem("utc-required", f"{prop.name} must be a UTC DATE-TIME", prop.line))
            continue
        if not _DATE_TIME.fullmatch(value):
            add(LintProblem("value", f"{prop.name}: {value!r} is not a DATE-TIME", prop.line))
        elif prop.name in _UTC_ONLY and (not value.endswith("Z") or prop.tzid):
            add(LintProblem("utc-required", f"{prop.name} must be in UTC (…Z)", prop.line))
        elif value.endswith("Z") and prop.tzid:
            add(LintProblem("tzid-utc", f"{prop.name} has a TZID and a UTC value", prop.line))
        elif not value.endswith("Z") and not prop.tzid:
            add(
                LintProblem(
                    "floating", f"{prop.name}:{value} is a floating time (no Z, no TZID)", prop.line
                )
            )


def _time_form(prop: _Property) -> tuple[str, str | None]:
    """("DATE" | "DATE-TIME", TZID or "UTC" or None) of a date property."""
    value = prop.value.split(",", 1)[0]
    if prop.params.get("VALUE", [""])[0].upper() == "DATE" or _DATE.fullmatch(value):
        return "DATE", None
    return "DATE-TIME", "UTC" if value.endswith("Z") else prop.tzid


def _describe(form: tuple[str, str | None]) -> str:
    kind, zone = form
    return kind if zone is None else f"{kind} in {zone}"


def _check_events(events: list[_Component], problems: list[LintProblem]) -> None:
    add = problems.append
    masters: dict[str, _Component] = {}
    seen: dict[tuple[str, str | None], int] = {}
    for event in events:
        uid, stamp = event.first("UID"), event.first("DTSTAMP")
        if uid is None:
            add(LintProblem("uid", "VEVENT without UID", event.line))
        if stamp is None:
            add(LintProblem("dtstamp", "VEVENT without DTSTAMP", event.line))
        if event.first("DTEND") is not None and event.first("DURATION") is not None:
            add(LintProblem("dtend-duration", "VEVENT has both DTEND and DURATION", event.line))
        recurrence_id = event.first("RECURRENCE-ID")
        if uid is not None:
            key = (
                uid.value,
                None if recurrence_id is None else f"{recurrence_id.tzid}:{recurrence_id.value}",
            )
            if key in seen:
                what = "UID" if recurrence_id is None else "UID and RECURRENCE-ID"
                add(
                    LintProblem(
                        "duplicate-uid",
                        f"{what} {uid.value} already used on line {seen[key]}",
                        event.line,
                    )
                )
            seen.setdefault(key, event.line)
            if recurrence_id is None:
                masters.setdefault(uid.value, event)
        _check_rrules(event, problems)
        dtstart = event.first("DTSTART")
        for exdate in [p for p in event.properties if p.name == "EXDATE"]:
            if dtstart is not None and _time_form(exdate) != _time_form(dtstart):
                add(
                    LintProblem(
                        "exdate",
                        f"EXDATE is {_describe(_time_form(exdate))} "
                        f"but DTSTART is {_describe(_time_form(dtstart))}",
                        exdate.line,
                    )
                )
    for event in events:
        uid, recurrence_id = event.first("UID"), event.first("RECURRENCE-ID")
        if uid is None or recurrence_id is None:
            continue
        master = masters.get(uid.value)
        master_start = master.first("DTSTART") if master else None
        if master is None:
            add(
                LintProblem(
                    "orphan-override",
                    f"RECURRENCE-ID for UID {uid.value} has no master VEVENT",
                    recurrence_id.line,
                )
            )
        elif master_start is not None and _time_form(recurrence_id) != _time_form(master_start):
            add(
                LintProblem(
                    "recurrence-id",
                    f"RECURRENCE-ID is {_describe(_time_form(recurrence_id))} "
                    f"but the master DTSTART is {_describe(_time_form(master_start))}",
                    recurrence_id.line,
                )
            )


def _check_rrules(event: _Component, problems: list[LintProblem]) -> None:
    dtstart = event.first("DTSTART")
    start_form = _time_form(dtstart) if dtstart else ("DATE-TIME", None)
    for rrule in (p for p in event.properties if p.name == "RRULE"):
        parts = dict(part.partition("=")[::2] for part in rrule.value.upper().split(";"))
        if not rrule.value.upper().startswith("FREQ="):
            problems.append(LintProblem("rrule", "RRULE must begin with FREQ=", rrule.line))
        until = parts.get("UNTIL")
        if until is not None and "COUNT" in parts:
            problems.append(LintProblem("rrule", "RRULE has both UNTIL and COUNT", rrule.line))
        if until is None:
            continue
        if start_form[0] == "DATE":
            if not _DATE.fullmatch(until):
                problems.append(
                    LintProblem("rrule", "UNTIL must be a DATE when DTSTART is a DATE", rrule.line)
                )
        elif start_form[1] is not None and not (
            _DATE_TIME.fullmatch(until) and until.endswith("Z")
        ):
            message = f"UNTIL={until} must be a UTC DATE-TIME (…Z) when DTSTART has a TZID or Z"
            problems.append(LintProblem("rrule", message, rrule.line))


# --- time zones ----------------------------------------------------------------------------


def _check_timezones(calendar: _Component, problems: list[LintProblem]) -> None:
    add = problems.append
    timezones: dict[str, list[_Component]] = {}
    for component in calendar.children:
        if component.name == "VTIMEZONE":
            tzid = component.first("TZID")
            timezones.setdefault(tzid.value if tzid else "", []).append(component)
    references: dict[str, list[_Property]] = {}
    for component in calendar.walk():
        if component.name in ("VTIMEZONE", "STANDARD", "DAYLIGHT"):
            continue
        for prop in component.properties:
            if prop.tzid is not None:
                references.setdefault(prop.tzid, []).append(prop)
    for tzid, props in references.items():
        if tzid not in timezones:
            add(LintProblem("missing-vtimezone", f"TZID={tzid} has no VTIMEZONE", props[0].line))
    for tzid, blocks in timezones.items():
        for duplicate in blocks[1:]:
            add(
                LintProblem("duplicate-vtimezone", f"a second VTIMEZONE for {tzid}", duplicate.line)
            )
        block = blocks[0]
        if tzid not in references:
            add(
                LintProblem(
                    "unused-vtimezone", f"VTIMEZONE {tzid or '(no TZID)'} is not used", block.line
                )
            )
        try:
            load_zone(tzid)
        except ValueError:
            add(
                LintProblem("tzid-iana", f"TZID {tzid!r} is not an IANA time zone name", block.line)
            )
            continue
        shape_ok = _check_vtimezone_shape(block, problems)
        if shape_ok and tzid in references:
            years = _years_of(references[tzid])
            if years is not None:
                for mismatch in _offset_mismatches("\r\n".join(block.source), tzid, *years)[:3]:
                    add(LintProblem("vtimezone-offsets", mismatch, block.line))


def _check_vtimezone_shape(block: _Component, problems: list[LintProblem]) -> bool:
    before = len(problems)
    names = [child.name for child in block.children]
    if names.count("STANDARD") != 1 or names.count("DAYLIGHT") > 1:
        problems.append(
            LintProblem(
                "vtimezone-shape",
                "VTIMEZONE needs exactly one STANDARD and at most one DAYLIGHT "
                f"(has {', '.join(names) or 'none'})",
                block.line,
            )
        )
    for child in block.children:
        if child.first("RDATE") is not None:
            problems.append(
                LintProblem(
                    "vtimezone-shape",
                    f"{child.name} uses RDATE (Outlook and ical.js misread it)",
                    child.first("RDATE").line,
                )
            )
        rrule = child.first("RRULE")
        if rrule is None:
            if "DAYLIGHT" in names:
                problems.append(
                    LintProblem("vtimezone-shape", f"{child.name} needs a yearly RRULE", child.line)
                )
            continue
        parts = dict(part.partition("=")[::2] for part in rrule.value.upper().split(";"))
        if (
            parts.get("FREQ") != "YEARLY"
            or not parts.get("BYMONTH", "").isdigit()
            or not _NTH_WEEKDAY.fullmatch(parts.get("BYDAY", ""))
            or set(parts) - {"FREQ", "BYMONTH", "BYDAY"}
        ):
            problems.append(
                LintProblem(
                    "vtimezone-shape",
                    f"RRULE:{rrule.value} is not FREQ=YEARLY;BYMONTH=m;BYDAY=nDD (n = 1..4 or -1)",
                    rrule.line,
                )
            )
    return len(problems) == before


def _years_of(props: list[_Property]) -> tuple[int, int] | None:
    """First and last calendar year of the values written in one zone (the zone's window)."""
    years = [
        int(value[:4]) for prop in props for value in prop.value.split(",") if _DATE.match(value)
    ]
    return (min(years), max(years)) if years else None


@functools.lru_cache(maxsize=256)
def _offset_mismatches(
    vtimezone_text: str, tzid: str, first_year: int, last_year: int
) -> list[str]:
    try:
        vtz = Timezone.from_ical(vtimezone_text + "\r\n")
    except ValueError as exc:
        return [f"VTIMEZONE {tzid} cannot be read: {exc}"]
    start = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    return check_vtimezone(vtz, tzid, start, end)
