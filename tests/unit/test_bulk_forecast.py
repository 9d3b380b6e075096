"""BulkForecastMixin: what a bulk stream's windows left weigh, by the model its filter fits."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from tap_marketo_bulk.export.backfill import NEWEST_FIRST
from tap_marketo_bulk.export.windows import Window, format_datetime
from tap_marketo_bulk.streams.bulk_forecast import BulkForecastMixin

UTC = timezone.utc
DAY = 86400
FIRST = datetime(2024, 1, 1, tzinfo=UTC)  # the stream's first second: lifetime 100 days below


def days(start: int, count: int) -> Window:
    begin = FIRST + timedelta(days=start)
    return Window(begin, begin + timedelta(days=count, seconds=-1))


class Stream(BulkForecastMixin):
    backfill_order = NEWEST_FIRST

    def __init__(self, state: dict[str, t.Any], filter_name: str = "updatedAt") -> None:
        self.stream_state = state  # type: ignore[misc]
        self.filter_name = filter_name
        self.engine = SimpleNamespace(first_record_date=FIRST)  # type: ignore[assignment]
        self._created_rows, self._max_ids = {}, {}

    def file_properties(self) -> dict[str, dict]:
        return {"createdAt": {}, "updatedAt": {}}


def state(reached_day: int, bookmark_day: int) -> dict[str, t.Any]:
    """The newest window (days 90..99) exported: 20 rows of 50 bytes, 10 created inside it."""
    return {
        "replication_key_value": format_datetime(FIRST + timedelta(days=bookmark_day, seconds=-1)),
        "backfilled_from": format_datetime(FIRST + timedelta(days=reached_day)),
        "exported": {
            "bytes": 1000,
            "seconds": 10 * DAY,
            "rows": 20,
            "created_rows": 10,
            "created_seconds": 10 * DAY,
        },
    }


def test_a_backfill_left_is_weighed_by_rows_created_per_day() -> None:
    # 1 row created a day over 100 days: 100 rows, 20 exported, 80 left at 50 bytes = 4000;
    # plus one new day (100 bytes a day so far) = 100.
    stream = Stream(state(reached_day=90, bookmark_day=100))
    left = [days(100, 1), days(59, 31), days(28, 31), days(0, 28)]
    # (the lifetime ends one second before day 100)
    assert stream.forecast_bytes(left) == pytest.approx(4000 + 100, abs=0.01)


def test_only_new_windows_left_are_weighed_by_day() -> None:
    stream = Stream(state(reached_day=0, bookmark_day=100))  # the backfill reached the start
    assert stream.forecast_bytes([days(100, 2)]) == 200


def test_created_at_windows_and_first_syncs_go_by_the_plans_bytes_per_day() -> None:
    assert Stream(state(90, 100), filter_name="createdAt").forecast_bytes([days(0, 31)]) is None
    assert Stream({}).forecast_bytes([days(0, 31)]) is None  # nothing exported yet


def test_only_a_first_newest_first_sync_counts_rows_created_in_its_newest_window() -> None:
    window = days(90, 10)
    request = SimpleNamespace(window=window)
    first_sync = Stream({})
    assert first_sync._counts_created(request)  # type: ignore[arg-type]
    assert not Stream(state(90, 100))._counts_created(request)  # type: ignore[arg-type]
    records = [
        {"id": 7, "createdAt": format_datetime(window.start)},  # created inside: counted
        {"id": 9, "createdAt": format_datetime(window.start - timedelta(seconds=1))},
        {"id": 3, "createdAt": None},
    ]
    first_sync.counts_max_id = True
    assert list(first_sync._count_created(iter(records), window.key, window)) == records
    assert first_sync._created_rows == {window.key: 1}
    assert first_sync._max_ids == {window.key: 9}
