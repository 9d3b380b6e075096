"""Access tokens, the rolling 20-second call limit and the concurrent-call limit."""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass

from .config import Faults, SandboxConfig
from .envelope import MESSAGES, ApiError
from .stats import RATE_WINDOW_SECONDS


@dataclass
class _Token:
    value: str
    client_id: str
    issued: float  # monotonic
    lifetime: float


class TokenStore:
    """One live token per client; identity hands out the same token until it expires."""

    def __init__(self, credentials: dict[str, str], config: SandboxConfig, faults: Faults) -> None:
        self._credentials = credentials  # client_id -> client_secret
        self._config, self._faults = config, faults
        self._lock = threading.Lock()
        self._by_value: dict[str, _Token] = {}
        self._current: dict[str, _Token] = {}

    def _expires_at(self, token: _Token) -> float:
        override = self._faults.expire_tokens_after
        return token.issued + (token.lifetime if override is None else override)

    def _expired(self, token: _Token, now: float) -> bool:
        return now >= self._expires_at(token) or token.issued < self._faults.tokens_expired_before

    def issue(self, client_id: str, client_secret: str) -> dict[str, object] | None:
        """The identity response, or None for bad credentials (HTTP 401)."""
        if self._credentials.get(client_id) != client_secret or not client_id:
            return None
        now = time.monotonic()
        with self._lock:
            token = self._current.get(client_id)
            if token is None or self._expired(token, now):
                token = _Token(f"{uuid.uuid4()}:ab", client_id, now,
                               self._config.token_ttl_seconds)
                self._current[client_id] = token
                self._by_value[token.value] = token
            remaining = self._expires_at(token) - now
        return {"access_token": token.value, "token_type": "bearer",
                "expires_in": max(0, int(remaining)), "scope": "apis@sandbox.example"}

    def peek(self, value: str | None) -> str:
        """The client a token was issued to (expired or not), "" if unknown; never raises."""
        with self._lock:
            token = self._by_value.get(value or "")
            return token.client_id if token else ""

    def client_for(self, value: str | None) -> str:
        """The client id a bearer token belongs to; ApiError 603/601/602 otherwise."""
        if not value:
            raise ApiError("603", MESSAGES["603"])
        with self._lock:
            token = self._by_value.get(value)
            if token is None:
                raise ApiError("601", MESSAGES["601"])
            if self._expired(token, time.monotonic()):
                raise ApiError("602", MESSAGES["602"])
            return token.client_id


class RateLimiter:
    """At most `limit` accepted calls in any rolling 20 s, shared by every client."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._accepted: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> None:
        now = time.monotonic()
        with self._lock:
            while self._accepted and self._accepted[0] <= now - RATE_WINDOW_SECONDS:
                self._accepted.popleft()
            if len(self._accepted) >= self._limit:
                raise rate_limit_error(self._limit)
            self._accepted.append(now)


def rate_limit_error(limit: int) -> ApiError:
    return ApiError("606", f"Max rate limit '{limit}' exceeded with in '20' secs")


class ConcurrencyGate:
    """Marketo answers 615 when more than `limit` calls of the instance are in flight."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._in_flight = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            if self._in_flight >= self._limit:
                raise ApiError("615", f"Concurrent access limit '{self._limit}' reached")
            self._in_flight += 1

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1
