"""Secret tokens never reach the logs."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from bridge.logs import RedactingFilter, RedactingGunicornLogger, redact

TOKEN = "h8A6a3xTHm7t574dNdxhgOpkUuim9hXd"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"GET /f/{TOKEN}.ics HTTP/1.1", "GET /f/… HTTP/1.1"),
        (f"GET /f/{TOKEN}/events/tagmango-1@x.ics", "GET /f/…/events/tagmango-1@x.ics"),
        (f"/j/{TOKEN}.sig-nature?x=1", "/j/…?x=1"),
        ("GET /healthz HTTP/1.1", "GET /healthz HTTP/1.1"),
        (f"Exception on /f/{TOKEN} [GET]", "Exception on /f/… [GET]"),
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
