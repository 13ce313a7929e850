"""The probe's running server, its secrets, and the helpers that send hostile requests to it and
check what comes back (used by tests/e2e/test_probe.py)."""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import icalendar
from itsdangerous import URLSafeSerializer

from bridge.signing import JOIN_SALT
from bridge.simulator.combined import build_simulators
from bridge.simulator.server import start_server
from bridge.simulator.tagmango import SimCall
from tests.e2e.conftest import add_sources, create_feed
from tests.e2e.processes import ADMIN_TOKEN, BridgeEnv, BridgeServer
from tests.ical_validators import validate_feed

GOOD_MEETING = "https://zoom.us/j/4242424242?pwd=probe"
HOSTILE_MEETING_URLS = {
    "javascript": "javascript:alert(1)",
    "javascript-mixed-case": "JaVaScRiPt:alert(document.domain)",
    "data": "data:text/html,<script>alert(1)</script>",
    "protocol-relative": "//evil.example/meeting",
    "scheme-without-slashes": "https:evil.example",
    "user-and-password": "https://user:pass@evil.example/",
    "trusted-name-as-user": "https://zoom.us@evil.example/",
    "backslash-before-at": "https://good.example\\@evil.example/",
    "backslashes-for-slashes": "https:\\\\evil.example/",
    "tab-in-scheme": "java\tscript:alert(1)",
    "newline-in-path": "https://evil.example/a\nb",
    "nul": "https://evil.example/\x00",
    "control-first": "\x01https://evil.example/",
    "zero-width-in-host": "https://zo\u200bom.us/j/1",
    "rtl-override": "https://\u202esu.mooz/j/1",
    "fullwidth-dot": "https://zoom\uff0eus/j/1",
    "percent-encoded-host": "https://%65vil.example/",
    "ftp": "ftp://evil.example/",
}
# An injected header would come back under this name.
INJECTED = "X-Injected"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def call_id(index: int) -> str:
    return f"c0ffee{index:018x}"  # 24 hex digits, like TagMango's ids


HTML, TEXT, JSON, CALENDAR = "text/html", "text/plain", "application/json", "text/calendar"


@dataclass
class Probe:
    """The running server, the secrets it issued, and the join links of the probe's calls."""

    env: BridgeEnv
    server: BridgeServer
    client: httpx.Client
    feed_token: str
    share_token: str
    revoked_share_token: str
    join_links: dict[str, str]  # call id -> join link path (/j/...), from the feed
    spare_feed_id: int  # a second feed, for the rotation check
    spare_join_link: str

    @property
    def secrets(self) -> list[str]:
        return [
            self.feed_token,
            self.share_token,
            ADMIN_TOKEN,
            self.env.environ()["CALBRIDGE_SECRET_KEY"],
        ]

    def send(self, target: str, method: str = "GET", **kwargs: object) -> httpx.Response:
        """`method target` exactly as given (no normalisation by the client)."""
        return self.client.request(
            method, "/", extensions={"target": target.encode("ascii")}, **kwargs
        )

    def assert_alive(self) -> None:
        assert self.server.process is not None and self.server.process.poll() is None
        assert self.client.get("/healthz").status_code == 200
        log = self.server.log_path.read_text(errors="replace")
        assert "Traceback" not in log and "Exception on" not in log, log[-3000:]


def uid_of(call: str) -> str:
    return f"tagmango-{call}@127.0.0.1"


def join_links(feed: bytes) -> dict[str, str]:
    """Call id -> join link path of every TagMango event of a (validated) feed."""
    now = datetime.now(UTC)
    validate_feed(feed, start=now - timedelta(days=40), end=now + timedelta(days=200))
    links = {}
    for event in icalendar.Calendar.from_ical(feed).walk("VEVENT"):
        match = re.fullmatch(r"tagmango-([0-9a-f]{24})@127\.0\.0\.1", str(event["UID"]))
        if match and "URL" in event:
            links[match[1]] = httpx.URL(str(event["URL"])).raw_path.decode()
    return links


