"""The hostile-request probe (issue 11): one real `calbridge serve`, a table of attacks, and every
answer checked for its status and content type, for no 5xx, no echoed secret, no injected header,
and a server that is still up afterwards.

Requests go out with their exact request target (`extensions={"target": ...}`), so httpx
normalises nothing; the malformed request lines that no HTTP client would send go over a plain
socket. The simulators serve TagMango calls whose meeting URLs are hostile: their join links
must answer with the "can't be opened" page and never redirect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from urllib.parse import quote

import httpx
import icalendar
import pytest

from tests.e2e.probe_support import (
    ADMIN_TOKEN,
    CALENDAR,
    GOOD_MEETING,
    HOSTILE_MEETING_URLS,
    HTML,
    INJECTED,
    JSON,
    TEXT,
    Probe,
    assert_safe,
    call_id,
    forged,
    join_links,
    log_after,
    raw_exchange,
    re_signed,
    running_probe,
    spliced,
    token_path,
    uid_of,
)


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    with running_probe(tmp_path_factory.mktemp("probe")) as running:
        yield running


def kind_of(answer: httpx.Response) -> tuple[int, str]:
    """The answer's status and media type."""
    return answer.status_code, answer.headers["content-type"].split(";")[0]


def checked_answer(probe: Probe, path: str, status: int, content_type: str) -> httpx.Response:
    """The answer to `path`, once it has the expected status and media type, is safe
    (`assert_safe`) and left the server up."""
    answer = probe.send(path)
    assert kind_of(answer) == (status, content_type)
    assert_safe(probe, answer, path)
    probe.assert_alive()
    return answer


# -- tokens ------------------------------------------------------------------------------------

GOOD_LINK = call_id(0)

# (case, request target, expected status, expected content type)
TOKEN_CASES: list[tuple[str, Callable[[Probe], str], int, str]] = [
    ("feed-forged", lambda p: f"/f/{forged()}.ics", 404, TEXT),
    ("feed-truncated", lambda p: f"/f/{p.feed_token[:-1]}.ics", 404, TEXT),
    ("feed-extended", lambda p: f"/f/{p.feed_token}A.ics", 404, TEXT),
    ("feed-case-swapped", lambda p: f"/f/{p.feed_token.swapcase()}.ics", 404, TEXT),
    ("feed-page-truncated", lambda p: f"/f/{p.feed_token[:16]}", 404, HTML),
    ("feed-3-kb", lambda p: f"/f/{'A' * 3000}.ics", 404, TEXT),
    ("feed-10-kb", lambda p: f"/f/{'A' * 10_000}.ics", 414, HTML),  # gunicorn's request-line cap
    ("share-forged", lambda p: f"/f/{forged()}", 404, HTML),
    ("share-truncated", lambda p: f"/f/{p.share_token[:-2]}.ics", 404, TEXT),
    ("share-revoked", lambda p: f"/f/{p.revoked_share_token}.ics", 410, TEXT),
    ("share-revoked-page", lambda p: f"/f/{p.revoked_share_token}", 410, HTML),
    ("join-forged", lambda p: f"/j/{forged()}.{forged()}", 400, HTML),
    ("join-truncated", lambda p: p.join_links[GOOD_LINK][:-4], 400, HTML),
    ("join-re-signed", lambda p: re_signed(p.join_links[GOOD_LINK]), 400, HTML),
    ("join-spliced", spliced, 400, HTML),
    ("join-not-base64", lambda p: "/j/%FF%FE.%00", 400, HTML),
    ("join-2-kb", lambda p: f"/j/{'A' * 2100}", 400, HTML),
    ("join-10-kb", lambda p: f"/j/{'A' * 10_000}", 414, HTML),
]


@pytest.mark.parametrize(
    ("target", "status", "content_type"),
    [pytest.param(*case[1:], id=case[0]) for case in TOKEN_CASES],
)
def test_forged_truncated_and_oversized_tokens_are_refused(
    probe: Probe, target: Callable[[Probe], str], status: int, content_type: str
) -> None:
    answer = checked_answer(probe, target(probe), status, content_type)
    assert "location" not in answer.headers


