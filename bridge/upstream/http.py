"""The HTTP layer shared by every upstream client.

One place decides how calbridge talks to an upstream API:

* connect and read timeouts on every request;
* retries (tenacity) with exponential backoff and full jitter on 429, 5xx, timeouts and
  connection errors, honouring `Retry-After` (seconds or an HTTP date) when it is sent, for
  at least 20 s and at most 60 s (`bridge.upstream.retries`); `max_attempts` can cap them;
* a client-side rate budget (any `Budget`: `bridge.upstream.budget.budget_for` gives the one
  shared by every process using the same API key; `RateBudget` is a per-process one);
* one error type per failure, each naming the source: 401 → `UpstreamAuthError`,
  other 4xx → `UpstreamRequestError` (with the body's `message`), retries exhausted →
  `UpstreamUnavailable` (with the last status), unreadable JSON → `UpstreamProtocolError`;
* bodies are read as a stream and refused past a size limit (`UpstreamProtocolError`, logged):
  `MAX_BODY_BYTES` for a page of sessions, less for token answers, so a runaway upstream
  cannot fill memory and the last good data is served instead.

`sleep` and the budget's clock are injectable so tests of backoff and budgets do not wait.
"""

from __future__ import annotations

import functools
import json
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx
import tenacity

from bridge.upstream.errors import (
    UpstreamAuthError,
    UpstreamProtocolError,
    UpstreamRequestError,
    UpstreamUnavailable,
)

# Backoff and parse_retry_after are part of this module's interface too (callers import them here).
from bridge.upstream.retries import Backoff, RetryPlan, Transient, parse_retry_after

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
USER_AGENT = "calbridge/0.1 (+https://github.com/calbridge)"
# The most a successful answer may hold (decoded): one page of up to a few hundred sessions is
# well under 1 MB, so 8 MiB leaves room for long descriptions and refuses a runaway body.
MAX_BODY_BYTES = 8 * 1024 * 1024
# An OAuth token answer is a few hundred bytes.
MAX_TOKEN_BODY_BYTES = 64 * 1024
# Of an error answer only the message is used: the rest is not read.
MAX_ERROR_BODY_BYTES = 64 * 1024
# Headers that describe the body as sent; the response handed on holds it decoded.
_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})

Sleep = Callable[[float], None]
Clock = Callable[[], float]


class Budget(Protocol):
    """What UpstreamHTTP draws from before every attempt (see `bridge.upstream.budget`)."""

    def acquire(self, sleep: Sleep = ...) -> float: ...


class RateBudget:
    """At most `limit` acquisitions in any sliding window of `period` seconds (thread-safe).

    The window is exact: the timestamps of the last `limit` grants are kept, and a new
    grant waits until the oldest of them is `period` seconds old.
    """

    def __init__(self, limit: int, period: float, *, clock: Clock = time.monotonic) -> None:
        if limit < 1 or period <= 0:
            raise ValueError(f"a rate budget needs limit >= 1 and period > 0, not {limit}/{period}")
        self.limit = limit
        self.period = period
        self._clock = clock
        self._granted: deque[float] = deque()
        self._lock = threading.Lock()

    def try_acquire(self) -> float:
        """Take one slot now and return 0.0, or return how many seconds until one frees up."""
        with self._lock:
            now = self._clock()
            while self._granted and self._granted[0] <= now - self.period:
                self._granted.popleft()
            if len(self._granted) < self.limit:
                self._granted.append(now)
                return 0.0
            return self._granted[0] + self.period - now

    def acquire(self, sleep: Sleep = time.sleep) -> float:
        """Block (through `sleep`) until a slot is taken; return the seconds waited."""
        waited = 0.0
        while (wait := self.try_acquire()) > 0:
            sleep(wait)
            waited += wait
        return waited


