"""`create_app(settings)`: the Flask app (feeds, pages, join links, the API, health, metrics).

`wsgi.py` calls it for gunicorn; `calbridge serve` calls it and starts the job runner in each
web process unless `--no-worker` is given.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Flask, Response, request

from bridge.logs import RedactingFilter
from bridge.services import Services, build_services, utcnow
from bridge.settings import Settings
from bridge.upstream.clients import build_client
from bridge.web import api, caldav, headers, hooks, ics, join, pages, participants_api
from bridge.web.metrics_access import metrics_refusal


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    client_factory: Callable[..., object] = build_client,
    immediate_jobs: bool = False,
) -> Flask:
    """Build the app; settings default to the CALBRIDGE_* environment. `immediate_jobs` runs
    refresh jobs inside the request that queues them (tests only: see bridge.jobs.queue)."""
    app = Flask(__name__, instance_relative_config=False)
    app.logger.addFilter(RedactingFilter())  # e.g. "Exception on /f/<token>.ics" → "/f/…"
    if settings is None:
        settings = Settings.from_env()
    app.config["SECRET_KEY"] = settings.secret_key
    app_services = build_services(
        settings, clock=clock, client_factory=client_factory, immediate_jobs=immediate_jobs
    )
    app.extensions["calbridge"] = app_services

    blueprints = (
        api.blueprint,
        caldav.blueprint,
        ics.blueprint,
        hooks.blueprint,
        join.blueprint,
        pages.blueprint,
        participants_api.blueprint,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    ics.install(app, app_services)
    headers.install(app, settings.public_url)
    _add_operational_routes(app, app_services)
    return app


def _add_operational_routes(app: Flask, app_services: Services) -> None:
    metrics = app_services.metrics

    @app.after_request
    def count_request(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.requests.labels(route, str(response.status_code)).inc()
        return response

    @app.get("/healthz")
    def healthz() -> tuple[dict[str, str], int]:
        if app_services.store.healthy():
            return {"status": "ok", "database": "reachable"}, 200
        return {"status": "error", "database": "unreachable"}, 503

    @app.get("/metrics")
    def metrics_view() -> Response:
        refusal = metrics_refusal(app_services.settings, request)
        if refusal is not None:
            return refusal
        return Response(metrics.render(), mimetype=metrics.content_type)