@pytest.mark.parametrize("prefix", ["/f/", "/j/"])
def test_a_one_megabyte_token_is_refused_and_the_server_stays_up(probe: Probe, prefix: str) -> None:
    try:
        answer = probe.send(prefix + "A" * 1_000_000)
    except (httpx.RemoteProtocolError, httpx.WriteError):
        pass  # gunicorn may close the connection before the request line is all sent
    else:
        assert answer.status_code == 414
    probe.assert_alive()


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        pytest.param(f"Bearer {ADMIN_TOKEN[:-1]}", 401, id="truncated"),
        pytest.param(f"Bearer {ADMIN_TOKEN}x", 401, id="extended"),
        pytest.param(f"Bearer {forged()}", 401, id="forged"),
        pytest.param(b"Bearer \xff\xfe" + ADMIN_TOKEN.encode(), 401, id="not-utf-8"),
        pytest.param(f"Basic {ADMIN_TOKEN}", 401, id="wrong-scheme"),
        pytest.param("Bearer " + "A" * 10_000, 431, id="10-kb"),  # gunicorn's header-field cap
    ],
)
def test_forged_admin_tokens_are_refused(
    probe: Probe, authorization: str | bytes, status: int
) -> None:
    answer = probe.send("/api/v1/feeds", headers={"Authorization": authorization})
    assert answer.status_code == status
    if status == 401:
        assert answer.headers["content-type"] == JSON
        assert answer.json()["error"]["code"] == "unauthorized"
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert_safe(probe, answer, "/api/v1/feeds")
    probe.assert_alive()


# -- percent-encoded and dotted paths ------------------------------------------------------------

SAME_AS_FEED = 200  # WSGI decodes the path: these name the feed itself, token and all

# (case, request target, expected status, expected content type)
PATH_CASES: list[tuple[str, Callable[[Probe], str], int, str]] = [
    ("encoded-f", lambda p: f"/%66/{p.feed_token}.ics", SAME_AS_FEED, CALENDAR),
    ("encoded-slash", lambda p: f"/f%2F{p.feed_token}.ics", SAME_AS_FEED, CALENDAR),
    ("encoded-dot", lambda p: f"/f/{p.feed_token}%2Eics", SAME_AS_FEED, CALENDAR),
    ("encoded-f-page", lambda p: f"/%66/{p.feed_token}", 200, HTML),
    ("double-encoded-slash", lambda p: f"/f%252F{p.feed_token}.ics", 404, HTML),
    ("double-encoded-dot", lambda p: f"/f/{p.feed_token}%252Eics", 404, HTML),
    ("encoded-percent", lambda p: f"/f/%25{p.feed_token}.ics", 404, TEXT),
    ("dot-dot", lambda p: f"/f/../f/{p.feed_token}.ics", 404, HTML),
    ("encoded-dot-dot", lambda p: f"/f/%2e%2e/f/{p.feed_token}.ics", 404, HTML),
    ("dot-dot-slash-encoded", lambda p: f"/x/..%2Ff/{p.feed_token}.ics", 404, HTML),
    ("trailing-dot-dot", lambda p: f"/f/{p.feed_token}.ics/..", 404, HTML),
    ("double-slash", lambda p: f"//f/{p.feed_token}.ics", 404, HTML),
    ("join-dot-dot", lambda p: "/j/%2e%2e", 400, HTML),
    ("static-traversal", lambda p: "/static/%2e%2e/%2e%2e/pyproject.toml", 404, HTML),
    ("static-encoded-traversal", lambda p: "/static/..%2F..%2Fpyproject.toml", 404, HTML),
    ("static-backslash-traversal", lambda p: "/static/..%5C..%5Cpyproject.toml", 404, HTML),
    ("api-encoded-traversal", lambda p: "/api/v1/feeds/%2e%2e/sources", 404, JSON),
]


