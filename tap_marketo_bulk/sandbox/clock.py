"""The sandbox's "now": real time plus an offset that tests move forward (a day passes at once)."""

from __future__ import annotations

import threading
import time


class SandboxClock:
    """Wall-clock seconds shifted by `offset`; `advance()` moves the instance's day forward."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.offset = 0.0

    def now(self) -> float:
        with self._lock:
            return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self.offset += seconds
