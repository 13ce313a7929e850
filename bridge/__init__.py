"""calbridge service: everything with I/O (HTTP, database, upstream APIs).

`create_app(settings)` builds the Flask app; `wsgi.py` calls it for gunicorn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, Response, current_app, request


@dataclass
class Services:
    """What the blueprints need, built once per app."""

    settings: Any  # bridge.settings.Settings
    store: Any  # bridge.store.Store
    refresher: Any  # bridge.refresh.Refresher
    metrics: Any  # bridge.metrics.Metrics


def services() -> Services:
    """The current app's services (inside a request or app context)."""
    return current_app.extensions["calbridge"]


def create_app(
    settings: Any = None,
    *,
    clock: Callable[[], datetime] | None = None,
    client_factory: Callable[..., object] | None = None,
) -> Flask:
    """Build the app; settings default to the CALBRIDGE_* environment."""
    from bridge.crypto import CredentialBox
    from bridge.logs import RedactingFilter
    from bridge.metrics import Metrics
    from bridge.refresh import Refresher
    from bridge.settings import Settings
    from bridge.store import Store
    from bridge.web import api, feeds, headers, join, pages
    from bridge.web.metrics_access import metrics_refusal

    app = Flask(__name__, instance_relative_config=False)
    app.logger.addFilter(RedactingFilter())  # e.g. "Exception on /f/<token>.ics" → "/f/…"
    if settings is None:
        settings = Settings.from_env()
    app.config["SECRET_KEY"] = settings.secret_key
    store = Store(
        settings.database_url, CredentialBox(settings.secret_key, settings.secret_key_fallbacks)
    )
    store.migrate()
    metrics = Metrics()
    extra: dict[str, Any] = {}
    if clock is not None:
        extra["clock"] = clock
    if client_factory is not None:
        extra["client_factory"] = client_factory
    refresher = Refresher(store, settings, metrics, **extra)
    app.extensions["calbridge"] = Services(settings, store, refresher, metrics)

    for blueprint in (api.blueprint, feeds.blueprint, join.blueprint, pages.blueprint):
        app.register_blueprint(blueprint)
    feeds.install(app, app.extensions["calbridge"])
    headers.install(app, settings.public_url)

    @app.after_request
    def count_request(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.requests.labels(route, str(response.status_code)).inc()
        return response

    @app.get("/healthz")
    def healthz() -> tuple[dict[str, str], int]:
        if store.healthy():
            return {"status": "ok", "database": "reachable"}, 200
        return {"status": "error", "database": "unreachable"}, 503

    @app.get("/metrics")
    def metrics_view() -> Response:
        refusal = metrics_refusal(settings, request)
        if refusal is not None:
            return refusal
        return Response(metrics.render(), mimetype=metrics.content_type)

    return app