@contextmanager
def running_probe(directory: Path) -> Iterator[Probe]:
    """Simulators with the probe's calls, `calbridge serve`, two feeds and two share links
    (one revoked), until the block ends."""
    now = datetime.now(UTC)
    simulators = build_simulators(now)
    for index, meeting_url in enumerate([GOOD_MEETING, *HOSTILE_MEETING_URLS.values()]):
        start = now + timedelta(days=3, hours=index)
        end = start + timedelta(minutes=30)
        call = SimCall(call_id(index), f"Probe {index}", start, end, meeting_url=meeting_url)
        simulators.tagmango.add_call(call)
    upstream = start_server(simulators)
    env = BridgeEnv(directory)
    server = BridgeServer(env)
    try:
        add_sources(env, simulators, upstream.url)
        feed = create_feed(env)
        spare = create_feed(env, "--name", "Spare")
        share = env.cli_json("feed", "share", str(feed["id"]), "--scope", "full")
        revoked = env.cli_json("feed", "share", str(feed["id"]))
        server.start()
        with httpx.Client(base_url=env.public_url, timeout=60) as client:
            # The command line does not revoke share links; the admin API does.
            revoke = client.post(f"/api/v1/shares/{revoked['id']}/revoke", headers=ADMIN)
            assert revoke.status_code == 200, revoke.text
            links = join_links(client.get(token_path(feed["ics_url"])).content)
            spare_links = join_links(client.get(token_path(spare["ics_url"])).content)
            yield Probe(
                env,
                server,
                client,
                feed_token=token_of(feed["ics_url"]),
                share_token=token_of(share["ics_url"]),
                revoked_share_token=token_of(revoked["ics_url"]),
                join_links=links,
                spare_feed_id=spare["id"],
                spare_join_link=spare_links[call_id(0)],
            )
    finally:
        server.stop()
        upstream.stop()


def token_of(ics_url: str) -> str:
    return ics_url.rsplit("/", 1)[1].removesuffix(".ics")


def token_path(url: str) -> str:
    return httpx.URL(url).raw_path.decode()


def assert_safe(probe: Probe, answer: httpx.Response, target: str) -> None:
    """What holds for every answer: no 5xx, no injected header, no secret the request did not
    carry (and for a refusal none at all), nothing of a long hostile target echoed."""
    assert answer.status_code < 500, answer.text[:500]
    assert INJECTED.lower() not in answer.headers
    assert all("\r" not in value and "\n" not in value for value in answer.headers.values())
    text = answer.text
    for secret in probe.secrets:
        if answer.status_code >= 400 or secret not in target:
            assert secret not in text and secret not in str(answer.headers), secret
    hostile = target.rsplit("/", 1)[-1]
    if answer.status_code >= 400 and len(hostile) >= 24:
        assert hostile not in text


# -- hostile values ------------------------------------------------------------------------------


def forged() -> str:
    return secrets.token_urlsafe(24)


def re_signed(join_link: str) -> str:
    """The join token's own payload, signed with a key this server never had."""
    token = join_link.removeprefix("/j/")
    payload = URLSafeSerializer("", salt=JOIN_SALT).loads_unsafe(token)[1]
    other = URLSafeSerializer(
        "not-the-secret-key", salt=JOIN_SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )
    return f"/j/{other.dumps(payload)}"


def spliced(probe: Probe) -> str:
    """One join token's payload with another's signature."""
    first, second = (link.removeprefix("/j/") for link in list(probe.join_links.values())[:2])
    return f"/j/{first.rsplit('.', 1)[0]}.{second.rsplit('.', 1)[1]}"


def raw_exchange(probe: Probe, request: bytes) -> tuple[int, bytes]:
    """Send `request` as is; (status, head of the answer) once the server closes."""
    with socket.create_connection(("127.0.0.1", probe.env.port), timeout=30) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0]
    return int(head.split(b" ", 2)[1]), head


def log_after(probe: Probe, send: Callable[[], object], lines: int) -> str:
    """What the server logs while `send` runs, once it has logged `lines` lines (gunicorn
    writes an access-log line just after its answer, so wait for them)."""
    before = _settled_log_size(probe)
    send()
    return _log_since(probe, before, lambda text: text.count("\n") >= lines)


def _settled_log_size(probe: Probe) -> int:
    """The log's size once the lines of earlier requests are in it: the line of a marker
    request, sent after them, has been written."""
    marker = f"/healthz?log-mark={secrets.token_hex(8)}"
    probe.send(marker)
    _log_since(probe, 0, lambda text: marker in text)
    return probe.server.log_path.stat().st_size


def _log_since(probe: Probe, offset: int, done: Callable[[str], bool]) -> str:
    """The log from byte `offset` on, once `done` says it is complete (or after 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        with probe.server.log_path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
        if done(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.05)
