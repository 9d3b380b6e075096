"""What the tap did to the sandbox, per API client, for tests to assert on."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

RATE_WINDOW_SECONDS = 20.0


@dataclass
class _ClientCounters:
    api_calls: int = 0
    create_calls: int = 0
    enqueue_calls: int = 0
    status_calls: int = 0
    cancel_calls: int = 0
    file_calls: int = 0
    tokens_in_query: int = 0
    token_requests: int = 0
    calls_per_20s_max: int = 0
    bytes_exported: int = 0  # sizes of this client's files when their jobs Completed
    bytes_downloaded: int = 0  # bytes file.json actually sent
    max_processing_at_once: int = 0
    max_queued_plus_processing_at_once: int = 0
    min_poll_interval_seconds: float | None = None
    errors: Counter = field(default_factory=Counter)  # error code -> times answered
    recent_calls: deque = field(default_factory=deque)

    def public(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "recent_calls"}
        out["errors"] = dict(self.errors)
        return out


class StatsRecorder:
    """Thread-safe counters. Calls are attributed to the client whose token was used;
    calls with no usable token go to the client id "" (anonymous)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, _ClientCounters] = {}
        self._instance = _ClientCounters()

    def _client(self, client_id: str) -> _ClientCounters:
        counters = self._clients.get(client_id)
        if counters is None:
            counters = self._clients[client_id] = _ClientCounters()
        return counters

    def reset(self) -> None:
        with self._lock:
            self._clients.clear()
            self._instance = _ClientCounters()

    def api_call(self, client_id: str, now: float) -> None:
        """One API call (identity excluded), accepted or not: feeds the rolling 20 s maximum."""
        with self._lock:
            for counters in (self._client(client_id), self._instance):
                counters.api_calls += 1
                window = counters.recent_calls
                window.append(now)
                while window and window[0] <= now - RATE_WINDOW_SECONDS:
                    window.popleft()
                counters.calls_per_20s_max = max(counters.calls_per_20s_max, len(window))

    def api_calls(self) -> tuple[int, dict[str, int]]:
        """API calls since start (or reset): the instance total and per client id."""
        with self._lock:
            per_client = {cid: c.api_calls for cid, c in self._clients.items() if cid}
            return self._instance.api_calls, per_client

    def count(self, client_id: str, name: str, amount: int = 1) -> None:
        """Add to a plain counter (create_calls, tokens_in_query, bytes_downloaded, ...)."""
        with self._lock:
            for counters in (self._client(client_id), self._instance):
                setattr(counters, name, getattr(counters, name) + amount)

    def error(self, client_id: str, code: str) -> None:
        with self._lock:
            self._client(client_id).errors[code] += 1
            self._instance.errors[code] += 1

    def poll_interval(self, client_id: str, seconds: float) -> None:
        with self._lock:
            for counters in (self._client(client_id), self._instance):
                current = counters.min_poll_interval_seconds
                counters.min_poll_interval_seconds = (
                    seconds if current is None else min(current, seconds)
                )

    def queue_levels(self, levels: dict[str, tuple[int, int]]) -> None:
        """Current (processing, queued + processing) per client; keeps the maxima."""
        with self._lock:
            total_processing = total_active = 0
            for client_id, (processing, active) in levels.items():
                counters = self._client(client_id)
                counters.max_processing_at_once = max(counters.max_processing_at_once, processing)
                counters.max_queued_plus_processing_at_once = max(
                    counters.max_queued_plus_processing_at_once, active
                )
                total_processing += processing
                total_active += active
            instance = self._instance
            instance.max_processing_at_once = max(instance.max_processing_at_once,
                                                  total_processing)
            instance.max_queued_plus_processing_at_once = max(
                instance.max_queued_plus_processing_at_once, total_active
            )

    def snapshot(self, jobs: list[dict[str, Any]]) -> dict[str, Any]:
        """Instance-wide counters at the top level, per client under "clients"."""
        with self._lock:
            out = self._instance.public()
            clients = {cid: c.public() for cid, c in self._clients.items()}
        for counters in clients.values():
            counters["jobs"] = []
            counters["exports_per_window"] = Counter()
        out["jobs"] = jobs
        out["exports_per_window"] = Counter()
        for job in jobs:
            per_client = clients.get(job["client_id"])
            if per_client is None:
                per_client = clients[job["client_id"]] = {
                    **_ClientCounters().public(), "jobs": [], "exports_per_window": Counter()
                }
            per_client["jobs"].append(job)
            if job["status"] == "Completed":
                key = (job["object"], job["filter_key"])
                per_client["exports_per_window"][key] += 1
                out["exports_per_window"][key] += 1
        out["clients"] = clients
        return out