@pytest.mark.parametrize(
    ("target", "status", "content_type"),
    [pytest.param(*case[1:], id=case[0]) for case in PATH_CASES],
)
def test_percent_encoded_and_dotted_paths(
    probe: Probe, target: Callable[[Probe], str], status: int, content_type: str
) -> None:
    answer = checked_answer(probe, target(probe), status, content_type)
    if content_type == CALENDAR:
        assert answer.content == probe.send(f"/f/{probe.feed_token}.ics").content


# -- odd UIDs in single-event downloads --------------------------------------------------------

REAL_UID = quote(uid_of(call_id(0)), safe="@")
# (case, the UID part of /f/<token>/events/<uid>.ics, expected status, expected content type);
# a UID with a line break does not match the route at all, so the app's HTML 404 answers it.
UID_CASES: list[tuple[str, str, int, str]] = [
    ("crlf-header-injection", f"x%0D%0A{INJECTED}:%201", 404, HTML),
    ("real-uid-then-crlf", f"{REAL_UID}%0D%0A{INJECTED}:%201", 404, HTML),
    ("lone-lf", "x%0Ay", 404, HTML),
    ("lone-cr", "x%0Dy", 404, TEXT),
    ("nul", "x%00y", 404, TEXT),
    ("real-uid-then-nul", f"{REAL_UID}%00", 404, TEXT),
    ("rtl-override", f"%E2%80%AE{REAL_UID}", 404, TEXT),
    ("zero-width", f"tagmango-%E2%80%8B{REAL_UID[9:]}", 404, TEXT),
    ("byte-order-mark", f"%EF%BB%BF{REAL_UID}", 404, TEXT),
    ("four-byte-emoji", "%F0%9F%98%80%F0%9F%92%A5", 404, TEXT),
    ("invalid-utf-8", "%FF%FE%C0%AF", 404, TEXT),
    ("encoded-surrogate", "%ED%A0%80", 404, TEXT),
    ("traversal", "..%2F..%2F..%2Fpyproject.toml", 404, TEXT),
    ("slashes", "a/b/c", 404, TEXT),
    ("quote-and-semicolon", "x%22%3B%20filename%3D%22evil.html", 404, TEXT),
    ("3-kb", "u" * 3000, 404, TEXT),
    ("10-kb", "u" * 10_000, 414, HTML),
]


@pytest.mark.parametrize(
    ("uid", "status", "content_type"),
    [pytest.param(*case[1:], id=case[0]) for case in UID_CASES],
)
def test_odd_uids_in_event_downloads(
    probe: Probe, uid: str, status: int, content_type: str
) -> None:
    path = f"/f/{probe.feed_token}/events/{uid}.ics"
    answer = checked_answer(probe, path, status, content_type)
    assert "content-disposition" not in answer.headers


def test_a_real_event_downloads_with_a_safe_file_name(probe: Probe) -> None:
    answer = probe.send(f"/f/{probe.feed_token}/events/{REAL_UID}.ics")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    assert (
        answer.headers["content-disposition"] == f'attachment; filename="tagmango-{call_id(0)}.ics"'
    )
    events = icalendar.Calendar.from_ical(answer.content).walk("VEVENT")
    assert [str(event["UID"]) for event in events] == [uid_of(call_id(0))]


# -- hostile meeting URLs ------------------------------------------------------------------------


def test_a_good_meeting_url_redirects(probe: Probe) -> None:
    answer = probe.send(probe.join_links[call_id(0)])
    assert answer.status_code == 302 and answer.headers["location"] == GOOD_MEETING


@pytest.mark.parametrize(
    "index", [pytest.param(i, id=name) for i, name in enumerate(HOSTILE_MEETING_URLS, 1)]
)
def test_hostile_meeting_urls_get_the_cannot_open_page(probe: Probe, index: int) -> None:
    link = probe.join_links.get(call_id(index))
    assert link is not None, "the event has no join link: the meeting URL was dropped upstream"
    answer = probe.send(link)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert "location" not in answer.headers
    assert "can&#39;t be opened" in answer.text or "can't be opened" in answer.text
    assert "evil" not in answer.text and "alert" not in answer.text  # the URL is not echoed
    assert_safe(probe, answer, link)
    probe.assert_alive()