def error_message(response: httpx.Response) -> str:
    """The human message of an error response (TagMango `message`, Zoho `error`...)."""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        for key in ("message", "error_description", "details"):
            if isinstance(body.get(key), str) and body[key].strip():
                return body[key].strip()
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return error["message"].strip()
        if isinstance(error, str) and error.strip():
            return error.strip()
    text = response.text.strip()
    return text[:200] if text else response.reason_phrase or "no message"


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context (system CAs per httpx) for every client: building one costs ~0.2 s."""
    return httpx.create_ssl_context()


class UpstreamHTTP:
    """An httpx client with the retry, timeout, budget and error policy of calbridge."""

    def __init__(
        self,
        source_name: str,
        *,
        budget: Budget | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_attempts: int | None = None,
        backoff: Backoff | None = None,
        sleep: Sleep = time.sleep,
        transport: httpx.BaseTransport | None = None,
        auth_error_message: str = "the credentials were rejected",
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts must be at least 1 (or None: bounded by time only)")
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be at least 1")
        self.source_name = source_name
        self.max_body_bytes = max_body_bytes
        self.budget = budget
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self.auth_error_message = auth_error_message
        self._sleep = sleep
        self._client = httpx.Client(
            timeout=timeout,
            transport=transport,
            verify=shared_ssl_context(),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json_body: Any = None,
        auth_error_message: str | None = None,
        retry: bool = True,
        max_body_bytes: int | None = None,
    ) -> httpx.Response:
        """Send one request, retrying transient failures; a 2xx response or an UpstreamError.

        `retry=False` is for requests that are not idempotent, such as an OAuth grant that
        may have issued a token although its answer was lost. A 2xx body over
        `max_body_bytes` (default: the client's) is refused with an UpstreamProtocolError.
        `data` is sent as a form, `json_body` as JSON.
        """
        limit = self.max_body_bytes if max_body_bytes is None else max_body_bytes
        plan = RetryPlan(self.backoff, self.max_attempts if retry else 1)
        retrying = tenacity.Retrying(
            stop=plan.stop,
            wait=plan.wait,
            retry=tenacity.retry_if_exception_type(Transient),
            sleep=self._sleep,
            before_sleep=self._log_retry(plan),
            reraise=True,
        )
        try:
            return retrying(
                plan.timed(self._attempt),
                method,
                url,
                headers,
                params,
                data,
                json_body,
                auth_error_message,
                limit,
            )
        except Transient as exc:
            raise UpstreamUnavailable(
                self.source_name,
                f"{_where(url)} still failing after {plan.attempts} "
                f"attempt{'s' if plan.attempts > 1 else ''} in {plan.elapsed:.1f} s; "
                f"last error: {exc.description}",
                status=exc.status,
            ) from exc

    def get_json(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        auth_error_message: str | None = None,
        max_body_bytes: int | None = None,
    ) -> Any:
        """GET `url` and decode its JSON body; unreadable JSON → UpstreamProtocolError."""
        response = self.send(
            "GET",
            url,
            headers=headers,
            params=params,
            auth_error_message=auth_error_message,
            max_body_bytes=max_body_bytes,
        )
        try:
            return json.loads(response.content)
        except ValueError as exc:
            raise UpstreamProtocolError(
                self.source_name,
                f"{_where(url)} answered invalid or truncated JSON "
                f"({len(response.content)} bytes): {exc}",
                status=response.status_code,
            ) from exc

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> UpstreamHTTP:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _attempt(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        params: Mapping[str, Any] | None,
        data: Mapping[str, Any] | None,
        json_body: Any,
        auth_error_message: str | None,
        max_body_bytes: int,
    ) -> httpx.Response:
        if self.budget is not None:
            self.budget.acquire(self._sleep)
        try:
            with self._client.stream(
                method, url, headers=headers, params=params, data=data, json=json_body
            ) as streamed:
                ok = 200 <= streamed.status_code < 300
                limit = max_body_bytes if ok else MAX_ERROR_BODY_BYTES
                body, overflow = _read_capped(streamed, limit)
        except httpx.TimeoutException as exc:
            raise Transient(f"timed out ({type(exc).__name__})", None) from exc
        except httpx.TransportError as exc:
            raise Transient(f"connection failed ({type(exc).__name__}: {exc})", None) from exc

        status = streamed.status_code
        if ok and overflow:
            message = (
                f"{_where(url)} answered a body over the {limit:,}-byte limit{overflow}; "
                "refused it (the last good data is kept)"
            )
            log.warning("%s: %s", self.source_name, message)
            raise UpstreamProtocolError(self.source_name, message, status=status)
        headers_read = [
            (name, value)
            for name, value in streamed.headers.multi_items()
            if name.lower() not in _BODY_HEADERS
        ]
        response = httpx.Response(
            status, headers=headers_read, content=body, request=streamed.request
        )
        if ok:
            return response
        message = error_message(response)
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None and retry_after > self.backoff.max_retry_after:
                raise UpstreamUnavailable(
                    self.source_name,
                    f"{_where(url)} answered HTTP {status} ({message}) and asked to retry "
                    f"after {retry_after:.0f} s, longer than the {self.backoff.max_retry_after:.0f}"
                    " s calbridge waits",
                    status=status,
                )
            raise Transient(f"HTTP {status} ({message})", status, retry_after)
        if status == 401:
            reason = auth_error_message or self.auth_error_message
            raise UpstreamAuthError(
                self.source_name, f"{reason} (HTTP 401: {message})", status=status
            )
        if 300 <= status < 400:
            raise UpstreamProtocolError(
                self.source_name,
                f"{_where(url)} answered an unexpected redirect (HTTP {status}) to "
                f"{response.headers.get('Location', '?')}",
                status=status,
            )
        raise UpstreamRequestError(
            self.source_name,
            f"{_where(url)} refused the request (HTTP {status}): {message}",
            status=status,
        )

    def _log_retry(self, plan: RetryPlan) -> Callable[[tenacity.RetryCallState], None]:
        def log_retry(retry_state: tenacity.RetryCallState) -> None:
            outcome = retry_state.outcome
            exc = outcome.exception() if outcome is not None else None
            log.warning(
                "%s: %s; attempt %d failed after %.1f s, retrying in %.2f s",
                self.source_name,
                getattr(exc, "description", exc),
                retry_state.attempt_number,
                plan.elapsed - plan.next_wait,
                plan.next_wait,
            )

        return log_retry


def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, str]:
    """The decoded body, read up to `limit` bytes; and "" if it fit, else how it did not.

    A declared Content-Length over the limit is refused unread; otherwise reading stops at
    the first chunk past the limit (a compressed body is counted as it decodes).
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        return b"", f" ({int(declared):,} bytes announced)"
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            return b"".join(chunks), f" (stopped reading at {size:,} bytes)"
        chunks.append(chunk)
    return b"".join(chunks), ""


def _where(url: str) -> str:
    """The URL without its query string, for error messages (queries may carry user ids)."""
    return str(httpx.URL(url).copy_with(query=None))
