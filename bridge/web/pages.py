"""HTML pages: the subscribe page at /f/<token>, share-link management, and the error pages.

The page works without JavaScript (only copy-to-clipboard and showing times in the viewer's
own zone need it). The owner's page (a feed token) also lists share links and creates or
revokes them through POST forms protected by Flask-WTF's CSRF tokens; a share link's page
never shows management. A new share link's URL is shown once, in the answer to the POST
that created it: only its hash is stored, and it is never put in a cookie or a redirect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.blueprints import BlueprintSetupState
from flask_wtf import FlaskForm
from werkzeug.exceptions import HTTPException
from wtforms import DateField, RadioField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from bridge import operations
from bridge.feed_views import FeedUnavailable, FeedView
from bridge.links import CalDavLogin, ClientLinks, event_download_url
from bridge.services import services
from bridge.web.access import view_for_token
from bridge.web.headers import PAGE_HEADERS, uses_https
from bridge.web.page_content import (
    SCOPE_LABELS,
    Freshness,
    Recording,
    day,
    qr_svg,
    recordings,
    share_lines,
    upcoming,
)
from feeds.ical import plan_feed
from feeds.model import Scope

blueprint = Blueprint("pages", __name__)

ERROR_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    410: "No longer available",
    500: "Something went wrong",
}


class ShareForm(FlaskForm):
    """Create a share link: what it reveals, and optionally when it stops working."""

    scope = RadioField(
        "What the link shows",
        choices=[
            SelectChoice(Scope.BUSY.value, SCOPE_LABELS[Scope.BUSY]),
            SelectChoice(Scope.NO_LINKS.value, SCOPE_LABELS[Scope.NO_LINKS]),
        ],
        default=Scope.BUSY.value,
        validators=[InputRequired("Choose what the link shows.")],
    )
    expires = DateField("Stops working after (optional)", validators=[Optional()])


class RevokeForm(FlaskForm):
    """Revoke one share link; the form carries only the CSRF token (the id is in the URL)."""


@dataclass(frozen=True)
class NewShare:
    """A share link just created: its URLs exist only in this one answer."""

    id: int
    page_url: str
    ics_url: str
    scope_label: str
    expires: str | None


@blueprint.record_once
def session_cookie_settings(state: BlueprintSetupState) -> None:
    """The session cookie only carries the CSRF token of the owner's forms: keep it tight."""
    config = state.app.config
    if config.get("SESSION_COOKIE_SAMESITE") is None:
        config["SESSION_COOKIE_SAMESITE"] = "Lax"
    calbridge = state.app.extensions.get("calbridge")
    if calbridge is not None and uses_https(calbridge.settings.public_url):
        config["SESSION_COOKIE_SECURE"] = True


@blueprint.app_errorhandler(HTTPException)
def error_page(error: HTTPException) -> tuple[str, int, dict[str, str]]:
    status = error.code or 500
    title = ERROR_TITLES.get(status, error.name)
    page = render_template("message.html", title=title, message=error.description, status=status)
    return page, status, PAGE_HEADERS


def is_owner(view: FeedView) -> bool:
    """True for the feed's own token; share links (whatever their scope) don't manage."""
    return view.owner == view.feed.owner


def token_view(token: str) -> FeedView:
    app = services()
    return view_for_token(app.store, token, app.clock())


def owner_view(token: str) -> FeedView:
    view = token_view(token)
    if not is_owner(view):
        abort(403, "Only the calendar's owner can manage share links.")
    return view


@blueprint.get("/f/<token>")
def subscribe(token: str) -> tuple[str, int]:
    return render_subscribe(token_view(token), token)