# -- request lines no HTTP client sends ----------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(b"/f/TOKEN.ics\r\nX-Injected: 1", id="crlf"),
        pytest.param(b"/f/TOKEN.ics\nX-Injected: 1", id="lf"),
        pytest.param(b"/f/TOKEN\x00.ics", id="nul"),
        pytest.param(b"/f/TOKEN/events/\xe2\x80\xae.ics", id="raw-utf-8"),
        pytest.param(b"/f/TOKEN .ics", id="space"),
    ],
)
def test_malformed_request_lines_are_refused(probe: Probe, target: bytes) -> None:
    request = b"GET " + target.replace(b"TOKEN", probe.feed_token.encode()) + b" HTTP/1.1\r\n"
    status, head = raw_exchange(probe, request + b"Host: x\r\nConnection: close\r\n\r\n")
    assert status == 400
    assert INJECTED.lower().encode() not in head.lower()
    probe.assert_alive()


# -- rotation, logs and headers -------------------------------------------------------------------


def test_join_links_from_before_a_rotation_answer_410(probe: Probe) -> None:
    old_link = probe.spare_join_link
    assert probe.send(old_link).status_code == 302
    rotated = probe.env.cli_json("feed", "rotate", str(probe.spare_feed_id))
    answer = probe.send(old_link)
    assert answer.status_code == 410 and answer.headers["content-type"].startswith(HTML)
    assert_safe(probe, answer, old_link)
    new_link = join_links(probe.send(token_path(rotated["ics_url"])).content)[call_id(0)]
    assert new_link != old_link
    assert probe.send(new_link).headers.get("location") == GOOD_MEETING


def test_access_log_holds_no_token_sent_percent_encoded(probe: Probe) -> None:
    feed, join = probe.feed_token, probe.join_links[call_id(0)].removeprefix("/j/")
    targets = [
        f"/%66/{feed}.ics",
        f"/f%2F{feed}.ics",
        f"/%66/{feed}",
        f"/%66/{feed}/events/{REAL_UID}.ics",
        f"/%6A/{join}",
        f"/%6a/{join}",
    ]
    log = log_after(probe, lambda: [probe.send(target) for target in targets], len(targets))
    assert len(re.findall(r'"GET [^"]* HTTP/1.1" ', log)) == len(targets), log
    assert feed not in log and join not in log, log


def test_error_log_holds_no_token_from_a_malformed_request_line(probe: Probe) -> None:
    request = f"GET /f/{probe.feed_token}\x00.ics HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    log = log_after(probe, lambda: raw_exchange(probe, request), 1)
    assert "Invalid request" in log and probe.feed_token not in log, log


def test_every_answer_carries_the_security_headers(probe: Probe) -> None:
    feed = probe.feed_token
    requests = [
        ("GET", f"/f/{feed}.ics"),
        ("HEAD", f"/f/{feed}.ics"),
        ("GET", f"/f/{forged()}.ics"),
        ("GET", f"/f/{feed}"),
        ("GET", f"/f/{feed}/events/{REAL_UID}.ics"),
        ("GET", f"/f/{feed}/events/none.ics"),
        ("GET", probe.join_links[call_id(0)]),
        ("GET", probe.join_links[call_id(1)]),
        ("GET", "/j/forged"),
        ("GET", "/api/v1/feeds"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/static/calbridge.css"),
        ("GET", "/healthz"),
        ("GET", "/no/such/page"),
    ]
    missing = []
    for method, target in requests:
        headers = probe.send(target, method).headers
        csp = headers.get("content-security-policy", "")
        if (
            headers.get("x-content-type-options") != "nosniff"
            or "referrer-policy" not in headers
            or "frame-ancestors" not in csp
        ):
            missing.append(f"{method} {target[:40]}")
    assert not missing, missing
