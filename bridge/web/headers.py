"""The security headers of every response, defined in one place.

Every URL calbridge serves under /f/ and /j/ is a capability: the headers keep it out of
Referer headers, out of frames and out of MIME sniffing.

- HTML (the subscribe page, message and error pages): `PAGE_HEADERS`, a CSP that allows only
  this origin's scripts, styles and forms; `same-origin` referrers so our own form posts keep
  their Origin; no caching or indexing.
- Everything else (.ics, JSON, plain text, redirects, metrics): `OTHER_HEADERS`, a CSP that
  allows nothing and no Referer at all, so the `/j/` redirect does not hand the join token
  (or the page it was clicked on) to the meeting site.
- `Strict-Transport-Security` on every response when CALBRIDGE_PUBLIC_URL is https.

`install` applies them to Flask's responses (a view's own values win); the bare feed
endpoint (`bridge.web.ics.FeedEndpoint`) appends the precomputed `feed_headers` list.
"""

from __future__ import annotations

from flask import Flask, Response

Headers = list[tuple[str, str]]

NOSNIFF = ("X-Content-Type-Options", "nosniff")
# Two years, the preload list's minimum; no includeSubDomains: the public host's parent domain
# may run other sites calbridge knows nothing about.
HSTS = ("Strict-Transport-Security", "max-age=63072000")

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
NOTHING_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

# The page's URL is a secret: no Referer to the calendar sites it links to (same-origin keeps
# the Origin header on our own form posts), no caching, no indexing, and nothing loaded from
# anywhere but this origin.
PAGE_HEADERS: dict[str, str] = {
    "Referrer-Policy": "same-origin",
    "Cache-Control": "private, no-store",
    "X-Robots-Tag": "noindex, nofollow",
    NOSNIFF[0]: NOSNIFF[1],
    "Content-Security-Policy": PAGE_CSP,
}

OTHER_HEADERS: dict[str, str] = {
    NOSNIFF[0]: NOSNIFF[1],
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": NOTHING_CSP,
}


def uses_https(public_url: str) -> bool:
    return public_url.lower().startswith("https://")


def headers_for(page: bool, *, https: bool) -> Headers:
    """The security headers of an HTML page (`page`) or of any other response."""
    chosen = PAGE_HEADERS if page else OTHER_HEADERS
    return [*chosen.items(), *([HSTS] if https else [])]


def feed_headers(public_url: str) -> Headers:
    """What the .ics endpoint adds to each answer (calendar, 304 or plain-text error)."""
    return headers_for(False, https=uses_https(public_url))


def install(app: Flask, public_url: str) -> None:
    """Give every Flask response the headers that fit it (headers a view set are kept)."""
    https = uses_https(public_url)
    page, other = headers_for(True, https=https), headers_for(False, https=https)

    @app.after_request
    def security_headers(response: Response) -> Response:
        # A redirect's little HTML body is never shown: it gets the no-referrer set.
        is_page = response.mimetype == "text/html" and not 300 <= response.status_code < 400
        for name, value in page if is_page else other:
            response.headers.setdefault(name, value)
        return response