@blueprint.post("/f/<token>/shares")
def create_share(token: str) -> tuple[str, int]:
    view = owner_view(token)
    form = ShareForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            return expired_form(token)
        return render_subscribe(view, token, share_form=form, status=400)
    # A date: the link works until the end of that day in the calendar's own time zone.
    expires = form.expires.data.isoformat() if form.expires.data else None
    try:
        created = operations.share_feed(
            services(), view.feed.id, scope=form.scope.data, expires=expires
        )
    except operations.OperationError as error:
        form.expires.errors = [str(error).capitalize()]
        return render_subscribe(view, token, share_form=form, status=400)
    new_share = NewShare(
        id=created.id,
        page_url=created.links.page_url,
        ics_url=created.links.ics_url,
        scope_label=SCOPE_LABELS[created.scope],
        expires=day(form.expires.data) if form.expires.data else None,
    )
    return render_subscribe(view, token, new_share=new_share, status=201)


@blueprint.post("/f/<token>/shares/<int:share_id>/revoke")
def revoke_share(token: str, share_id: int) -> Any:
    view = owner_view(token)
    if not RevokeForm().validate_on_submit():
        return expired_form(token)
    share = services().store.share(share_id)
    if share is None or share.feed_id != view.feed.id:
        abort(404, "This calendar has no share link with that number.")
    operations.revoke_share(services(), share_id)
    flash(f"Share link #{share_id} is revoked: it stopped working just now.")
    return redirect(url_for(".subscribe", token=token, _anchor="shares"), code=303)


def expired_form(token: str) -> tuple[str, int]:
    page = render_template(
        "message.html",
        title="Please try again",
        message=(
            "This form was open too long or came from another page, so nothing was changed. "
            "Reload the calendar page and try again."
        ),
        status=400,
        back_url=url_for(".subscribe", token=token),
    )
    return page, 400


def render_subscribe(
    view: FeedView,
    token: str,
    *,
    share_form: ShareForm | None = None,
    new_share: NewShare | None = None,
    status: int = 200,
) -> tuple[str, int]:
    app = services()
    now = app.clock()
    feed = view.feed
    public = app.settings.public_url
    links = ClientLinks.for_token(public, token, feed.name)
    caldav = CalDavLogin.for_token(public, token, view.owner)
    if app.store.caldav_login(view.owner, caldav.caldav_password) is None:
        # A feed from before CalDAV has no password yet: only its token's holder can make it.
        app.store.remember_caldav_password(view.owner, caldav.caldav_password)
    freshness = None
    unavailable = None
    occurrences = []
    replays: list[Recording] = []
    size_warnings: tuple[str, ...] = ()
    try:
        rendered = app.feeds.render(view)
    except FeedUnavailable as error:
        unavailable = error.reason
    else:
        freshness = Freshness.of(rendered.refreshed_at, rendered.stale_since, now, feed.timezone)
        size_warnings = app.feeds.size_warnings(view, rendered) if is_owner(view) else ()
        options = app.feeds.options(view, expand=False, now=now)
        sessions = app.feeds.sessions(feed, app.feeds.partitions(feed), now)
        occurrences = upcoming(
            plan_feed(sessions, options, app.feeds.render_cache),
            now=now,
            scope=view.scope,
            zone=feed.timezone,
            join_url=options.join_url,
            event_url=lambda uid: event_download_url(public, token, uid),
        )
        replays = recordings(sessions, now=now, scope=view.scope, zone=feed.timezone)
    owner = is_owner(view)
    page = render_template(
        "subscribe.html",
        feed=feed,
        token=token,
        owner=owner,
        scope=view.scope,
        scope_label=SCOPE_LABELS[view.scope],
        links=links,
        caldav=caldav,
        caldav_server=public + "/",
        qr=qr_svg(links.webcal_url, f"QR code of the calendar address {links.webcal_url}"),
        freshness=freshness,
        unavailable=unavailable,
        size_warnings=size_warnings if owner else (),
        occurrences=occurrences,
        recordings=replays,
        shares=share_lines(app.store.list_shares(feed.id), now, feed.timezone) if owner else [],
        share_form=share_form or (ShareForm(formdata=None) if owner else None),
        revoke_form=RevokeForm(formdata=None) if owner else None,
        new_share=new_share,
    )
    return page, status
