"""MarketoClient: OAuth token, response envelope, one retry table, rate limit, streamed GET.

Every call of the tap to Marketo goes through here, so the rules that keep an integration within
Marketo's limits live in one place: the token is reused until shortly before it expires, every error
code has exactly one policy (RETRY_POLICIES), no more than `max_calls_per_20s` calls leave in any
rolling 20 s, and nothing secret (client secret, access token) ever reaches a log line or exception.
The retry table lives in retry.py, envelope errors -> exception types in envelope.py, the masking of
secrets in redaction.py.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from tap_marketo_bulk.api.envelope import envelope_error, json_object, snippet
from tap_marketo_bulk.api.ratelimit import SlidingWindowRateLimiter
from tap_marketo_bulk.api.redaction import install_urllib3_redaction, redact_secrets
from tap_marketo_bulk.api.retry import (
    CONNECT_FAILED,
    CONNECTION_LOST,
    EMPTY_RESULT,
    MAX_ATTEMPTS,
    RETRY_POLICIES,
    RetryAction,
    RetryBudget,
    nothing_sent,
    retry_delay,
)
from tap_marketo_bulk.errors import (
    AmbiguousRequestError,
    ExportFileGoneError,
    MarketoAuthError,
    MarketoError,
)

IDENTITY_PATH = "/identity/oauth/token"
# Refresh this long before Marketo says the token expires, so a call never leaves with a token
# that dies in flight.
TOKEN_EXPIRY_MARGIN_SECONDS = 60.0
RATE_WINDOW_SECONDS = 20.0
# Calls are counted when they leave, Marketo counts them when they arrive: a little slack keeps
# network jitter from putting one call too many into Marketo's window.
RATE_WINDOW_SLACK_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 30.0

_EXPORT_ID_SEGMENT = re.compile(r"/export/[^/]+/")


def endpoint_label(path: str) -> str:
    """The path with export ids replaced, for per-endpoint call counts."""
    return _EXPORT_ID_SEGMENT.sub("/export/{exportId}/", path.split("?", 1)[0])


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
            max_calls_per_20s,
            RATE_WINDOW_SECONDS + RATE_WINDOW_SLACK_SECONDS,
            clock=clock,
            sleep=sleep,
        )
        self.server_offset: float | None = None  # Marketo's clock minus ours (Date header), s
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
        install_urllib3_redaction()

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
        budget = RetryBudget()
        while True:
            token = self._access_token()
            headers = {**(kwargs.get("headers") or {}), "Authorization": f"Bearer {token}"}
            self.rate_limiter.acquire()
            with self._stats_lock:
                self.api_calls += 1
                self.calls_by_endpoint[endpoint_label(path)] += 1
            try:
                response = self._request(
                    method, path, **{**kwargs, "headers": headers}, stream=stream
                )
                if stream:
                    return self._check_stream(response, path)
                return self._read_envelope(response, path)
            except MarketoError as error:
                self._before_retry(error, budget, idempotent=idempotent, token=token)

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        started = self.clock()
        try:
            response = self._session().request(
                method,
                self.base_url + path,
                timeout=(self.connect_timeout, self.request_timeout),
                **kwargs,
            )
        except requests.RequestException as exc:
            code = CONNECT_FAILED if nothing_sent(exc) else CONNECTION_LOST
            # `from None`: requests' message holds the full URL; only the redacted copy survives.
            raise MarketoError(code, self.redact(f"{type(exc).__name__}: {exc}"), path) from None
        self.logger.debug(
            "%s %s -> HTTP %s (%.2f s)", method, path, response.status_code, self.clock() - started
        )
        self._note_server_time(response)
        return response

    def _note_server_time(self, response: requests.Response) -> None:
        """Marketo's clock from the Date header (RFC 9110): its day, not ours, sets the quota."""
        value = response.headers.get("Date")
        if not value:
            return
        try:
            server = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return
        if server.tzinfo is not None:
            self.server_offset = server.timestamp() - time.time()

    def server_now(self) -> datetime:
        """Marketo's "now": our clock shifted by the Date header of its latest answer."""
        return datetime.fromtimestamp(time.time() + (self.server_offset or 0.0), timezone.utc)

    def _before_retry(
        self, error: MarketoError, budget: RetryBudget, *, idempotent: bool, token: str | None
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
            self.logger.info(
                "Marketo %s on %s: fetching a new access token", error.code, error.endpoint
            )
            self._invalidate_token(token)
            return
        budget.retries[policy.action] += 1
        attempt = budget.retries[policy.action]
        if attempt >= self.max_attempts:
            raise error
        delay = retry_delay(policy.action, attempt, self._jitter)
        self.logger.warning(
            "Marketo %s on %s (%s); retrying in %.1f s (attempt %d of %d)",
            error.code,
            error.endpoint,
            error.message,
            delay,
            attempt + 1,
            self.max_attempts,
        )
        self.sleep(delay)

    # ----- responses ----------------------------------------------------------------------------

    def _read_envelope(self, response: requests.Response, path: str) -> dict:
        envelope = json_object(response)
        if response.status_code >= 300 or envelope is None:
            problem = "" if response.status_code >= 300 else "answer is not a JSON object: "
            raise MarketoError(
                f"HTTP {response.status_code}", problem + self.redact(snippet(response.text)), path
            )
        if envelope.get("success") is True:
            return envelope
        error = envelope_error(envelope, path, self.redact)
        if error.code == "1029" and "already queued" in error.message.lower():
            return {**envelope, "alreadyQueued": True}
        raise error

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
                "unexpected-json",
                f"a JSON answer in place of the file: {snippet(str(envelope))}",
                path,
            )
        if status in (200, 206, 416):
            return response
        text = snippet(response.text)
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
        budget = RetryBudget()
        # Marketo wants the credentials as query parameters; _request's errors are redacted and
        # urllib3's request-line log goes through RedactSecretsFilter.
        params = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
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
        body = json_object(response) or {}
        oauth_error = str(body.get("error", ""))
        if response.status_code == 401 or oauth_error in ("unauthorized", "invalid_client"):
            raise MarketoAuthError(
                f"HTTP {response.status_code}",
                "Marketo rejected the client_id/client_secret",
                IDENTITY_PATH,
            )
        if response.status_code >= 300:
            raise MarketoError(
                f"HTTP {response.status_code}", self.redact(snippet(response.text)), IDENTITY_PATH
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            detail = self.redact(str(body.get("error_description") or oauth_error or "no token"))
            raise MarketoAuthError(
                f"HTTP {response.status_code}",
                f"identity answered without a token ({detail})",
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
