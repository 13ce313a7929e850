"""Keep secret tokens out of logs.

Feed, share and join URLs are capabilities: whoever reads `/f/<token>.ics` in a log can
subscribe. Access logs and error logs therefore show `/f/…` and `/j/…` instead.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

_SECRET_PATH = re.compile(r"/(f|j)/[^/\s?#\"']+")


def redact(text: str) -> str:
    """`text` with every feed, share and join token replaced by an ellipsis."""
    return _SECRET_PATH.sub(lambda match: f"/{match.group(1)}/…", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts tokens from the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class RedactingGunicornLogger(GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger with tokens redacted from every access-log field (request line,
    path, referer, environ and header atoms).

    `calbridge serve` uses it; with plain gunicorn pass
    `--logger-class bridge.logs.RedactingGunicornLogger`.
    """

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }
