"""Keep secret tokens out of logs, and say a recurring thing once (`WarnOnce`).

Feed, share and join URLs are capabilities: whoever reads `/f/<token>.ics` in a log can
subscribe. Access logs and error logs therefore show `/f/…` and `/j/…` instead.

Logs see request lines as sent, before percent-decoding, and the server decodes `/%66/` to
`/f/`, so the `/f/` and `/j/` rule reads percent-escapes as the characters they stand for.
Any other path segment holding a token-shaped run (`MIN_TOKEN_LENGTH` or more URL-safe
characters, escaped or not) is redacted whatever the prefix before it, so a token under an
unexpected or mangled path stays out too.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Hashable
from typing import Any

from cachetools import LRUCache
from gunicorn.glogging import Logger as GunicornLogger

# Feed and share tokens are 32 characters, join tokens longer; shorter segments are left
# alone so logs keep ordinary paths (`/static/calbridge.css`, `/api/v1/feeds/12`).
MIN_TOKEN_LENGTH = 20

_SLASH = r"(?:/|%2[Ff])"
_TOKEN_CHAR = r"(?:[A-Za-z0-9_-]|%[0-9A-Fa-f]{2})"
_SEGMENT_REST = r"[^/\s?#\"']*"
# /f/<token…> and /j/<token…>, however they were percent-encoded.
_CAPABILITY = re.compile(rf"(?P<prefix>{_SLASH}(?:f|j|%66|%6[Aa]){_SLASH})(?!…)[^/\s?#\"']+")
# Any path segment holding a token-shaped run (not the host after "scheme://").
_TOKEN_SEGMENT = re.compile(
    rf"(?<!:/)(?P<prefix>{_SLASH}){_SEGMENT_REST}?{_TOKEN_CHAR}{{{MIN_TOKEN_LENGTH},}}"
    rf"{_SEGMENT_REST}"
)


class WarnOnce:
    """Log a warning the first time this object meets each key (thread-safe; remembers the
    latest `max_keys`), so an upstream oddity seen at every refresh is reported once per
    process rather than every few minutes. Its owner decides how long "once" lasts."""

    def __init__(self, logger: logging.Logger, max_keys: int = 1024) -> None:
        self._logger = logger
        self._seen: LRUCache[Hashable, bool] = LRUCache(max_keys)
        self._lock = threading.Lock()

    def __call__(self, key: Hashable, message: str, *args: object) -> bool:
        """Log `message % args` unless `key` was met before; whether it was logged."""
        with self._lock:
            if key in self._seen:
                self._seen[key] = True  # keep it among the latest
                return False
            self._seen[key] = True
        self._logger.warning(message, *args)
        return True


def _keep_prefix(match: re.Match[str]) -> str:
    return f"{match['prefix']}…"


def redact(text: str) -> str:
    """`text` with every feed, share and join token (and anything token-shaped in a path)
    replaced by an ellipsis."""
    return _TOKEN_SEGMENT.sub(_keep_prefix, _CAPABILITY.sub(_keep_prefix, text))


class RedactingFilter(logging.Filter):
    """A logging filter that redacts tokens from the formatted message and its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the traceback is redacted too.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class RedactingGunicornLogger(GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger with tokens redacted from every access-log field (request line,
    path, referer, environ and header atoms) and from its error log ("Error handling
    request /f/…").

    `calbridge serve` uses it; with plain gunicorn pass
    `--logger-class bridge.logs.RedactingGunicornLogger`.
    """

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        if not any(isinstance(f, RedactingFilter) for f in self.error_log.filters):
            self.error_log.addFilter(RedactingFilter())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }


def configure_service_logging() -> None:
    """Log the service's own messages (refresh failures, jobs) to stderr, redacted, for
    `calbridge serve` and `calbridge worker`; huey's per-job lines are left out."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("huey").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
