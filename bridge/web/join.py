"""`/j/<token>`: check a signed join link and redirect to the meeting's current URL.

The token names the feed or share it was issued for, the generation of that feed's or
share's token it was published under, and the event's UID. On each click we check the
signature, that the feed or share is still active and its token not rotated since (see
bridge.web.access.join_view), that the session is not long over and that the target is a web
address; otherwise the person gets a page that says why, with the matching status. The event
is found through the feed's index (FeedRenderer.event_index), so a click costs the same however
large the feed is.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, redirect, render_template
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from bridge.feed_views import FeedUnavailable
from bridge.services import services
from bridge.signing import BadJoinToken
from bridge.web.access import join_view
from feeds.model import Session, is_web_url

blueprint = Blueprint("join", __name__)

# A join link keeps working until this long after the session ended.
JOIN_GRACE = timedelta(hours=24)


def pick_occurrence(occurrences: list[Session], now: datetime) -> Session | None:
    """The occurrence a join link leads to: the current or next live one, if any."""
    live = [s for s in occurrences if not s.cancelled and s.end > now - JOIN_GRACE]
    return min(live, key=lambda s: s.start, default=None)


def refusal(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("message.html", title=title, message=message, status=status), status


@blueprint.errorhandler(HTTPException)
def html_error(error: HTTPException) -> tuple[str, int]:
    titles = {400: "Invalid join link", 404: "Not found", 410: "Link no longer works"}
    return refusal(error.code or 500, titles.get(error.code or 500, "Error"), error.description)


@blueprint.errorhandler(FeedUnavailable)
def no_data_yet(unavailable: FeedUnavailable) -> tuple[str, int, dict[str, str]]:
    page, status = refusal(503, "This calendar has no data yet", unavailable.reason)
    return page, status, {"Retry-After": str(unavailable.retry_after)}


@blueprint.get("/j/<token>")
def join(token: str) -> Response | tuple[str, int]:
    app = services()
    try:
        claim = app.signer.verify(token)
    except BadJoinToken:
        return refusal(
            400,
            "This join link is not valid",
            "The link has been altered or was never issued by this calendar. "
            "Use the Join link in your calendar event.",
        )
    now = app.clock()
    view = join_view(app.store, claim, now)
    occurrences = app.feeds.occurrences_for(view, claim.uid)
    if not occurrences:
        return refusal(
            404,
            "This session is no longer in the calendar",
            "It may have been removed by the host, or ended a long time ago.",
        )
    session = pick_occurrence(occurrences, now)
    if session is None:
        if all(s.cancelled for s in occurrences):
            return refusal(410, "This session was cancelled", "The host cancelled this session.")
        return refusal(
            410,
            "This session is over",
            "Join links work until a day after the session ends.",
        )
    if not session.meeting_url:
        return refusal(
            404,
            "No meeting link yet",
            "The host hasn't added a link yet. Try again closer to the start time.",
        )
    if not is_web_url(session.meeting_url):
        return refusal(
            400,
            "This meeting link can't be opened",
            "The meeting link the host set is not a web address, so calbridge won't open it.",
        )
    return redirect(session.meeting_url, code=302)
