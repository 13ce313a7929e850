"""Benchmark: an incremental CalDAV sync after one change in a 1,000-event calendar, against
a full `.ics` GET.

One `calbridge serve` (SQLite, the embedded queue) serves the feed of a TagMango source of
1,000 calls whose webhooks are registered with the simulator. A client first syncs the
calendar (sync-collection without a token). Each round then renames one call upstream, waits
until the calendar's ctag (PROPFIND, depth 0) shows the change, and compares what a client
does to get it:

- incremental: sync-collection with the last token, asking for the changed objects' ETags
  and calendar data (RFC 6578 lets a client ask for any property: one round trip), and
  reading that data with icalendar;
- incremental in two round trips, as Apple Calendar and DAVx5 do it: sync-collection for the
  ETags, then calendar-multiget of the changed href (reported, not the figure);
- full: GET of the `.ics` feed and reading it with icalendar.

Bytes are those of the request and answer bodies; time is the client's wall time, reading
what it got included (a client must, before it can show the change). Figures: the medians of
the two ratios of the one-round-trip sync over its rounds, target ≤ 0.02 each. On loopback a
request costs a few milliseconds whatever it carries, so the time is mostly the client's
reading of 1,000 events against one.

    python -m bench.bench_caldav [--events 1000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import icalendar
from lxml import etree

from bench.bench_outage import wait_for_feeds
from bench.processes import installation, shared_calls, upstream
from bridge import operations
from bridge.caldav.resources import calendar_path, username
from bridge.signing import caldav_password

TARGET = 0.02
DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
GIVE_UP_AFTER = 30.0
SYNC = (
    '<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    "<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>"
    "<D:prop><D:getetag/>{data}</D:prop></D:sync-collection>"
)
MULTIGET = (
    '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    "<D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>"
)
CTAG = (
    '<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">'
    "<D:prop><CS:getctag/></D:prop></D:propfind>"
)


def _sync(
    client: httpx.Client, calendar: str, token: str, *, with_data: bool = False
) -> tuple[str, list[str], list[Any], int]:
    """The new token, the changed hrefs, their calendars (read, `with_data`) and the bytes
    exchanged."""
    body = SYNC.format(token=token, data="<C:calendar-data/>" if with_data else "").encode()
    answer = client.request("REPORT", calendar, content=body, headers={"Depth": "1"})
    answer.raise_for_status()
    root = etree.fromstring(answer.content)
    hrefs = [r.findtext(f"{DAV}href") for r in root.iter(f"{DAV}response")]
    calendars = [icalendar.Calendar.from_ical(d.text) for d in root.iter(f"{CALDAV}calendar-data")]
    return root.findtext(f"{DAV}sync-token"), hrefs, calendars, len(body) + len(answer.content)


def _multiget(client: httpx.Client, calendar: str, hrefs: list[str]) -> tuple[list[Any], int]:
    body = MULTIGET.format(hrefs="".join(f"<D:href>{h}</D:href>" for h in hrefs)).encode()
    answer = client.request("REPORT", calendar, content=body, headers={"Depth": "1"})
    answer.raise_for_status()
    root = etree.fromstring(answer.content)
    calendars = [icalendar.Calendar.from_ical(d.text) for d in root.iter(f"{CALDAV}calendar-data")]
    return calendars, len(body) + len(answer.content)


def _ctag(client: httpx.Client, calendar: str) -> str:
    answer = client.request("PROPFIND", calendar, content=CTAG, headers={"Depth": "0"})
    answer.raise_for_status()
    return etree.fromstring(answer.content).findtext(".//{http://calendarserver.org/ns/}getctag")


def run(*, events: int = 1000, rounds: int = 10) -> dict[str, Any]:
    api_key = f"bench-{secrets.token_hex(8)}"
    calls = shared_calls(events, datetime.now(UTC))
    ratios: dict[str, list[float]] = {"bytes": [], "time": [], "two_trips_time": []}
    times: dict[str, list[float]] = {"one_trip": [], "two_trips": [], "full": []}
    incremental_bytes = full_bytes = 0
    with upstream(calls, api_key) as api, installation("calbridge-bench-caldav-") as bridge:
        source_id = bridge.add_source(api.url, api_key)
        row, token = bridge.services().store.create_feed(
            name="Bench CalDAV", source_ids=[source_id], horizon_days=7 * events // 24 + 30
        )
        bridge.services().store.register_partition(
            bridge.services().feeds.partitions(row)[0], row.horizon_days, datetime.now(UTC)
        )
        operations.register_webhooks(bridge.services(), "bench")
        bridge.serve("--workers", "1", "--threads", "8")
        ics_url = f"{bridge.public_url}/f/{token}.ics"
        wait_for_feeds([ics_url])
        user = username(row.owner)
        calendar = calendar_path(user)
        auth = (user, caldav_password(token))
        with httpx.Client(base_url=bridge.public_url, auth=auth, timeout=60) as client:
            sync_token, first, _, _ = _sync(client, calendar, "")
            if len(first) != events:
                raise RuntimeError(f"the calendar has {len(first)} objects, not {events}")
            for number in range(2 * rounds):
                before = _ctag(client, calendar)
                api.simulator.update_call(calls[number].id, title=f"Renamed in round {number}")
                deadline = time.monotonic() + GIVE_UP_AFTER
                while _ctag(client, calendar) == before:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"round {number}: no change within {GIVE_UP_AFTER} s")
                    time.sleep(0.05)

                one_trip = number % 2 == 0
                started = time.perf_counter()
                sync_token, changed, read, exchanged = _sync(
                    client, calendar, sync_token, with_data=one_trip
                )
                if not one_trip:
                    read, more = _multiget(client, calendar, changed)
                    exchanged += more
                incremental = time.perf_counter() - started
                if len(changed) != 1 or len(read) != 1:
                    raise RuntimeError(f"round {number}: {len(changed)} objects changed, not 1")

                started = time.perf_counter()
                body = client.get(ics_url).content
                icalendar.Calendar.from_ical(body)
                full = time.perf_counter() - started

                times["full"].append(full)
                if one_trip:
                    incremental_bytes, full_bytes = exchanged, len(body)
                    ratios["bytes"].append(exchanged / len(body))
                    ratios["time"].append(incremental / full)
                    times["one_trip"].append(incremental)
                else:
                    ratios["two_trips_time"].append(incremental / full)
                    times["two_trips"].append(incremental)
    bytes_ratio = statistics.median(ratios["bytes"])
    time_ratio = statistics.median(ratios["time"])
    return {
        "events": events,
        "rounds": rounds,
        "incremental_bytes": incremental_bytes,
        "full_bytes": full_bytes,
        "incremental_ms": round(1000 * statistics.median(times["one_trip"]), 1),
        "two_trips_ms": round(1000 * statistics.median(times["two_trips"]), 1),
        "full_ms": round(1000 * statistics.median(times["full"]), 1),
        "bytes_ratio": round(bytes_ratio, 5),
        "time_ratio": round(time_ratio, 4),
        "two_trips_time_ratio": round(statistics.median(ratios["two_trips_time"]), 4),
        "target": TARGET,
        "ok": bytes_ratio <= TARGET and time_ratio <= TARGET,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    result = run(events=args.events, rounds=args.rounds)
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
