"""Date windows for bulk export filters, and the datetime parsing/formatting they rely on.

Marketo's bulk filters take ISO-8601 UTC timestamps without milliseconds, both ends inclusive,
spanning at most 31 days. Windows are therefore planned on whole UTC seconds: each window ends one
second before the next one starts, so consecutive windows neither overlap nor leave a gap.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

UTC = _dt.timezone.utc

# Marketo's daily export quota resets at midnight US Central.
MARKETO_TIMEZONE_NAME = "America/Chicago"

ONE_SECOND = timedelta(seconds=1)
ONE_DAY = timedelta(days=1)

# ISO 8601 calendar date, optionally followed by a time of day and an offset. Written out instead
# of using datetime.fromisoformat because Python 3.10's version rejects "Z" and fractions that are
# not exactly 3 or 6 digits, and 3.11+ accepts forms (week dates, "+01") we do not want to allow.
# "Z+0000" is how Marketo's Asset API writes UTC ("2010-03-27T18:27:45Z+0000").
_ISO_DATETIME = re.compile(
    r"""
    (?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    (?:
        [Tt\ ]
        (?P<hour>\d{2}):(?P<minute>\d{2})
        (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?
        (?P<offset>
            [Zz](?:\+00:?00)?
            | (?P<sign>[+-])(?P<offset_hours>\d{2}):?(?P<offset_minutes>\d{2})
        )?
    )?
    """,
    re.VERBOSE,
)


def parse_datetime(value: str | datetime) -> datetime:
    """Return `value` as an aware UTC datetime.

    Accepts a datetime (naive means UTC) or an ISO 8601 string: a date ("2024-01-05", midnight
    UTC) or a date-time with "Z", "+00:00", another offset, or no offset (UTC), with optional
    fractional seconds (kept to the microsecond). Anything else raises ValueError.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    if not isinstance(value, str):
        raise ValueError(
            f"expected an ISO 8601 date or datetime string, got {type(value).__name__}: {value!r}"
        )
    match = _ISO_DATETIME.fullmatch(value.strip())
    if match is None:
        raise ValueError(
            f"not an ISO 8601 date or datetime: {value!r} "
            '(expected e.g. "2024-01-05" or "2024-01-05T10:00:00Z")'
        )
    try:
        return _datetime_from_match(match)
    except ValueError as exc:  # out-of-range parts: month 13, hour 25, offset 24:00, ...
        raise ValueError(f"invalid date or datetime {value!r}: {exc}") from None


def _datetime_from_match(match: re.Match[str]) -> datetime:
    parts = match.groupdict()
    offset = UTC
    if parts["sign"]:
        offset_delta = timedelta(
            hours=int(parts["offset_hours"]), minutes=int(parts["offset_minutes"])
        )
        offset = _dt.timezone(-offset_delta if parts["sign"] == "-" else offset_delta)
    microsecond = int(parts["fraction"][:6].ljust(6, "0")) if parts["fraction"] else 0
    parsed = datetime(
        int(parts["year"]),
        int(parts["month"]),
        int(parts["day"]),
        int(parts["hour"] or 0),
        int(parts["minute"] or 0),
        int(parts["second"] or 0),
        microsecond,
        tzinfo=offset,
    )
    return parsed.astimezone(UTC)


def format_datetime(dt: datetime) -> str:
    """Format as Marketo's filters want it: "2024-01-31T23:59:59Z" (UTC, sub-seconds truncated)."""
    utc = parse_datetime(dt)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"
    )


def _whole_utc_seconds(dt: datetime) -> datetime:
    # Filters carry no milliseconds, so windows live on whole seconds; truncating (not rounding)
    # keeps an inclusive end from reaching past the instant it was derived from.
    return parse_datetime(dt).replace(microsecond=0)


@dataclass(frozen=True, order=True)
class Window:
    """An inclusive [start, end] range of UTC instants on whole seconds.

    Both ends are normalized on construction: converted to UTC (naive means UTC) and truncated to
    the second. Windows order by start, then end.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        # Frozen dataclass: normalizing in place needs object.__setattr__.
        object.__setattr__(self, "start", _whole_utc_seconds(self.start))
        object.__setattr__(self, "end", _whole_utc_seconds(self.end))
        if self.start > self.end:
            raise ValueError(
                f"window start {format_datetime(self.start)} is after its end "
                f"{format_datetime(self.end)}"
            )

    @property
    def key(self) -> str:
        """Stable identifier, e.g. "2024-01-01T00:00:00Z/2024-01-31T23:59:59Z" (state keys)."""
        return f"{format_datetime(self.start)}/{format_datetime(self.end)}"

    def as_filter(self) -> dict[str, str]:
        """The window as a bulk export date filter: {"startAt": ..., "endAt": ...}."""
        return {"startAt": format_datetime(self.start), "endAt": format_datetime(self.end)}

    @property
    def covered(self) -> timedelta:
        """Time the window covers: both ends are inclusive, so one second more than end - start."""
        return self.end - self.start + ONE_SECOND

    def split(self) -> tuple[Window, Window] | None:
        """Split into two contiguous halves [start, mid] and [mid + 1 s, end].

        Returns None when the window covers one day or less: that is the smallest unit worth
        re-exporting on its own after repeated failures.
        """
        if self.covered <= ONE_DAY:
            return None
        seconds_after_start = int((self.end - self.start).total_seconds())
        mid = self.start + timedelta(seconds=seconds_after_start // 2)
        return Window(self.start, mid), Window(mid + ONE_SECOND, self.end)

    def __str__(self) -> str:
        return self.key


def plan_windows(start: datetime, end: datetime, window_days: int) -> list[Window]:
    """Cover [start, end] (both inclusive) with contiguous windows of `window_days` days.

    The first window is [start, start + window_days days - 1 s]; each next one starts one second
    after the previous end; the last one ends exactly at `end` (and may be shorter). Sub-seconds
    are truncated. Returns [] when start > end, one one-instant window when start == end.
    """
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        raise ValueError(f"window_days must be a whole number of days >= 1, got {window_days!r}")
    first_start = _whole_utc_seconds(start)
    last_end = _whole_utc_seconds(end)
    span = timedelta(days=window_days) - ONE_SECOND
    windows: list[Window] = []
    window_start = first_start
    while window_start <= last_end:
        window_end = min(window_start + span, last_end)
        windows.append(Window(window_start, window_end))
        window_start = window_end + ONE_SECOND
    return windows


@lru_cache(maxsize=1)
def _marketo_timezone() -> ZoneInfo:
    # Loaded lazily so a machine without a tz database fails only where the quota day is needed.
    return ZoneInfo(MARKETO_TIMEZONE_NAME)


def marketo_day(dt: datetime) -> date:
    """The calendar day in US Central (America/Chicago) at instant `dt` (naive means UTC).

    Marketo's daily export quota resets at midnight of this day.
    """
    return parse_datetime(dt).astimezone(_marketo_timezone()).date()
