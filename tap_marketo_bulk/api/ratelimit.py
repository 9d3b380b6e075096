"""Marketo's call limit, kept on our side: at most N calls in any rolling 20 s (Marketo allows 100,
shared with every other integration of the instance)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable


class SlidingWindowRateLimiter:
    """Never more than `max_calls` in any rolling `period`: a log of send times, thread-safe."""

    def __init__(
        self,
        max_calls: int,
        period: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        if max_calls < 1:
            raise ValueError("max_calls must be at least 1")
        self.max_calls = max_calls
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._sent_at: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until a call may leave, and count it."""
        while True:
            with self._lock:
                now = self._clock()
                while self._sent_at and self._sent_at[0] <= now - self.period:
                    self._sent_at.popleft()
                if len(self._sent_at) < self.max_calls:
                    self._sent_at.append(now)
                    return
                wait = self._sent_at[0] + self.period - now
            # Sleep outside the lock so other threads see the window move on too.
            self._sleep(max(wait, 0.001))
