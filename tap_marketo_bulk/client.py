"""MarketoClient: OAuth token, response envelope, one retry table, rate limit, streamed GET.

Every call of the tap to Marketo goes through here, so the rules that keep an integration within
Marketo's limits live in one place: the token is reused until shortly before it expires, every error
code has exactly one policy (RETRY_POLICIES), no more than `max_calls_per_20s` calls leave in any
rolling 20 s, and nothing secret (client secret, access token) ever reaches a log line or exception.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from .errors import (
    AmbiguousRequestError,
    ExportFileGoneError,
    MarketoAuthError,
    MarketoError,
    QueueFullError,
    QuotaExceededError,
    UnsupportedFilterError,
)
from .quota import SlidingWindowRateLimiter

IDENTITY_PATH = "/identity/oauth/token"
# Refresh this long before Marketo says the token expires, so a call never leaves with a token
# that dies in flight.
TOKEN_EXPIRY_MARGIN_SECONDS = 60.0
RATE_WINDOW_SECONDS = 20.0
# Calls are counted when they leave, Marketo counts them when they arrive: a little slack keeps
# network jitter from putting one call too many into Marketo's window.
RATE_WINDOW_SLACK_SECONDS = 1.0
RATE_LIMIT_WAIT_SECONDS = 20.0  # 606: Marketo counts calls over a rolling 20 s
BACKOFF_BASE_SECONDS = 2.0
MAX_ATTEMPTS = 5  # per request and per kind of retryable failure
CONNECT_TIMEOUT_SECONDS = 30.0

# Client-side codes for transport failures (Marketo's own codes are numeric strings).
CONNECT_FAILED = "connect-failed"  # refused, DNS, connect timeout: the request was never sent
CONNECTION_LOST = "connection-lost"  # dropped or timed out after sending: the outcome is unknown
EMPTY_RESULT = "empty-result"  # create answered success:true without a result


class RetryAction(Enum):
    REAUTHENTICATE = "reauthenticate"  # fetch a new token, retry once
    WAIT_RATE_LIMIT = "wait-rate-limit"  # wait ~20 s for the rolling window to move on
    BACKOFF = "backoff"  # bounded exponential backoff with jitter


@dataclass(frozen=True)
class RetryPolicy:
    action: RetryAction
    # True when Marketo surely did not carry the request out, so even a non-idempotent request
    # (bulk create) may be sent again without risking a duplicate job.
    nothing_done: bool


_REAUTH = RetryPolicy(RetryAction.REAUTHENTICATE, nothing_done=True)
_BACKOFF_SAFE = RetryPolicy(RetryAction.BACKOFF, nothing_done=True)
_BACKOFF_UNKNOWN_OUTCOME = RetryPolicy(RetryAction.BACKOFF, nothing_done=False)

# The one retry table: code -> policy. Codes not in it are raised at once.
RETRY_POLICIES: dict[str, RetryPolicy] = {
    "601": _REAUTH,  # access token invalid
    "602": _REAUTH,  # access token expired
    "606": RetryPolicy(RetryAction.WAIT_RATE_LIMIT, nothing_done=True),
    "615": _BACKOFF_SAFE,  # concurrent access limit: refused at the door
    CONNECT_FAILED: _BACKOFF_SAFE,
    # 604 time-out, 608 temporarily unavailable, 611 system error, 5xx; proxies in front of
    # Marketo answer 503/504 for the same transient trouble.
    **dict.fromkeys(
        ["604", "608", "611", "500", "502", "HTTP 500", "HTTP 502", "HTTP 503", "HTTP 504",
         CONNECTION_LOST],
        _BACKOFF_UNKNOWN_OUTCOME,
    ),
}

# Codes that are not retried but deserve more than Marketo's terse message.
ERROR_HINTS: dict[str, str] = {
    "603": (
        "Access denied: the API user's role lacks a permission this endpoint needs (bulk extract "
        "needs Read-Only Lead and Read-Only Activity; programs need Read-Only Assets)"
    ),
    "607": "daily API call quota reached (it resets at midnight US Central)",
    "1003": "Marketo rejected the request as invalid",
    "1006": "a requested field does not exist in this instance (re-run discovery or deselect it)",
}

_SECRET_QUERY_PARAM = re.compile(r"((?:client_secret|access_token)=)[^&\s'\"]+", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[^\s'\",]+", re.IGNORECASE)
_EXPORT_ID_SEGMENT = re.compile(r"/export/[^/]+/")


def redact_secrets(text: str, *secrets: str | None) -> str:
    """`text` with query-string secrets, bearer tokens and the given literal values masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _SECRET_QUERY_PARAM.sub(r"\1***", text)
    return _BEARER.sub(r"\1***", text)


