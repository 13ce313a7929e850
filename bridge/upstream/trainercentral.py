"""The TrainerCentral client: every upcoming talk of an academy, read through talks.json.

`GET {academy_url}/api/v4/{org_id}/talks.json?filter=&limit=&si=` with
`Authorization: Zoho-oauthtoken <token>` (tokens from `bridge.upstream.zoho`).

The docs leave open whether `limit`/`si` count sessions or talks, whether
`meta.totalSessionsCount` counts sessions or talks, and whether the server caps `limit`.
The walk is correct under every reading:

* `si` advances by what a page actually held, never by the `limit` asked for (a capped page
  is not mistaken for a full one). While the paging unit is unknown it advances by the smaller
  of the page's session and talk counts, which can re-read items but never skips any; the unit
  is learned as soon as a page proves it (more talks than `limit` → sessions; a talk repeated
  after a session-sized step → talks), and from then on steps are exact.
* The walk ends only on an empty page, the one proof of the end that holds under every
  reading; talks are de-duplicated by id. A walk that ends with fewer talks and fewer sessions
  than `meta.totalSessionsCount` says there are (an empty page too early) contradicts itself:
  `UpstreamProtocolError`, so the last good data is kept.
* If the total changes between pages the listing moved under us, and the walk restarts.
* More than `max_pages` pages → `UpstreamProtocolError`, never a silently truncated list.

A 401 renews the access token once (see zoho.py) and retries that page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bridge.upstream.base import FetchResult
from bridge.upstream.errors import (
    UpstreamAuthError,
    UpstreamProtocolError,
    UpstreamRequestError,
    UpstreamUnavailable,
)
from bridge.upstream.http import UpstreamHTTP
from bridge.upstream.zoho import (
    AccessTokens,
    FixedAccessToken,
    MemoryTokenStore,
    TokenStore,
    ZohoCredentials,
    ZohoTokenManager,
)
from feeds.model import Session
from feeds.rules import (
    TRAINERCENTRAL_ACCESS_TOKEN,
    TRAINERCENTRAL_OAUTH,
    aware_utc,
    trainercentral_auth,
)
from feeds.trainercentral import TalksFormatError, TalksPage, parse_talks_page

__all__ = [
    "MemoryTokenStore",
    "TokenStore",
    "TrainerCentralClient",
    "TrainerCentralConfig",
]

log = logging.getLogger(__name__)

FILTERS = {"1": "your upcoming sessions", "5": "every upcoming session of the academy"}
MAX_RESTARTS = 3
_WEB_ORIGIN = re.compile(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", re.IGNORECASE)
_ORG_ID = re.compile(r"^[A-Za-z0-9_-]+$")

Unit = Literal["sessions", "talks"]


@dataclass(frozen=True)
class TrainerCentralConfig:
    """One TrainerCentral academy; credentials are a fixed access token or an OAuth client."""

    name: str
    org_id: str
    academy_url: str
    filter: str = "1"
    access_token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    accounts_url: str = "https://accounts.zoho.com"
    page_size: int = 100
    max_pages: int = 200

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a TrainerCentral source needs a name")
        if not _ORG_ID.match(self.org_id):
            raise ValueError(f"org id {self.org_id!r} should be the number in the academy URL")
        for label in ("academy_url", "accounts_url"):
            url = getattr(self, label)
            if not _WEB_ORIGIN.match(url):
                raise ValueError(f"{label} {url!r} should look like https://host")
            object.__setattr__(self, label, url.rstrip("/"))
        if self.filter not in FILTERS:
            raise ValueError(f"filter {self.filter!r} should be 1 (yours) or 5 (academy, admins)")
        if self.page_size < 1 or self.max_pages < 1:
            raise ValueError("page_size and max_pages must be at least 1")
        given = [
            name
            for name in (TRAINERCENTRAL_ACCESS_TOKEN, *TRAINERCENTRAL_OAUTH)
            if getattr(self, name)
        ]
        trainercentral_auth(given, lambda name: name.replace("_", " "))

    @property
    def talks_url(self) -> str:
        return f"{self.academy_url}/api/v4/{self.org_id}/talks.json"


@dataclass
class _Walk:
    """State of one pass over the listing."""

    sessions: dict[str, Session] = field(default_factory=dict)
    warnings: dict[str, None] = field(default_factory=dict)
    talk_ids: set[str] = field(default_factory=set)
    session_ids: set[str] = field(default_factory=set)
    skipped_ids: set[str] = field(default_factory=set)
    unidentified: int = 0
    unit: Unit | None = None


class TrainerCentralClient:
    """A SourceClient for one academy (see the module docstring for the paging rules)."""

    def __init__(
        self,
        config: TrainerCentralConfig,
        *,
        http: UpstreamHTTP | None = None,
        token_store: TokenStore | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self._owns_http = http is None
        self._http = http or UpstreamHTTP(config.name)
        self._tokens: AccessTokens
        if config.access_token:
            self._tokens = FixedAccessToken(config.name, config.access_token)
        else:
            credentials = ZohoCredentials(
                client_id=config.client_id or "",
                client_secret=config.client_secret or "",
                refresh_token=config.refresh_token or "",
                accounts_url=config.accounts_url,
            )
            self._tokens = ZohoTokenManager(
                config.name, credentials, http=self._http, store=token_store, now=now
            )

    def fetch(self, window_start: datetime, window_end: datetime) -> FetchResult:
        """Every listed talk starting in [window_start, window_end), or an UpstreamError."""
        aware_utc(window_start, "window start")
        aware_utc(window_end, "window end")
        if window_end <= window_start:
            raise ValueError("the window must end after it starts")
        for _ in range(MAX_RESTARTS + 1):
            walk = self._walk()
            if walk is not None:
                sessions = sorted(
                    (s for s in walk.sessions.values() if window_start <= s.start < window_end),
                    key=lambda s: (s.start, s.upstream_id),
                )
                return FetchResult(
                    sessions=sessions,
                    warnings=list(walk.warnings),
                    skipped_ids=frozenset(walk.skipped_ids - walk.sessions.keys()),
                    unidentified=walk.unidentified,
                )
        raise UpstreamUnavailable(
            self.config.name,
            f"the talk listing changed while it was being read, {MAX_RESTARTS + 1} times in "
            "a row; try again later",
        )

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> TrainerCentralClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get_api(self, path: str, params: dict[str, str]) -> Any:
        """GET `{academy_url}/api/v4/{org_id}/{path}` with the access token (renewed once on a
        401), decoded; an UpstreamError otherwise (the roster readers of bridge/participants
        use it for portalMembers.json)."""
        url = f"{self.config.academy_url}/api/v4/{self.config.org_id}/{path}"
        headers = {"Accept": "application/json"}
        token = self._tokens.token()
        try:
            return self._http.get_json(
                url, headers={**headers, "Authorization": f"Zoho-oauthtoken {token}"}, params=params
            )
        except UpstreamAuthError as exc:
            if exc.status != 401:
                raise
            token = self._tokens.refresh(token)
            return self._http.get_json(
                url, headers={**headers, "Authorization": f"Zoho-oauthtoken {token}"}, params=params
            )

    # -- the walk ---------------------------------------------------------------------------

    def _walk(self) -> _Walk | None:
        """One pass over every page; None if the listing changed and the pass must restart."""
        walk = _Walk()
        limit = self.config.page_size
        start_index = 0
        first_total: int | None = None
        previous: tuple[TalksPage, int] | None = None  # last page and the step taken after it
        # max_pages pages of data, plus the empty page that proves the end.
        for number in range(1, self.config.max_pages + 2):
            page = self._page(start_index, limit)
            if number == 1:
                first_total = page.total
            elif page.total != first_total:
                log.info("%s: listing total changed mid-walk; restarting", self.config.name)
                return None
            if page.talk_count == 0 and (page.session_count == 0 or walk.unit == "talks"):
                self._check_total(walk, first_total)
                return walk
            if number > self.config.max_pages:
                break
            walk.unit = walk.unit or _proven_unit(page, limit, walk, previous)
            for session in page.sessions:
                walk.sessions.setdefault(session.upstream_id, session)
            walk.warnings.update(dict.fromkeys(page.warnings))
            walk.talk_ids.update(page.talk_ids)
            walk.session_ids.update(page.session_ids)
            walk.skipped_ids.update(page.skipped_ids)
            walk.unidentified += page.unidentified
            step = _step(page, walk.unit)
            previous = (page, step)
            start_index += step
        raise UpstreamProtocolError(
            self.config.name,
            f"talks.json still listed talks after {self.config.max_pages} pages "
            f"(si={start_index}, limit={limit}); refusing to return a partial list. Raise "
            "max_pages or page_size if the academy really has that many upcoming talks",
        )

    def _page(self, start_index: int, limit: int) -> TalksPage:
        config = self.config
        params = {"filter": config.filter, "limit": str(limit), "si": str(start_index)}
        token = self._tokens.token()
        try:
            body = self._get(params, token)
        except UpstreamAuthError as exc:
            if exc.status != 401:
                raise
            body = self._get(params, self._tokens.refresh(token), retried=True)
        try:
            return parse_talks_page(body, source_name=config.name)
        except TalksFormatError as exc:
            raise UpstreamProtocolError(
                config.name, f"{config.talks_url} (si={start_index}) answered {exc}"
            ) from exc

    def _get(self, params: dict[str, str], token: str, *, retried: bool = False) -> Any:
        config = self.config
        rejected = (
            "TrainerCentral rejected a freshly issued access token: check that the OAuth "
            "client has the scope TrainerCentral.talkapi.READ for this academy"
            if retried
            else "TrainerCentral rejected the access token"
        )
        try:
            return self._http.get_json(
                config.talks_url,
                headers={"Authorization": f"Zoho-oauthtoken {token}", "Accept": "application/json"},
                params=params,
                auth_error_message=rejected,
            )
        except UpstreamProtocolError as exc:
            if exc.status == 204:  # Zoho APIs answer "no content" for an empty list
                return {}
            raise
        except UpstreamRequestError as exc:
            hint = {
                403: f"filter {config.filter} ({FILTERS[config.filter]}) was refused; "
                "filter 5 needs an academy admin, use filter 1 otherwise",
                404: f"no academy with org id {config.org_id} at {config.academy_url}; "
                "check the org id (the number in the academy's web address) and the URL",
            }.get(exc.status or 0)
            if hint is None:
                raise
            detail = str(exc).removeprefix(f"{exc.source}: ")
            raise UpstreamRequestError(
                config.name, f"{hint} ({detail})", status=exc.status
            ) from exc

    def _check_total(self, walk: _Walk, total: int | None) -> None:
        """Refuse a listing shorter than its own count, whether that counts sessions or talks.

        Records without an id count as listed (both ways), so they cannot trip this; a count
        below what was listed only says it counts something else, and passes.
        """
        listed = max(len(walk.talk_ids), len(walk.session_ids)) + walk.unidentified
        if total is not None and total > listed:
            raise UpstreamProtocolError(
                self.config.name,
                f"the talk listing contradicts itself: meta.totalSessionsCount is {total} but "
                f"the listing ended after {len(walk.session_ids)} sessions and "
                f"{len(walk.talk_ids)} talks; keeping the last good data",
            )


def _proven_unit(
    page: TalksPage, limit: int, walk: _Walk, previous: tuple[TalksPage, int] | None
) -> Unit | None:
    """The paging unit, if this page proves it; None while it is still ambiguous."""
    if page.talk_count > limit:
        return "sessions"  # more talks than asked for: limit counted sessions
    if page.session_count > limit:
        return "talks"
    if previous is not None:
        last_page, last_step = previous
        stepped_by_sessions = last_step == last_page.session_count < last_page.talk_count
        # After a session-sized step, session paging lists only new talks.
        if stepped_by_sessions and walk.talk_ids.intersection(page.talk_ids):
            return "talks"
    return None


def _step(page: TalksPage, unit: Unit | None) -> int:
    """How far `si` moves after a non-empty page: never past an item the page did not hold."""
    counts = [c for c in (page.session_count, page.talk_count) if c > 0]
    exact = {"sessions": page.session_count, "talks": page.talk_count}.get(unit or "", 0)
    return exact or min(counts)
