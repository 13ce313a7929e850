"""The shared feed validator every test that produces a feed calls: `validate_feed`.

No single parser catches what calendar clients choke on (docs/client-compatibility.md, *Lint
rules*), so a feed is run through all of them and every complaint is collected into one
AssertionError:

- feeds.lint (our byte-level rules; warnings such as size don't fail),
- icalendar (component `.errors`, missing VTIMEZONEs, UID/DTSTAMP on every VEVENT),
- ical (Home Assistant's strict parser; the timeline over the window is iterated),
- vobject (Radicale's parser, with validation),
- recurring-ical-events and ical.js (Thunderbird's parser, run under node in Thunderbird
  mode), whose expansions over the window must be identical.

The ical.js part uses one long-lived node worker per test process (tests/js/icaljs_worker.mjs).
Without node or node_modules/ical.js that part is skipped with a warning, except in CI
(CI=true), where it is a failure.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import icalendar
import recurring_ical_events
import vobject
from ical.calendar_stream import IcsCalendarStream

from feeds.lint import lint

__all__ = ["REFERENCE_FEED", "IcalJsUnavailable", "Occurrence", "validate_feed"]

REPO = Path(__file__).resolve().parent.parent
WORKER_SCRIPT = Path(__file__).resolve().parent / "js" / "icaljs_worker.mjs"
WORKER_TIMEOUT_SECONDS = 60.0
_QUERY_SLACK = timedelta(days=2)


@dataclass(frozen=True, order=True)
class Occurrence:
    """One expanded occurrence; `start`/`end` are UTC, `status` CONFIRMED/CANCELLED/..."""

    start: datetime
    end: datetime
    summary: str
    status: str
    uid: str


class IcalJsUnavailable(UserWarning):
    """node or node_modules/ical.js is missing, so the ical.js comparison did not run."""


def validate_feed(data: bytes, *, start: datetime, end: datetime) -> list[Occurrence]:
    """Run every validator on `data`; return the occurrences in [start, end), sorted.

    Raises AssertionError listing every complaint (each prefixed with the tool's name) when any
    tool complains or when recurring-ical-events and ical.js expand the feed differently.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("validate_feed needs timezone-aware start and end")
    complaints: list[str] = []
    text = data.decode("utf-8", errors="replace")
    icaljs_request = _start_icaljs(text, start, end, complaints)

    complaints += [
        f"[lint] line {p.line or '-'}: {p.rule}: {p.message}"
        for p in lint(data)
        if p.severity == "error"
    ]
    calendar = _check_icalendar(data, complaints)
    _check_ical(text, start, end, complaints)
    _check_vobject(text, complaints)

    expected: list[Occurrence] | None = None
    if calendar is not None:
        expected = _expand_recurring_ical_events(calendar, start, end, complaints)
    thunderbird = None
    if icaljs_request is not None:
        thunderbird = _finish_icaljs(icaljs_request, start, end, complaints)
    if expected is not None and thunderbird is not None and expected != thunderbird:
        complaints.append(_expansion_difference(expected, thunderbird))

    if complaints:
        raise AssertionError("feed failed validation:\n" + "\n".join(complaints))
    return expected or []


def _in_window(occurrence: Occurrence, start: datetime, end: datetime) -> bool:
    """recurring-ical-events' `between` rule: overlaps [start, end), or is an instant in it."""
    if occurrence.start == occurrence.end:
        return start <= occurrence.start < end
    return occurrence.start < end and occurrence.end > start


def _as_utc(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        # Floating times (flagged by the lint) are read as UTC, as Google does.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.combine(value, time(), UTC)


# --- the Python parsers ------------------------------------------------------------------


def _check_icalendar(data: bytes, complaints: list[str]) -> icalendar.Calendar | None:
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except Exception as exc:  # any failure to parse is the finding
        complaints.append(f"[icalendar] cannot parse: {type(exc).__name__}: {exc}")
        return None
    if isinstance(calendar, list):
        complaints.append(f"[icalendar] {len(calendar)} top-level components, expected one")
        return None
    for component in calendar.walk():
        complaints += [f"[icalendar] {component.name}: {error}" for error in component.errors]
    missing = calendar.get_missing_tzids()
    if missing:
        complaints.append(f"[icalendar] TZIDs without VTIMEZONE: {', '.join(sorted(missing))}")
    for event in calendar.walk("VEVENT"):
        for required in ("UID", "DTSTAMP"):
            if required not in event:
                complaints.append(
                    f"[icalendar] VEVENT {str(event.get('SUMMARY', ''))!r} has no {required}"
                )
    return calendar


def _check_ical(text: str, start: datetime, end: datetime, complaints: list[str]) -> None:
    try:
        calendar = IcsCalendarStream.calendar_from_ics(text)
        for _ in calendar.timeline_tz(UTC).overlapping(start, end):
            pass
    except Exception as exc:
        detail = getattr(exc, "detailed_error", "") or ""
        complaints.append(f"[ical] {type(exc).__name__}: {exc} {detail}".rstrip())


def _check_vobject(text: str, complaints: list[str]) -> None:
    try:
        parsed = vobject.readOne(text, validate=True)
        parsed.validate(raiseException=True)
    except Exception as exc:
        complaints.append(f"[vobject] {type(exc).__name__}: {exc}")


def _expand_recurring_ical_events(
    calendar: icalendar.Calendar, start: datetime, end: datetime, complaints: list[str]
) -> list[Occurrence] | None:
    try:
        events = recurring_ical_events.of(calendar).between(
            start - _QUERY_SLACK, end + _QUERY_SLACK
        )
        occurrences = []
        for event in events:
            occurrence_start = event["DTSTART"].dt
            if "DTEND" in event:
                occurrence_end = event["DTEND"].dt
            elif "DURATION" in event:
                occurrence_end = occurrence_start + event["DURATION"].dt
            else:
                occurrence_end = occurrence_start
            occurrences.append(
                Occurrence(
                    start=_as_utc(occurrence_start),
                    end=_as_utc(occurrence_end),
                    summary=str(event.get("SUMMARY", "")),
                    status=str(event.get("STATUS", "CONFIRMED")).upper(),
                    uid=str(event.get("UID", "")),
                )
            )
    except Exception as exc:
        complaints.append(f"[recurring-ical-events] {type(exc).__name__}: {exc}")
        return None
    return sorted(o for o in occurrences if _in_window(o, start, end))


# --- ical.js under node ------------------------------------------------------------------


def _start_icaljs(text: str, start: datetime, end: datetime, complaints: list[str]) -> int | None:
    """Hand the feed to the node worker (which runs while Python checks); None: not running."""
    problem = _icaljs_missing()
    if problem is not None:
        if os.environ.get("CI") == "true":
            complaints.append(f"[ical.js] cannot run in CI: {problem}")
        else:
            warnings.warn(
                f"ical.js (Thunderbird) check skipped: {problem}", IcalJsUnavailable, stacklevel=3
            )
        return None
    return _WORKER.send({"ics": text, "start": _iso(start), "end": _iso(end)})


def _finish_icaljs(
    request_id: int, start: datetime, end: datetime, complaints: list[str]
) -> list[Occurrence] | None:
    try:
        reply = _WORKER.receive(request_id)
    except RuntimeError as exc:
        complaints.append(f"[ical.js] {exc}")
        return None
    if "fatal" in reply:
        complaints.append(f"[ical.js] cannot parse: {reply['fatal']}")
        return None
    complaints += [f"[ical.js] {error}" for error in reply["errors"]]
    occurrences = [
        Occurrence(
            start=_parse_icaljs_time(item["start"]),
            end=_parse_icaljs_time(item["end"]),
            summary=item["summary"],
            status=item["status"],
            uid=item["uid"],
        )
        for item in reply["occurrences"]
    ]
    return sorted(o for o in occurrences if _in_window(o, start, end))


def _icaljs_missing() -> str | None:
    if shutil.which("node") is None:
        return "`node` is not on PATH (install Node.js, then run `npm ci`)"
    if not (REPO / "node_modules" / "ical.js" / "package.json").is_file():
        return "node_modules/ical.js is missing (run `npm ci`)"
    return None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_icaljs_time(value: str) -> datetime:
    if len(value) == 10:  # a DATE
        return datetime.combine(date.fromisoformat(value), time(), UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _NodeWorker:
    """One node process per test process, speaking JSON lines; restarted when it dies.

    `send` writes a request and returns at once so node works while Python validates;
    `receive` waits for that reply, re-sending once to a fresh worker if the old one died.
    """

    def __init__(self, script: Path) -> None:
        self._script = script
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._stderr: Any = None
        self._next_id = 0
        self._pending: dict[int, dict[str, Any]] = {}

    def send(self, payload: dict[str, Any]) -> int:
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
            self._pending[request_id] = payload
            try:
                self._write(request_id, payload)
            except OSError:
                self._stop()  # receive() retries on a fresh worker
            return request_id

    def receive(self, request_id: int) -> dict[str, Any]:
        with self._lock:
            payload = self._pending.pop(request_id)
            try:
                if self._process is None:
                    raise EOFError("worker was not running")
                return self._read(request_id)
            except (EOFError, OSError, ValueError):
                self._stop()
            try:
                self._write(request_id, payload)
                return self._read(request_id)
            except (EOFError, OSError, ValueError) as exc:
                tail = self._stderr_tail()
                self._stop()
                raise RuntimeError(f"node worker failed ({exc}); stderr: {tail}") from exc

    def _write(self, request_id: int, payload: dict[str, Any]) -> None:
        process = self._ensure_started()
        assert process.stdin is not None
        process.stdin.write(json.dumps({"id": request_id, **payload}) + "\n")
        process.stdin.flush()

    def _read(self, request_id: int) -> dict[str, Any]:
        process = self._process
        assert process is not None and process.stdout is not None
        watchdog = threading.Timer(WORKER_TIMEOUT_SECONDS, process.kill)
        watchdog.start()
        try:
            line = process.stdout.readline()
        finally:
            watchdog.cancel()
        if not line:
            raise EOFError("no reply (worker exited or timed out)")
        reply = json.loads(line)
        if reply.get("id") != request_id:
            raise ValueError(f"reply for request {reply.get('id')}, expected {request_id}")
        return reply

    def _ensure_started(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._stop()
        # Lives as long as the worker; closed in _stop().
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self._process = subprocess.Popen(
            ["node", str(self._script)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        return self._process

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-2000:].strip() or "(empty)"

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):  # broken pipe: the process is gone
                        stream.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def close(self) -> None:
        with self._lock:
            self._stop()


_WORKER = _NodeWorker(WORKER_SCRIPT)
atexit.register(_WORKER.close)


def _expansion_difference(expected: list[Occurrence], thunderbird: list[Occurrence]) -> str:
    only_rie = [o for o in expected if o not in thunderbird]
    only_js = [o for o in thunderbird if o not in expected]
    lines = ["[expansion] recurring-ical-events and ical.js (Thunderbird) disagree:"]
    lines += [f"  only in recurring-ical-events: {_show(o)}" for o in only_rie]
    lines += [f"  only in ical.js:               {_show(o)}" for o in only_js]
    if not only_rie and not only_js:
        lines.append(f"  same occurrences, different counts: {len(expected)} vs {len(thunderbird)}")
    return "\n".join(lines)


def _show(occurrence: Occurrence) -> str:
    return (
        f"{occurrence.start:%Y-%m-%dT%H:%MZ}–{occurrence.end:%Y-%m-%dT%H:%MZ} "
        f"{occurrence.status} {occurrence.summary!r} ({occurrence.uid})"
    )


# A known-good feed (passes every tool), with CRLF endings: docs/client-compatibility.md,
# *Reference feed*.
REFERENCE_FEED = (
    "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Example Live//Session Feed 1.0//EN",
            "CALSCALE:GREGORIAN",
            "NAME:Live sessions",
            "X-WR-CALNAME:Live sessions",
            "DESCRIPTION:Your upcoming live video sessions",
            "X-WR-CALDESC:Your upcoming live video sessions",
            "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
            "X-PUBLISHED-TTL:PT1H",
            "BEGIN:VTIMEZONE",
            "TZID:Europe/Berlin",
            "BEGIN:STANDARD",
            "DTSTART:19701025T030000",
            "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
            "TZOFFSETFROM:+0200",
            "TZOFFSETTO:+0100",
            "TZNAME:CET",
            "END:STANDARD",
            "BEGIN:DAYLIGHT",
            "DTSTART:19700329T020000",
            "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
            "TZOFFSETFROM:+0100",
            "TZOFFSETTO:+0200",
            "TZNAME:CEST",
            "END:DAYLIGHT",
            "END:VTIMEZONE",
            "BEGIN:VEVENT",
            "UID:series-42@live.example.com",
            "DTSTAMP:20260301T120000Z",
            "LAST-MODIFIED:20260301T120000Z",
            "SEQUENCE:3",
            "DTSTART;TZID=Europe/Berlin:20260303T180000",
            "DTEND;TZID=Europe/Berlin:20260303T190000",
            "RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=8",
            "EXDATE;TZID=Europe/Berlin:20260317T180000",
            "SUMMARY:Weekly Q&A",
            "LOCATION:https://video.example.com/j/42",
            "DESCRIPTION:Join: https://video.example.com/j/42\\n\\nAgenda…",
            "URL:https://video.example.com/j/42",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:series-42@live.example.com",
            "RECURRENCE-ID;TZID=Europe/Berlin:20260324T180000",
            "DTSTAMP:20260301T120000Z",
            "LAST-MODIFIED:20260301T120000Z",
            "SEQUENCE:3",
            "DTSTART;TZID=Europe/Berlin:20260324T190000",
            "DTEND;TZID=Europe/Berlin:20260324T200000",
            "SUMMARY:Weekly Q&A (moved to 19:00)",
            "LOCATION:https://video.example.com/j/42",
            "DESCRIPTION:Join: https://video.example.com/j/42",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:session-7@live.example.com",
            "DTSTAMP:20260302T090000Z",
            "LAST-MODIFIED:20260302T090000Z",
            "SEQUENCE:0",
            "DTSTART:20260402T140000Z",
            "DTEND:20260402T153000Z",
            "SUMMARY:Kick-off",
            "LOCATION:https://video.example.com/j/7",
            "DESCRIPTION:Join: https://video.example.com/j/7",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:session-8@live.example.com",
            "DTSTAMP:20260305T080000Z",
            "LAST-MODIFIED:20260305T080000Z",
            "SEQUENCE:2",
            "DTSTART:20260409T140000Z",
            "DTEND:20260409T150000Z",
            "STATUS:CANCELLED",
            "SUMMARY:Cancelled: Office hours",
            "END:VEVENT",
            "END:VCALENDAR",
        ]
    )
    + "\r\n"
).encode()
