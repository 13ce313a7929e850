"""Fast iCalendar serialisation: a small component model written straight to content lines.

`feeds.ical_events` describes a feed as `Component`s holding typed `Prop`s; this module turns
them into bytes without building icalendar objects, producing exactly what icalendar's own
`to_ical(sorted=False)` gives for the same properties (tests/ical_reference.py builds those, and
the tests compare the two byte for byte):
- TEXT escaping per RFC 5545 §3.3.11 (backslash, semicolon, comma, line breaks);
- parameter values quoted and RFC 6868-escaped with icalendar's own helpers;
- lines folded at 75 octets (74 + the fold's space) without splitting a UTF-8 sequence and
  without ending a line on a backslash or caret, the way icalendar folds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum

from icalendar.parser.parameter import Parameters, dquote, rfc_6868_escape
from icalendar.prop import vDuration

__all__ = [
    "Component",
    "Kind",
    "Prop",
    "escape_text",
    "fold",
    "format_datetime",
    "serialize",
]


class Kind(Enum):
    """Value type of a property (decides escaping and formatting)."""

    TEXT = "text"  # str
    URI = "uri"  # str, written verbatim
    DATETIME = "datetime"  # aware datetime: tzinfo datetime.UTC → ...Z, a ZoneInfo → TZID
    DATETIMES = "datetimes"  # tuple of aware datetimes sharing one zone (EXDATE)
    INTEGER = "integer"  # int
    RECUR = "recur"  # tuple of (part, value) in icalendar's canonical order
    DURATION = "duration"  # timedelta
    ADDRESS = "address"  # str (mailto: URI), written verbatim
    CATEGORIES = "categories"  # tuple of str, each TEXT-escaped


@dataclass(frozen=True, slots=True)
class Prop:
    name: str
    kind: Kind
    value: object
    params: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class Component:
    name: str
    props: list[Prop] = field(default_factory=list)
    subcomponents: list[Component] = field(default_factory=list)


# Parameters icalendar always quotes, and those it quotes when they contain these characters.
_ALWAYS_QUOTED = frozenset(Parameters.always_quoted)
_QUOTED_WHEN_CONTAINING: dict[str, str] = dict(Parameters.quote_also)
_FOLD_LIMIT = 74  # octets before the fold; the continuation's leading space makes 75
_FOLD_SEPARATOR = b"\r\n "
_NO_LINE_END = (0x5C, 0x5E)  # "\" and "^" start escapes: icalendar never ends a fold on them


_NEEDS_ESCAPE = re.compile(r"[\\;,\r\n]")


def escape_text(text: str) -> str:
    r"""TEXT escaping (RFC 5545 §3.3.11): \\ \; \, and line breaks as \n.

    icalendar's own escaper additionally turns a literal backslash-N into a line break before
    escaping, which loses data; this one keeps it (tests/ical_reference.py does the same).
    """
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: bytes) -> bytes:
    """Fold one content line as icalendar does (RFC 5545 §3.1)."""
    length = len(line)
    if length <= _FOLD_LIMIT:
        return line
    chunks = []
    position = 0
    while length - position > _FOLD_LIMIT:
        end = position + _FOLD_LIMIT
        while line[end] & 0xC0 == 0x80:  # never split inside a UTF-8 sequence
            end -= 1
        if end - position > 1 and line[end - 1] in _NO_LINE_END:
            end -= 1
        chunks.append(line[position:end])
        position = end
    chunks.append(line[position:])
    return _FOLD_SEPARATOR.join(chunks)


def format_datetime(value: datetime) -> str:
    """DATE-TIME value; `Z` for UTC (the caller adds TZID for zoned values)."""
    iso = value.isoformat()  # "YYYY-MM-DDTHH:MM:SS..." (the C formatter is the fastest way)
    text = iso[0:4] + iso[5:7] + iso[8:10] + "T" + iso[11:13] + iso[14:16] + iso[17:19]
    return text + "Z" if value.tzinfo is UTC else text


@functools.lru_cache(maxsize=4096)
def _param(name: str, value: str) -> str:
    quote_chars = _QUOTED_WHEN_CONTAINING.get(name)
    always = name in _ALWAYS_QUOTED or (
        quote_chars is not None and any(c in value for c in quote_chars)
    )
    return f"{name}={dquote(rfc_6868_escape(value), always_quote=always)}"


def _zone_key(value: datetime) -> str | None:
    """The TZID of a zoned value (a ZoneInfo's key); None for UTC (datetime.UTC)."""
    if value.tzinfo is UTC:
        return None
    return value.tzinfo.key  # type: ignore[union-attr]


def _text_value(value: object) -> str:
    return escape_text(value)  # type: ignore[arg-type]


def _verbatim_value(value: object) -> str:
    return value  # type: ignore[return-value]


def _integer_value(value: object) -> str:
    return str(value)


def _recur_value(value: object) -> str:
    return ";".join(f"{part}={_recur_part(v)}" for part, v in value)  # type: ignore[attr-defined]


def _recur_part(value: object) -> str:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)


@functools.lru_cache(maxsize=256)
def _duration_value(value: timedelta) -> str:
    return vDuration(value).to_ical().decode()


def _categories_value(value: object) -> str:
    return ",".join(escape_text(c) for c in value)  # type: ignore[attr-defined]


_FORMATTERS: dict[Kind, Callable[[object], str]] = {
    Kind.TEXT: _text_value,
    Kind.URI: _verbatim_value,
    Kind.ADDRESS: _verbatim_value,
    Kind.INTEGER: _integer_value,
    Kind.RECUR: _recur_value,
    Kind.DURATION: _duration_value,  # type: ignore[dict-item]
    Kind.CATEGORIES: _categories_value,
}


def _line(prop: Prop) -> str:
    kind, value, params = prop.kind, prop.value, prop.params
    if kind is Kind.DATETIME:
        zone = _zone_key(value)  # type: ignore[arg-type]
        text = format_datetime(value)  # type: ignore[arg-type]
    elif kind is Kind.DATETIMES:
        values: tuple[datetime, ...] = value  # type: ignore[assignment]
        zone = _zone_key(values[0])
        text = ",".join(format_datetime(v) for v in values)
    else:
        zone = None
        text = _FORMATTERS[kind](value)
    if zone is not None:
        params = (("TZID", zone), *params)
    if params:
        return f"{prop.name};{';'.join(_param(k, v) for k, v in params)}:{text}"
    return f"{prop.name}:{text}"


def serialize(component: Component) -> bytes:
    """Content lines of a component and its subcomponents, CRLF-terminated."""
    lines: list[str] = []
    _collect_lines(component, lines)
    return ("\r\n".join(map(_folded, lines)) + "\r\n").encode()


def _collect_lines(component: Component, lines: list[str]) -> None:
    lines.append(f"BEGIN:{component.name}")
    lines.extend(map(_line, component.props))
    for sub in component.subcomponents:
        _collect_lines(sub, lines)
    lines.append(f"END:{component.name}")


def _folded(line: str) -> str:
    # Most lines are short ASCII: decide without encoding (4 octets per character at most).
    length = len(line)
    if length * 4 <= _FOLD_LIMIT or (length <= _FOLD_LIMIT and line.isascii()):
        return line
    return fold(line.encode()).decode()
