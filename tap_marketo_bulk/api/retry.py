"""The one retry table of MarketoClient: every error code has exactly one policy.

A policy says how to retry (re-authenticate, wait out the rolling rate window, back off) and whether
Marketo surely did nothing, which decides if a non-idempotent request (bulk create) may be re-sent.
Codes not in RETRY_POLICIES are raised at once.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

import requests
from urllib3.exceptions import NewConnectionError

RATE_LIMIT_WAIT_SECONDS = 20.0  # 606: Marketo counts calls over a rolling 20 s
BACKOFF_BASE_SECONDS = 2.0
MAX_ATTEMPTS = 5  # per request and per kind of retryable failure

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
        [
            "604",
            "608",
            "611",
            "500",
            "502",
            "HTTP 500",
            "HTTP 502",
            "HTTP 503",
            "HTTP 504",
            CONNECTION_LOST,
        ],
        _BACKOFF_UNKNOWN_OUTCOME,
    ),
}


@dataclass
class RetryBudget:
    """What one request has used of its retries."""

    reauthenticated: bool = False
    retries: Counter[RetryAction] = field(default_factory=Counter)


def nothing_sent(exc: requests.RequestException) -> bool:
    """True when the connection failed before any byte of the request left (safe to re-send)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or isinstance(exc, requests.ReadTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)  # refused or unresolvable host


def retry_delay(action: RetryAction, attempt: int, jitter: random.Random) -> float:
    """Seconds to wait before retry number `attempt` (1 = the first retry) of `action`."""
    if action is RetryAction.WAIT_RATE_LIMIT:
        return RATE_LIMIT_WAIT_SECONDS + jitter.uniform(0.0, 2.0)
    base = BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)
    return base + jitter.uniform(0.0, base / 4)
