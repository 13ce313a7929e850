"""HTML pages: the subscribe page at /f/<token> and the app-wide error pages."""

from __future__ import annotations

from flask import Blueprint, render_template
from werkzeug.exceptions import HTTPException

from bridge import services
from bridge.web.access import view_for_token

blueprint = Blueprint("pages", __name__)

ERROR_TITLES = {404: "Not found", 410: "No longer available", 400: "Bad request"}


@blueprint.app_errorhandler(HTTPException)
def error_page(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    title = ERROR_TITLES.get(status, error.name)
    return render_template(
        "message.html", title=title, message=error.description, status=status
    ), status


@blueprint.get("/f/<token>")
def subscribe(token: str) -> str:
    app = services()
    view = view_for_token(token, app.refresher.clock())
    public = app.settings.public_url
    ics_url = f"{public}/f/{token}.ics"
    return render_template(
        "subscribe.html",
        feed=view.feed,
        scope=view.scope,
        ics_url=ics_url,
        webcal_url="webcal://" + ics_url.split("://", 1)[1],
    )
