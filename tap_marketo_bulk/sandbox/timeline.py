"""Where records fall in time: uneven months, a quiet stretch, and bursts exactly at window edges.

Windows are counted from data_start in steps of 31 days (a tap's windows are 31 days minus one
second), so records at T-1 s, T and T+1 s of every step T sit on both sides of each window edge.
The instance birth (oldest top-level folder) is data_start, so a tap's windows line up with these.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

from .timeutil import DAY, month_starts

WINDOW_SECONDS = 31 * DAY


def window_edges(start: int, end: int) -> list[int]:
    """Starts of windows 1, 2, ... (data_start + k * 31 days) inside (start, end]."""
    edges: list[int] = []
    edge = start + WINDOW_SECONDS
    while edge <= end:
        edges.append(edge)
        edge += WINDOW_SECONDS
    return edges


@dataclass
class Timeline:
    """A month-by-month activity profile over [start, end] (epoch seconds, inclusive)."""

    start: int
    end: int
    months: list[tuple[int, int]]  # (first, last) second of each calendar month, clipped
    weights: list[float]

    @classmethod
    def build(cls, rng: random.Random, start: int, end: int) -> Timeline:
        starts = month_starts(start, end)
        months = [
            (max(first, start), min(starts[i + 1] - 1 if i + 1 < len(starts) else end, end))
            for i, first in enumerate(starts)
        ]
        weights: list[float] = []
        for _ in months:
            roll = rng.random()
            if roll < 0.1:
                weights.append(0.0)  # a month with nothing at all
            elif roll < 0.3:
                weights.append(rng.uniform(4.0, 8.0))  # a burst month
            else:
                weights.append(rng.uniform(0.3, 1.5))
        if len(months) >= 8:
            # three silent months in a row always contain a whole 31-day window: a 0-record job
            quiet = rng.randrange(2, len(months) - 4)
            weights[quiet : quiet + 3] = [0.0, 0.0, 0.0]
        if not any(weights):
            weights[0] = 1.0
        return cls(start, end, months, weights)

    def is_busy(self, epoch: int) -> bool:
        """Whether the month holding `epoch` may hold records (quiet months stay empty)."""
        index = bisect.bisect_right([m[0] for m in self.months], epoch) - 1
        return 0 <= index < len(self.months) and self.weights[index] > 0

    def special_instants(self, rng: random.Random, count: int) -> list[int]:
        """Up to `count` instants on the edges: data_start/end, T-1/T/T+1 of windows, midnights."""
        candidates = [self.start, self.end]
        for edge in window_edges(self.start, self.end):
            candidates += [edge - 1, edge, edge + 1]
        busy = [m for m, w in zip(self.months, self.weights, strict=True) if w > 0]
        for _ in range(max(2, count // 40)):
            first, last = rng.choice(busy)
            day = first - first % DAY + DAY * rng.randrange(0, max(1, (last - first) // DAY))
            if first <= day <= last:
                candidates.append(day)  # exactly midnight
        candidates = [c for c in candidates if self.start <= c <= self.end and self.is_busy(c)]
        if len(candidates) > count:
            candidates = rng.sample(candidates, count)
        return candidates

    def draw(self, rng: random.Random, count: int) -> list[int]:
        """`count` sorted epoch seconds following the profile; a quarter at most are edge cases."""
        specials = self.special_instants(rng, count // 4) if count >= 8 else []
        rest = count - len(specials)
        picked = rng.choices(self.months, weights=self.weights, k=rest)
        uniform = rng.random
        stamps = [first + int(uniform() * (last - first + 1)) for first, last in picked]
        stamps += specials
        stamps.sort()
        return stamps
