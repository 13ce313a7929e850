"""Secret tokens never reach the logs."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from bridge.logs import RedactingFilter, RedactingGunicornLogger, WarnOnce, redact

TOKEN = "h8A6a3xTHm7t574dNdxhgOpkUuim9hXd"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"GET /f/{TOKEN}.ics HTTP/1.1", "GET /f/… HTTP/1.1"),
        (f"GET /f/{TOKEN}/events/tagmango-1@x.ics", "GET /f/…/events/tagmango-1@x.ics"),
        (f"/j/{TOKEN}.sig-nature?x=1", "/j/…?x=1"),
        ("GET /healthz HTTP/1.1", "GET /healthz HTTP/1.1"),
        (f"Exception on /f/{TOKEN} [GET]", "Exception on /f/… [GET]"),
        # Percent-encoded paths reach the same routes once the server decodes them.
        (f"GET /%66/{TOKEN}.ics HTTP/1.1", "GET /%66/… HTTP/1.1"),
        (f"GET /%6A/{TOKEN}.sig HTTP/1.1", "GET /%6A/… HTTP/1.1"),
        (f"GET /f%2F{TOKEN}.ics HTTP/1.1", "GET /f%2F… HTTP/1.1"),
        (f"GET /%66/{TOKEN[:4]}%{ord(TOKEN[4]):X}{TOKEN[5:]}.ics", "GET /%66/…"),
        # A token under any other prefix, or after junk in its segment.
        (f"GET /calendar/{TOKEN}.ics HTTP/1.1", "GET /calendar/… HTTP/1.1"),
        (f"GET //{TOKEN}.ics HTTP/1.1", "GET //… HTTP/1.1"),
        (f"GET /x.{TOKEN}?y=1 HTTP/1.1", "GET /…?y=1 HTTP/1.1"),
        # Ordinary paths and hosts are kept.
        ("GET /static/calbridge.css HTTP/1.1", "GET /static/calbridge.css HTTP/1.1"),
        ("GET /api/v1/feeds/12/export HTTP/1.1", "GET /api/v1/feeds/12/export HTTP/1.1"),
        (
            "https://calendar-of-the-workshops.example.com/",
            "https://calendar-of-the-workshops.example.com/",
        ),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_filter_redacts_formatted_messages(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("calbridge.test.redaction")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("Exception on %s [%s]", f"/f/{TOKEN}.ics", "GET")
    assert caplog.messages == ["Exception on /f/… [GET]"]
    assert TOKEN not in caplog.text


def test_gunicorn_access_log_atoms_are_redacted() -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/f/{TOKEN}.ics",
        "PATH_INFO": f"/f/{TOKEN}.ics",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://cal.example.com/f/{TOKEN}",
    }
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    atoms = RedactingGunicornLogger(Config()).atoms(response, [], environ, timedelta(seconds=1))
    assert TOKEN not in repr(atoms)
    assert atoms["r"] == "GET /f/… HTTP/1.1"


def test_percent_encoded_request_lines_are_redacted_in_the_access_log() -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/%66/{TOKEN}.ics",
        "PATH_INFO": f"/f/{TOKEN}.ics",  # what the server decodes it to, and serves
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://cal.example.com/%66/{TOKEN}",
    }
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    atoms = RedactingGunicornLogger(Config()).atoms(response, [], environ, timedelta(seconds=1))
    assert TOKEN not in repr(atoms)
    assert atoms["r"] == "GET /%66/… HTTP/1.1" and atoms["U"] == "/f/…"


def test_gunicorn_error_log_and_tracebacks_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    logger = RedactingGunicornLogger(Config())
    logger.error_log.propagate = True  # let caplog see it
    try:
        with caplog.at_level(logging.ERROR, logger="gunicorn.error"):
            try:
                raise LookupError(f"no calendar at /%66/{TOKEN}.ics")
            except LookupError:
                logger.exception("Error handling request %s", f"/%66/{TOKEN}.ics")
    finally:
        logger.error_log.propagate = False
    assert set(caplog.messages) == {"Error handling request /%66/…"}
    assert TOKEN not in caplog.text and "LookupError: no calendar at /%66/…" in caplog.text


def test_warn_once_warns_once_per_key_and_forgets_the_oldest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    warn = WarnOnce(logging.getLogger("test.warn_once"), max_keys=2)
    with caplog.at_level(logging.WARNING, logger="test.warn_once"):
        assert warn("a", "saw %s", "a") and not warn("a", "saw %s", "a")
        assert warn("b", "saw %s", "b") and warn("c", "saw %s", "c")  # "a" is forgotten now
        assert warn("a", "saw %s", "a") and not warn("c", "saw %s", "c")
    assert [r.getMessage() for r in caplog.records] == ["saw a", "saw b", "saw c", "saw a"]
