"""The smallest WSGI app that serves one feed's bytes: what gunicorn itself can do.

The serve benchmark runs it under the same gunicorn settings as calbridge, with the bytes
calbridge served, so the results show how far calbridge is from nginx and how much of that
gap any Python app under gunicorn would have. `CALBRIDGE_BENCH_FLOOR_FILE` names the file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

BODY = Path(os.environ.get("CALBRIDGE_BENCH_FLOOR_FILE", os.devnull)).read_bytes()
ETAG = '"' + hashlib.sha256(BODY).hexdigest()[:32] + '"'
HEADERS = [
    ("Content-Type", "text/calendar; charset=utf-8"),
    ("Content-Length", str(len(BODY))),
    ("ETag", ETAG),
    ("Cache-Control", "private, max-age=600"),
]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("HTTP_IF_NONE_MATCH") == ETAG:
        start_response("304 Not Modified", [("ETag", ETAG)])
        return [b""]
    start_response("200 OK", HEADERS)
    return [BODY]
