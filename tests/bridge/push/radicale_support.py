"""A real Radicale CalDAV server for the push tests: a subprocess on a free loopback port.

`RadicaleServer.start(folder)` runs `python -m radicale` with htpasswd plain-text logins
(so username and password are really checked, with no delay after a wrong one), waits until
it answers, and keeps its log, in which Radicale notes every request it receives
(`requests("PUT")` counts them). `make_calendar` creates a calendar collection with MKCALENDAR;
`objects`/`put`/`etags` read and write it directly, as another CalDAV client (the user's
calendar app) would.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

USER = "alice"
PASSWORD = "correct horse battery staple"
START_TIMEOUT = 20.0
_REQUEST_LINE = re.compile(r"\b(GET|PUT|DELETE|PROPFIND|REPORT|MKCALENDAR|HEAD) request for")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RadicaleServer:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    @classmethod
    def start(cls, folder: Path) -> RadicaleServer:
        folder.mkdir(parents=True, exist_ok=True)
        users = folder / "users"
        users.write_text(f"{USER}:{PASSWORD}\n")
        port = free_port()
        log_path = folder / "radicale.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "radicale",
                "--server-hosts",
                f"127.0.0.1:{port}",
                "--storage-filesystem-folder",
                str(folder / "collections"),
                "--auth-type",
                "htpasswd",
                "--auth-htpasswd-filename",
                str(users),
                "--auth-htpasswd-encryption",
                "plain",
                "--auth-delay",
                "0",
                "--logging-level",
                "info",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = cls(process, port, log_path, log)
        server._wait_until_answering()
        return server

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"radicale exited: {self.log_path.read_text()}")
            try:
                httpx.get(f"{self.base_url}/.web/", timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"radicale did not answer within {START_TIMEOUT} s")

    def add_user(self, name: str, password: str) -> None:
        """Let another user log in from now on (Radicale reads the file at each login)."""
        users = self.log_path.parent / "users"
        users.write_text(users.read_text() + f"{name}:{password}\n")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()

    # -- the user's side: what their own calendar app does --------------------------------

    def client(self, user: str = USER, password: str = PASSWORD) -> httpx.Client:
        return httpx.Client(auth=(user, password), timeout=10.0)

    def make_calendar(self, name: str, user: str = USER, password: str = PASSWORD) -> str:
        """Create /<user>/<name>/ as a calendar; returns its URL (with a trailing slash)."""
        url = f"{self.base_url}/{user}/{name}/"
        with self.client(user, password) as http:
            response = http.request("MKCALENDAR", url)
        assert response.status_code == 201, response.text
        return url

    def etags(self, calendar_url: str) -> dict[str, str]:
        """Every object of the calendar: its path and ETag (one PROPFIND, Depth 1)."""
        body = '<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getetag/></prop></propfind>'
        with self.client() as http:
            response = http.request("PROPFIND", calendar_url, content=body, headers={"Depth": "1"})
        assert response.status_code == 207, response.text
        found = re.findall(
            r"<(?:\w+:)?href>([^<]+\.ics)</(?:\w+:)?href>.*?<(?:\w+:)?getetag>([^<]+)<",
            response.text,
            flags=re.S,
        )
        return {href: etag.replace("&quot;", '"') for href, etag in found}

    def objects(self, calendar_url: str) -> dict[str, bytes]:
        """Every object of the calendar: its path and bytes."""
        with self.client() as http:
            return {
                href: http.get(f"{self.base_url}{href}").content
                for href in self.etags(calendar_url)
            }

    def put(self, url: str, data: bytes, **headers: str) -> httpx.Response:
        with self.client() as http:
            return http.put(url, content=data, headers={"Content-Type": "text/calendar", **headers})

    def requests(self, method: str) -> int:
        """How many `method` requests Radicale has logged receiving so far."""
        self._log.flush()
        text = self.log_path.read_text(errors="replace")
        return sum(1 for match in _REQUEST_LINE.finditer(text) if match.group(1) == method)
