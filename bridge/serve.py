"""`calbridge serve`: the production server (gunicorn, threaded workers).

gunicorn forks `workers` web processes from the app built here; each starts the app's job
runner after the fork (`post_worker_init`), so refresh jobs run in every web process unless
`run_jobs` is False (`--no-worker`, with `calbridge worker` processes elsewhere). Jobs are
shared through the queue, so more processes never mean more upstream requests.
`gunicorn wsgi:app` serves the same app without jobs.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from bridge.services import Services


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


def serve(
    app: Flask,
    host: str,
    port: int,
    *,
    workers: int = 1,
    threads: int = 8,
    run_jobs: bool = True,
) -> None:
    app_services: Services = app.extensions["calbridge"]
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-",
        "logger_class": "bridge.logs.RedactingGunicornLogger",
        "timeout": 120,
        # gunicorn's control socket is one path per user: several `calbridge serve` on a host
        # (web processes of one installation, or several installations) would fight over it.
        "control_socket_disable": True,
    }
    if run_jobs:
        options["post_worker_init"] = lambda _worker: app_services.jobs.start()
        options["worker_exit"] = lambda _server, _worker: app_services.jobs.stop()
    CalbridgeServer(app, options).run()
