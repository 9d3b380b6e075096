"""Marketo's limits, tracked on our side so the tap stops (or waits) before Marketo has to refuse.

QuotaTracker: bytes exported in the current Marketo day (500 MB a day by default, reset at midnight
US Central). max_active_jobs(): how many export jobs we
let occupy Marketo's export queue; QueueBackoff: when to try an enqueue again after it was full.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timezone

from tap_marketo_bulk.export.windows import marketo_day


def current_marketo_day() -> date:
    return marketo_day(datetime.now(timezone.utc))


MIB = 1024 * 1024


class QuotaTracker:
    """Bytes exported in the current Marketo day; thread-safe.

    `limit_bytes` None means no limit of our own (Marketo's 1029 still stops us: mark_exhausted).
    """

    def __init__(
        self,
        limit_bytes: int | None,
        day_bytes: int = 0,
        day: date | None = None,
        *,
        today: Callable[[], date] = current_marketo_day,
    ) -> None:
        self.limit_bytes = limit_bytes
        self._today = today
        self._lock = threading.Lock()
        self._day = day or today()
        self._bytes = max(0, int(day_bytes))
        self._exhausted_message: str | None = None
        self._roll_over()

    @classmethod
    def from_state(
        cls,
        state: dict | None,
        limit: int | None,
        *,
        today: Callable[[], date] = current_marketo_day,
    ) -> QuotaTracker:
        """From `{"day": "YYYY-MM-DD", "bytes": n}`; a previous day's bytes no longer count."""
        state = state or {}
        try:
            saved_day = date.fromisoformat(str(state.get("day")))
            saved_bytes = int(state.get("bytes") or 0)
        except (TypeError, ValueError):
            return cls(limit, today=today)
        return cls(limit, saved_bytes, saved_day, today=today)

    def _roll_over(self) -> None:
        # Caller holds the lock (or is __init__). Midnight US Central: a fresh quota.
        current = self._today()
        if current != self._day:
            self._day = current
            self._bytes = 0
            self._exhausted_message = None

    def add(self, nbytes: int) -> None:
        with self._lock:
            self._roll_over()
            self._bytes += max(0, int(nbytes))

    def mark_exhausted(self, message: str) -> None:
        """Marketo answered 1029 quota exceeded: exhausted until the Marketo day changes."""
        with self._lock:
            self._roll_over()
            self._exhausted_message = message

    @property
    def day(self) -> date:
        with self._lock:
            self._roll_over()
            return self._day

    @property
    def day_bytes(self) -> int:
        with self._lock:
            self._roll_over()
            return self._bytes

    @property
    def remaining(self) -> int | None:
        """Bytes left today by our own count (None without a limit)."""
        with self._lock:
            self._roll_over()
            if self.limit_bytes is None:
                return None
            return max(0, self.limit_bytes - self._bytes)

    @property
    def exhausted(self) -> bool:
        return self.exhausted_message is not None

    @property
    def exhausted_message(self) -> str | None:
        """Why no more jobs may be created today, or None."""
        with self._lock:
            self._roll_over()
            if self._exhausted_message is not None:
                return self._exhausted_message
            if self.limit_bytes is not None and self._bytes >= self.limit_bytes:
                return (
                    f"daily_quota_mb reached by this tap's count: {self._bytes / MIB:.1f} MiB "
                    f"exported on {self._day.isoformat()} (limit {self.limit_bytes / MIB:.1f} MiB)"
                )
            return None

    def to_state(self) -> dict:
        with self._lock:
            self._roll_over()
            return {"day": self._day.isoformat(), "bytes": self._bytes}


MARKETO_MAX_PROCESSING = 2  # per instance: Marketo never processes more than this at once
QUEUE_BACKOFF_MAX_FACTOR = 4  # 1029 queue full: wait 1x, 2x, 4x, 4x, ... queue_backoff


def max_active_jobs(max_concurrent_jobs: int, max_queued_jobs: int = 2) -> int:
    """Queued + Processing jobs we allow ourselves with `max_concurrent_jobs` Processing."""
    # Marketo starts queued jobs on free slots by itself: queued jobs beyond our limit are only
    # safe when our limit is Marketo's own maximum anyway. Two waiting (4 of Marketo's 10 queue
    # places) keep both slots busy when both Processing jobs finish at the same status refresh.
    extra = max_queued_jobs if max_concurrent_jobs >= MARKETO_MAX_PROCESSING else 0
    return max_concurrent_jobs + extra


class QueueBackoff:
    """1029 "Too many jobs in queue": no enqueue before `not_before` (a clock() value)."""

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._streak = 0  # queue-full answers since the last success
        self.not_before = 0.0

    def queue_full(self, base: float) -> float:
        """Note a queue-full answer; the delay before the next try."""
        # Truncated binary exponential backoff: 1x, 2x, 4x, 4x ... until a success.
        delay = base * min(2**self._streak, QUEUE_BACKOFF_MAX_FACTOR)
        self._streak += 1
        self.not_before = self._clock() + delay
        return delay

    def succeeded(self) -> None:
        self._streak = 0
