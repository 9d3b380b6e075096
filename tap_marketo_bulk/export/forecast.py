"""How long the rest of a sync takes in Marketo days of export quota.

Once windows of a stream are exported, the stream estimates the bytes of the windows it has left
(export/estimate.py: rows created per day for updatedAt windows, a REST sample for activities),
else its file bytes per day of windows covered (kept in state across runs) stand for them.
The streams run in sync order through one quota, so a stream ends on the day the bytes of every
stream up to it are exported: today with what is left of today's quota, then `daily_quota_mb` a
day (the quota resets at midnight US Central).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tap_marketo_bulk.export.windows import MARKETO_TIMEZONE_NAME, UTC

MB = 1_000_000


@dataclass(frozen=True)
class StreamLeft:
    """What one stream still has to export."""

    stream: str
    windows: int
    days_covered: float  # days of windows left to export
    rate: float | None  # file bytes per day covered so far; None before its first window
    per_window: float | None = None  # bytes per window this run (requests without dates)
    estimate: float | None = None  # the stream's own estimate (export/estimate.py), if any

    @property
    def bytes(self) -> float | None:
        if self.windows == 0:
            return 0.0
        if self.estimate is not None:
            return self.estimate
        if self.days_covered > 0 and self.rate is not None:
            return self.rate * self.days_covered
        if self.days_covered == 0 and self.per_window is not None:
            return self.per_window * self.windows  # e.g. program_members' full exports
        return None


@dataclass(frozen=True)
class Forecast:
    """Per stream (sync order) and in all: windows, bytes, quota days, end day."""

    streams: list[StreamLeft]
    today: date  # the Marketo day (US Central) now
    remaining_today: int | None  # quota bytes left today; None: no daily_quota_mb
    daily_limit: int | None

    def days_after_today(self, nbytes: float, windows: int = 0) -> int | None:
        """Marketo days after today needed for `nbytes` more in `windows` windows (0: done
        today; with today's quota spent, windows left take at least one more day)."""
        if self.daily_limit is None or self.remaining_today is None:
            return None
        if nbytes <= self.remaining_today:
            return 1 if windows and self.remaining_today <= 0 else 0
        return max(1, math.ceil((nbytes - self.remaining_today) / self.daily_limit))

    def ends(self) -> list[tuple[StreamLeft, float | None, int | None]]:
        """(stream, bytes left, days after today until it ends) in sync order."""
        out: list[tuple[StreamLeft, float | None, int | None]] = []
        total: float | None = 0.0
        windows = 0
        for left in self.streams:
            own = left.bytes
            total = None if total is None or own is None else total + own
            windows += left.windows
            days = None if total is None else self.days_after_today(total, windows)
            out.append((left, own, days))
        return out

    def total(self) -> tuple[int, float | None, int | None]:
        """(windows, bytes, days after today) of every stream together."""
        windows = sum(left.windows for left in self.streams)
        known = [left.bytes for left in self.streams if left.bytes is not None]
        if not known and windows:
            return windows, None, None  # no stream has exported a window yet
        nbytes = sum(known)
        return windows, nbytes, self.days_after_today(nbytes, windows)

    def unknown(self) -> list[str]:
        """Streams with windows left and no size known yet (not counted in the total)."""
        return [left.stream for left in self.streams if left.bytes is None]

    def stream_text(self, left: StreamLeft, own: float | None, days: int | None) -> str:
        return _text(left.windows, own, days, self.today, "once its first window is exported")

    def total_text(self) -> str:
        windows, nbytes, days = self.total()
        text = _text(windows, nbytes, days, self.today, "once a stream exported a window")
        unknown = self.unknown()
        if unknown and nbytes is not None:
            text += f" (not counting {', '.join(unknown)}: no window exported yet)"
        return text


def _text(windows: int, nbytes: float | None, days: int | None, today: date, wait: str) -> str:
    """`12 windows left, ~35.2 MB, 2 more days at daily_quota_mb (ends 2026-12-06)`."""
    if windows == 0:
        return "0 windows left"
    text = f"{windows} window{'s' if windows != 1 else ''} left"
    if nbytes is None:
        return text + ", MB and days " + wait
    text += f", ~{nbytes / MB:.1f} MB"
    if days is None:
        return text
    if days == 0:
        return text + ", ends today"
    return text + (
        f", {days} more day{'s' if days != 1 else ''} at daily_quota_mb "
        f"(ends {(today + timedelta(days=days)).isoformat()})"
    )


def next_quota_day_start(today: date) -> datetime:
    """Midnight US Central after `today` (when Marketo's export quota resets), in UTC."""
    central = ZoneInfo(MARKETO_TIMEZONE_NAME)
    midnight = datetime.combine(today + timedelta(days=1), time(0, 0), tzinfo=central)
    return midnight.astimezone(UTC)


def forecast_of(
    left: Sequence[StreamLeft], today: date, remaining: int | None, limit: int | None
) -> Forecast:
    return Forecast(list(left), today, remaining, limit)
