"""Time conversions of the sandbox. Internally every timestamp is an int of UTC epoch seconds."""

from __future__ import annotations

import datetime as dt
import re
import time
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
MARKETO_TZ = ZoneInfo("America/Chicago")  # Marketo's day (quota reset) is US Central
DAY = 86400

# ISO-8601 as Marketo takes it in filters: date, or date-time with optional offset, no fractions
_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2}))?(\.\d+)?(Z|[+-]\d{2}:?\d{2})?)?$"
)


class TimestampError(ValueError):
    """A filter datetime Marketo would reject; the message is what 1003 says."""


def parse_filter_datetime(value: object) -> int:
    """Parse a bulk filter's startAt/endAt to epoch seconds. Milliseconds are refused (1003)."""
    if not isinstance(value, str):
        raise TimestampError(f"Invalid date time value '{value}'")
    match = _ISO_RE.match(value.strip())
    if not match:
        raise TimestampError(f"Invalid date time value '{value}'")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if fraction:
        raise TimestampError(f"Invalid date time value '{value}', milliseconds are not supported")
    tz = UTC
    if offset and offset != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        moment = dt.datetime(
            int(year), int(month), int(day),
            int(hour or 0), int(minute or 0), int(second or 0), tzinfo=tz,
        )
    except ValueError as exc:
        raise TimestampError(f"Invalid date time value '{value}'") from exc
    return int(moment.timestamp())


def parse_utc(value: str | dt.datetime) -> int:
    """Config/test input (ISO string or aware datetime) to epoch seconds; naive means UTC."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp())
    return parse_filter_datetime(value)


def iso(epoch: int) -> str:
    """Bulk-file and REST datetime: 2024-01-31T23:59:59Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def iso_date(epoch: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def asset_time(epoch: int) -> str:
    """Asset API timestamps carry both Z and an offset: 2010-03-27T18:27:45Z+0000."""
    return iso(epoch) + "+0000"


def marketo_day(epoch: float) -> str:
    """The Marketo (US Central) calendar day of an instant, e.g. for the daily export quota."""
    return dt.datetime.fromtimestamp(epoch, MARKETO_TZ).date().isoformat()


def month_starts(start: int, end: int) -> list[int]:
    """Epochs of the first second of every calendar month touching [start, end]."""
    first = dt.datetime.fromtimestamp(start, UTC).replace(day=1, hour=0, minute=0, second=0)
    starts: list[int] = []
    cursor = first
    while int(cursor.timestamp()) <= end:
        starts.append(int(cursor.timestamp()))
        if cursor.month == 12:
            cursor = cursor.replace(year=cursor.year + 1, month=1)
        else:
            cursor = cursor.replace(month=cursor.month + 1)
    return starts
