"""The README's demo command: simulators and a seeded bridge, URLs printed and working."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import httpx

from tests.e2e.conftest import feed_window
from tests.e2e.processes import CALBRIDGE, free_port
from tests.ical_validators import validate_feed


def test_demo_prints_urls_that_work_in_a_browser_and_a_calendar_parser() -> None:
    port = free_port()
    process = subprocess.Popen(
        [*CALBRIDGE, "demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        printed = []
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            printed.append(line)
            if "Press Ctrl-C" in line or not line:
                break
        output = "".join(printed)
        calendars = re.findall(r"calendar:\s+(\S+\.ics)", output)
        pages = re.findall(r"subscribe page:\s+(\S+)", output)
        webcals = re.findall(r"webcal:\s+(\S+)", output)
        assert len(calendars) == len(pages) == len(webcals) == 3, output
        for url in calendars:
            answer = httpx.get(url, timeout=60)
            assert answer.status_code == 200, url
            assert validate_feed(answer.content, start=feed_window()[0], end=feed_window()[1])
        for url in pages:
            page = httpx.get(url, timeout=60)
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert all(w.startswith(f"webcal://127.0.0.1:{port}/f/") for w in webcals)
        logins = re.findall(r"CalDAV:\s+(\S+) as (\S+), password (\S+)", output)
        assert len(logins) == 3, output
        for origin, user, password in logins:  # each login opens its calendar
            answer = httpx.request(
                "PROPFIND", f"{origin}dav/calendars/{user}/sessions/", auth=(user, password),
                headers={"Depth": "0"}, timeout=60,
            )  # fmt: skip
            assert answer.status_code == 207, answer.text
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
