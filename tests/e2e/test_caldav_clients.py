"""Real CalDAV clients against the read-only CalDAV view, over HTTP on loopback: the `caldav`
library, vdirsyncer and caldav-server-tester (as separate processes where they are commands)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import caldav
import httpx
import pytest
from lxml import etree

from bridge.simulator.server import RunningServer, start_server
from tests.bridge.web.caldav_support import NS, login_of
from tests.web_support import NOW, Harness, call, make_harness

BIN = Path(sys.executable).parent


@dataclasses.dataclass
class Seen:
    method: str
    path: str
    body: bytes


class Recorder:
    """WSGI middleware keeping each request's method, path and body."""

    def __init__(self, app: Any) -> None:
        self.app, self.requests = app, []

    def __call__(self, environ: dict, start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = __import__("io").BytesIO(body)
        self.requests.append(Seen(environ["REQUEST_METHOD"], environ["PATH_INFO"], body))
        return self.app(environ, start_response)

    def downloaded(self) -> list[str]:
        """The object paths fetched by GET or named in a calendar-multiget since the last clear."""
        paths = [r.path for r in self.requests if r.method == "GET" and r.path.endswith(".ics")]
        for seen in self.requests:
            if seen.method == "REPORT" and b"calendar-multiget" in seen.body:
                root = etree.fromstring(seen.body)
                paths += [h.text for h in root.iter("{DAV:}href")]
        return paths


@dataclasses.dataclass
class Served:
    harness: Harness
    server: RunningServer
    recorder: Recorder
    user: str
    password: str

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server.port}"

    def change_one_session(self) -> None:
        sessions = self.harness.upstream.sessions
        sessions[1] = dataclasses.replace(sessions[1], title="Morning flow in the new room")
        self.harness.refetch()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    harness = make_harness(tmp_path)
    harness.upstream.sessions += [
        call(
            f"w{week}",
            "Weekly circle",
            NOW + timedelta(days=1 + 7 * week),
            series_key="circle",
            meeting_url="https://meet.example.org/circle",
        )
        for week in range(6)
    ]
    harness.refetch()
    recorder = Recorder(harness.app.wsgi_app)
    harness.app.wsgi_app = recorder
    server = start_server(harness.app)
    user, password = login_of(f"f{harness.feed_id}", harness.token)
    yield Served(harness, server, recorder, user, password)
    server.stop()


def test_the_caldav_library_discovers_searches_and_syncs(served: Served) -> None:
    client = caldav.DAVClient(
        url=served.origin + "/", username=served.user, password=served.password
    )
    [calendar] = client.principal().calendars()
    assert calendar.url.path == f"/dav/calendars/{served.user}/sessions/"
    assert calendar.get_display_name() == "Yoga & Friends: live"
    found = calendar.search(start=NOW, end=NOW + timedelta(hours=3), event=True)
    assert [str(e.icalendar_component["UID"]).split("@")[0] for e in found] == ["tagmango-c1"]
    weekly = calendar.search(
        start=NOW + timedelta(days=20), end=NOW + timedelta(days=23), event=True
    )
    assert ["series" in str(e.icalendar_component["UID"]) for e in weekly] == [True]
    everything = calendar.objects_by_sync_token(load_objects=True)
    assert len(list(everything)) == 6  # five singles and one series
    served.change_one_session()
    changed = calendar.objects_by_sync_token(sync_token=everything.sync_token, load_objects=True)
    [one] = list(changed)
    assert "Morning flow in the new room" in one.data
    again = calendar.objects_by_sync_token(sync_token=changed.sync_token, load_objects=True)
    assert list(again) == []


def test_vdirsyncer_downloads_only_what_changed(served: Served, tmp_path: Path) -> None:
    vdir = tmp_path / "vdir"
    config = tmp_path / "vdirsyncer.conf"
    config.write_text(
        f"""[general]
status_path = "{tmp_path / "status"}/"

[pair sessions]
a = "calbridge"
b = "local"
collections = null
conflict_resolution = "a wins"

[storage calbridge]
type = "caldav"
url = "{served.origin}/dav/calendars/{served.user}/sessions/"
username = "{served.user}"
password = "{served.password}"
read_only = true

[storage local]
type = "filesystem"
path = "{vdir}/"
fileext = ".ics"
"""
    )
    vdir.mkdir()

    def vdirsyncer(command: str) -> None:
        result = subprocess.run(
            [BIN / "vdirsyncer", "-c", config, command],
            capture_output=True,
            text=True,
            timeout=120,
            input="y\n",
        )
        assert result.returncode == 0, result.stdout + result.stderr

    vdirsyncer("discover")
    vdirsyncer("sync")
    files = sorted(vdir.glob("*.ics"))
    assert len(files) == 6
    served.recorder.requests.clear()
    served.change_one_session()
    vdirsyncer("sync")
    [path] = served.recorder.downloaded()
    assert "tagmango-c1" in path
    assert "Morning flow in the new room" in "".join(f.read_text() for f in vdir.glob("*.ics"))


# caldav-server-tester's checks that need no writes: its other checks create calendars and
# events first, which a read-only server refuses by design.
READ_ONLY_CHECKS = ("CheckGetCurrentUserPrincipal", "CheckPropfindAllprop", "CheckPrincipalSearch")


def test_caldav_server_tester_read_only_checks_pass(served: Served) -> None:
    command = [
        BIN / "caldav-server-tester",
        "--caldav-url", served.origin + "/",
        "--caldav-username", served.user,
        "--caldav-password", served.password,
        "--format", "json",
    ]  # fmt: skip
    for check in READ_ONLY_CHECKS:
        command += ["--run-checks", check]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["features"] == {}, report["features"]  # every check found full support
    assert "unexpected" not in result.stderr, result.stderr


def test_requests_as_apple_and_thunderbird_send_them(served: Served) -> None:
    """The request bodies Apple Calendar (macOS and iOS) and Thunderbird send through
    discovery and sync, kept as fixtures (written from those clients' published request
    traces): each is answered with the properties that client reads next."""
    fixtures = Path(__file__).parent / "caldav_requests"
    calendar = f"/dav/calendars/{served.user}/sessions/"
    first_object = calendar + "tagmango-c1%40cal.example.org.ics"
    places = {
        "{principal}": f"/dav/principals/{served.user}/",
        "{home}": f"/dav/calendars/{served.user}/",
        "{calendar}": calendar,
        "{object}": first_object,
    }
    namespaces = {**NS, "A": "http://apple.com/ns/ical/"}
    expectations = json.loads((fixtures / "expectations.json").read_text())
    auth = (served.user, served.password)
    with httpx.Client(base_url=served.origin, auth=auth) as client:
        for name, expected in expectations.items():
            body = (fixtures / f"{name}.xml").read_text()
            path = expected["path"]
            for placeholder, value in places.items():
                path, body = path.replace(placeholder, value), body.replace(placeholder, value)
            answer = client.request(
                expected["method"], path, content=body, headers={"Depth": expected["depth"]}
            )
            assert answer.status_code == 207, (name, answer.text)
            root = etree.fromstring(answer.content)
            for prop in expected["found"]:
                assert root.findall(f".//D:propstat/D:prop/{prop}", namespaces), (name, prop)
            assert len(root.findall("D:response", NS)) == expected["responses"], name
