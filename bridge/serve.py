"""`calbridge serve`: the production server (gunicorn, threaded workers).

One worker with threads by default, so refreshes are single-flight across every
request; `--workers` adds processes (each then refreshes on its own schedule).
`gunicorn wsgi:app` serves the same app.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class CalbridgeServer(BaseApplication):  # type: ignore[misc]
    """gunicorn configured from code rather than a config file."""

    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.application


def serve(app: Any, host: str, port: int, *, workers: int = 1, threads: int = 8) -> None:
    CalbridgeServer(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": "-",
            "logger_class": "bridge.logs.RedactingGunicornLogger",
            "timeout": 120,
        },
    ).run()