class _RedactSecretsFilter(logging.Filter):
    """urllib3 logs every request line, query string included, at DEBUG: mask the secrets in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_secrets(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_secrets(record.msg)
        return True


def _install_urllib3_redaction() -> None:
    urllib3_logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactSecretsFilter) for f in urllib3_logger.filters):
        urllib3_logger.addFilter(_RedactSecretsFilter())


def _nothing_sent(exc: requests.RequestException) -> bool:
    """True when the connection failed before any byte of the request left (safe to re-send)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or isinstance(exc, requests.ReadTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)  # refused or unresolvable host


def endpoint_label(path: str) -> str:
    """The path with export ids replaced, for per-endpoint call counts."""
    return _EXPORT_ID_SEGMENT.sub("/export/{exportId}/", path.split("?", 1)[0])


@dataclass
class _RetryBudget:
    """What one request has used of its retries."""

    reauthenticated: bool = False
    retries: Counter[RetryAction] = field(default_factory=Counter)


class MarketoClient:
    """Thread-safe access to one Marketo instance's REST and Bulk APIs."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        request_timeout: float = 300.0,
        logger: logging.Logger | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_calls_per_20s: int = 90,
        clock: Callable[[], float] = time.monotonic,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self.request_timeout = request_timeout
        self.connect_timeout = min(connect_timeout, request_timeout)
        self.logger = logger or logging.getLogger(__name__)
        self.sleep = sleep
        self.clock = clock
        self.max_attempts = max(1, max_attempts)
        self.rate_limiter = SlidingWindowRateLimiter(
            max_calls_per_20s, RATE_WINDOW_SECONDS + RATE_WINDOW_SLACK_SECONDS, clock=clock,
            sleep=sleep,
        )
        self.api_calls = 0  # calls made, identity not counted (it does not count against quota)
        self.calls_by_endpoint: Counter[str] = Counter()
        self.token_requests = 0
        self._stats_lock = threading.Lock()
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = threading.Lock()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._jitter = random.Random()
        _install_urllib3_redaction()

    def __repr__(self) -> str:
        return f"MarketoClient({self.base_url!r}, client_id={self._client_id!r})"

    # ----- public API ---------------------------------------------------------------------------

    def get(self, path: str, params: dict | None = None) -> dict:
        """GET `path` (e.g. "/rest/v1/..."); the parsed envelope of a `success: true` answer."""
        return self._call("GET", path, params=params, idempotent=True)

    def post(self, path: str, json: dict | None = None, *, idempotent: bool = True) -> dict:
        """POST `path`; the parsed envelope of a `success: true` answer.

        `idempotent=False` (bulk create): only failures where Marketo surely did nothing are
        retried; others raise AmbiguousRequestError so the caller can reconcile. A 1029 "Job
        already queued" answer (enqueue) is returned with `"alreadyQueued": True` added.
        """
        envelope = self._call("POST", path, json=json, idempotent=idempotent)
        if not idempotent and not envelope.get("result") and not envelope.get("alreadyQueued"):
            # Seen from create: the job may or may not exist; let the caller look before retrying.
            raise AmbiguousRequestError(EMPTY_RESULT, "success:true without a result", path)
        return envelope

    def open_stream(self, path: str, headers: dict | None = None) -> requests.Response:
        """A streamed GET (file.json). 200/206/416 responses are returned, the caller closes them.

        404 raises ExportFileGoneError; a JSON envelope in place of the file is handled by the
        retry table (e.g. 602 re-authenticates) or raised.
        """
        return self._call("GET", path, headers=headers, stream=True, idempotent=True)

    def close(self) -> None:
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()
        self._local = threading.local()

    def redact(self, text: str) -> str:
        """`text` without the client secret or the current access token."""
        return redact_secrets(text, self._client_secret, self._token)

    # ----- the request loop ---------------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, idempotent: bool, stream: bool = False, **kwargs: Any
    ) -> Any:
        """Send with the retry table. kwargs: params, json, headers (as for requests)."""
        budget = _RetryBudget()
        while True:
            token = self._access_token()
            headers = {**(kwargs.get("headers") or {}), "Authorization": f"Bearer {token}"}
            self.rate_limiter.acquire()
            with self._stats_lock:
                self.api_calls += 1
                self.calls_by_endpoint[endpoint_label(path)] += 1
            try:
                response = self._request(method, path, **{**kwargs, "headers": headers},
                                         stream=stream)
                if stream:
                    return self._check_stream(response, path)
                return self._read_envelope(response, path)
            except MarketoError as error:
                self._before_retry(error, budget, idempotent=idempotent, token=token)

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        started = self.clock()
        try:
            response = self._session().request(
                method, self.base_url + path,
                timeout=(self.connect_timeout, self.request_timeout), **kwargs,
            )
        except requests.RequestException as exc:
            code = CONNECT_FAILED if _nothing_sent(exc) else CONNECTION_LOST
            # `from None`: requests' message holds the full URL; only the redacted copy survives.
            raise MarketoError(code, self.redact(f"{type(exc).__name__}: {exc}"), path) from None
        self.logger.debug(
            "%s %s -> HTTP %s (%.2f s)", method, path, response.status_code, self.clock() - started
        )
        return response

    def _before_retry(
        self, error: MarketoError, budget: _RetryBudget, *, idempotent: bool, token: str | None
    ) -> None:
        """Sleep/re-authenticate before the next attempt, or raise when the table says so."""
        policy = RETRY_POLICIES.get(error.code)
        if policy is None:
            raise error
        if not idempotent and not policy.nothing_done:
            raise AmbiguousRequestError(error.code, error.message, error.endpoint) from None
        if policy.action is RetryAction.REAUTHENTICATE:
            if budget.reauthenticated:
                raise error
            budget.reauthenticated = True
            self.logger.info("Marketo %s on %s: fetching a new access token", error.code,
                             error.endpoint)
            self._invalidate_token(token)
            return
        budget.retries[policy.action] += 1
        attempt = budget.retries[policy.action]
        if attempt >= self.max_attempts:
            raise error
        if policy.action is RetryAction.WAIT_RATE_LIMIT:
            delay = RATE_LIMIT_WAIT_SECONDS + self._jitter.uniform(0.0, 2.0)
        else:
            base = BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)
            delay = base + self._jitter.uniform(0.0, base / 4)
        self.logger.warning(
            "Marketo %s on %s (%s); retrying in %.1f s (attempt %d of %d)",
            error.code, error.endpoint, error.message, delay, attempt + 1, self.max_attempts,
        )
        self.sleep(delay)

    # ----- responses ----------------------------------------------------------------------------

    def _read_envelope(self, response: requests.Response, path: str) -> dict:
        envelope = _json_object(response)
        if response.status_code >= 300 or envelope is None:
            problem = "" if response.status_code >= 300 else "answer is not a JSON object: "
            raise MarketoError(f"HTTP {response.status_code}",
                               problem + self.redact(_snippet(response.text)), path)
        if envelope.get("success") is True:
            return envelope
        error = self._envelope_error(envelope, path)
        if error.code == "1029" and "already queued" in error.message.lower():
            return {**envelope, "alreadyQueued": True}
        raise error

    def _envelope_error(self, envelope: dict, path: str) -> MarketoError:
        errors = envelope.get("errors") or [{}]
        first = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
        code = str(first.get("code", "unknown"))
        message = self.redact(str(first.get("message") or "success:false without an error"))
        if code == "1029":
            if "quota" in message.lower():
                return QuotaExceededError(code, message, path)
            return QueueFullError(code, message, path)
        if code == "1035":
            return UnsupportedFilterError(code, message, path)
        if code in ERROR_HINTS:
            message = f"{ERROR_HINTS[code]}: {message}"
        return MarketoError(code, message, path)

    def _check_stream(self, response: requests.Response, path: str) -> requests.Response:
        status = response.status_code
        if status == 404:
            response.close()
            raise ExportFileGoneError(
                "HTTP 404", "export file not found (job not Completed, unknown or expired)", path
            )
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type == "application/json":
            # An error envelope in place of the file: small, safe to read whole.
            try:
                envelope = self._read_envelope(response, path)
            finally:
                response.close()
            raise MarketoError(
                "unexpected-json", f"a JSON answer in place of the file: {_snippet(str(envelope))}",
                path,
            )
        if status in (200, 206, 416):
            return response
        text = _snippet(response.text)
        response.close()
        raise MarketoError(f"HTTP {status}", self.redact(text), path)

    # ----- token --------------------------------------------------------------------------------

    def _access_token(self) -> str:
        with self._token_lock:
            if self._token is None or self.clock() >= self._token_expires_at:
                self._fetch_token()
            assert self._token is not None
            return self._token

    def _invalidate_token(self, used: str | None) -> None:
        with self._token_lock:
            # Another thread may already have replaced the stale token: keep the fresh one.
            if self._token == used:
                self._token = None

    def _fetch_token(self) -> None:
        """Ask identity for a token (caller holds the token lock). Identity is not rate-counted."""
        budget = _RetryBudget()
        # Marketo wants the credentials as query parameters; _request's errors are redacted and
        # urllib3's request-line log goes through _RedactSecretsFilter.
        params = {"grant_type": "client_credentials", "client_id": self._client_id,
                  "client_secret": self._client_secret}
        while True:
            self.token_requests += 1
            try:
                self._store_token(self._request("GET", IDENTITY_PATH, params=params))
                return
            except MarketoAuthError:
                raise
            except MarketoError as error:
                self._before_retry(error, budget, idempotent=True, token=None)

    def _store_token(self, response: requests.Response) -> None:
        body = _json_object(response) or {}
        oauth_error = str(body.get("error", ""))
        if response.status_code == 401 or oauth_error in ("unauthorized", "invalid_client"):
            raise MarketoAuthError(
                f"HTTP {response.status_code}", "Marketo rejected the client_id/client_secret",
                IDENTITY_PATH,
            )
        if response.status_code >= 300:
            raise MarketoError(
                f"HTTP {response.status_code}", self.redact(_snippet(response.text)), IDENTITY_PATH
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            detail = self.redact(str(body.get("error_description") or oauth_error or "no token"))
            raise MarketoAuthError(
                f"HTTP {response.status_code}", f"identity answered without a token ({detail})",
                IDENTITY_PATH,
            )
        try:
            expires_in = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            expires_in = 0.0
        self._token = token
        # Identity hands out the current token until it expires: one with less than the margin
        # left comes back again and again. Use it for a quarter of what it has left rather than
        # asking identity again before every call of its last minute.
        usable = max(expires_in - TOKEN_EXPIRY_MARGIN_SECONDS, expires_in / 4)
        self._token_expires_at = self.clock() + max(0.0, usable)
        self.logger.debug("new access token, valid for %.0f s", expires_in)

    def _session(self) -> requests.Session:
        # requests.Session is not documented thread-safe: one per thread.
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = "tap-marketo-bulk"
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session


def _json_object(response: requests.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
