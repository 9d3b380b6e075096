"""State `exported` (record_window) and the forecast's byte models read from it (Exported)."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tap_marketo_bulk.export.estimate import EXPORTED, Exported, record_window
from tap_marketo_bulk.export.windows import Window

UTC = timezone.utc
DAY = 86400


def days_window(start_day: int, days: int) -> Window:
    """`days` whole days from 2024-01-`start_day` (inclusive ends: covers days * 86400 s)."""
    start = datetime(2024, 1, start_day, tzinfo=UTC)
    return Window(start, start + timedelta(days=days, seconds=-1))


# ----- record_window -----------------------------------------------------------------------------


def test_record_window_starts_the_key_and_adds_up_bytes_seconds_and_rows() -> None:
    state: dict[str, t.Any] = {}
    record_window(state, days_window(21, 10), nbytes=1000, rows=10)
    assert state[EXPORTED] == {"bytes": 1000, "seconds": 10 * DAY, "rows": 10}
    record_window(state, days_window(16, 5), nbytes=500, rows=7)
    record_window(state, days_window(15, 1), nbytes=25, rows=1)
    assert state[EXPORTED] == {"bytes": 1525, "seconds": 16 * DAY, "rows": 18}


def test_record_window_counts_the_inclusive_end_second() -> None:
    state: dict[str, t.Any] = {}
    start = datetime(2024, 3, 1, tzinfo=UTC)
    record_window(state, Window(start, start + timedelta(seconds=59)), nbytes=1, rows=1)
    record_window(state, Window(start, start), nbytes=1, rows=1)  # one instant: one second
    assert state[EXPORTED]["seconds"] == 61


def test_record_window_ignores_negative_bytes_and_rows() -> None:
    state: dict[str, t.Any] = {}
    record_window(state, days_window(1, 1), nbytes=300, rows=3)
    record_window(state, days_window(2, 1), nbytes=-50, rows=-2)
    assert state[EXPORTED] == {"bytes": 300, "seconds": 2 * DAY, "rows": 3}


def test_record_window_writes_whole_numbers_only() -> None:
    # A loader hands state numbers back as Decimal; record_window must write plain ints again.
    state: dict[str, t.Any] = {
        EXPORTED: {"bytes": Decimal("100"), "seconds": Decimal("86400"), "rows": Decimal("4")}
    }
    record_window(
        state,
        days_window(2, 1),
        nbytes=Decimal("50"),
        rows=2.0,  # type: ignore[arg-type]
        created_in_window=3.0,
        max_id=Decimal("77"),  # type: ignore[arg-type]
    )
    exported = state[EXPORTED]
    assert exported == {
        "bytes": 150,
        "seconds": 2 * DAY,
        "rows": 6,
        "created_rows": 3,
        "created_seconds": DAY,
        "max_id": 77,
    }
    assert all(type(value) is int for value in exported.values()), exported


def test_record_window_replaces_an_exported_value_that_is_not_an_object() -> None:
    state: dict[str, t.Any] = {EXPORTED: None}
    record_window(state, days_window(1, 2), nbytes=40, rows=4)
    assert state[EXPORTED] == {"bytes": 40, "seconds": 2 * DAY, "rows": 4}


def test_record_window_starts_again_from_old_state_without_rows() -> None:
    # Bytes of an earlier version's windows have no rows: kept, they would make bytes per row
    # 1000 here instead of 100.
    state: dict[str, t.Any] = {EXPORTED: {"bytes": 9000, "seconds": 3 * DAY}}
    record_window(state, days_window(10, 1), nbytes=1000, rows=10)
    assert state[EXPORTED] == {"bytes": 1000, "seconds": 1 * DAY, "rows": 10}
    assert Exported.from_state(state).bytes_per_row == 100


def test_created_rows_and_max_id_come_from_the_first_window_that_gives_them() -> None:
    state: dict[str, t.Any] = {}
    newest, older, oldest = days_window(21, 10), days_window(11, 10), days_window(1, 10)
    record_window(state, newest, nbytes=100, rows=10, created_in_window=4, max_id=900)
    record_window(state, older, nbytes=100, rows=10, created_in_window=50, max_id=2000)
    record_window(state, oldest, nbytes=100, rows=10, created_in_window=None, max_id=None)
    exported = state[EXPORTED]
    assert exported["created_rows"] == 4
    assert exported["created_seconds"] == 10 * DAY
    assert exported["max_id"] == 900
    assert exported["rows"] == 30 and exported["seconds"] == 30 * DAY


def test_created_rows_and_max_id_are_kept_independently_and_late() -> None:
    state: dict[str, t.Any] = {}
    record_window(state, days_window(1, 1), nbytes=10, rows=1)  # neither given
    assert "created_rows" not in state[EXPORTED] and "max_id" not in state[EXPORTED]
    record_window(state, days_window(2, 3), nbytes=10, rows=1, max_id=55)
    assert "created_rows" not in state[EXPORTED]
    record_window(state, days_window(5, 2), nbytes=10, rows=1, created_in_window=6, max_id=99)
    exported = state[EXPORTED]
    assert exported["max_id"] == 55
    assert exported["created_rows"] == 6
    assert exported["created_seconds"] == 2 * DAY  # the seconds of the window that gave it


def test_a_zero_created_count_is_kept_too() -> None:
    state: dict[str, t.Any] = {}
    record_window(state, days_window(21, 10), nbytes=100, rows=10, created_in_window=0)
    record_window(state, days_window(11, 10), nbytes=100, rows=10, created_in_window=8)
    assert state[EXPORTED]["created_rows"] == 0
    assert state[EXPORTED]["created_seconds"] == 10 * DAY


def test_created_rows_already_in_state_survive_a_later_run() -> None:
    state: dict[str, t.Any] = {
        EXPORTED: {
            "bytes": 1,
            "seconds": 1,
            "rows": 1,
            "created_rows": 12,
            "created_seconds": 3600,
            "max_id": 500,
        }
    }
    record_window(state, days_window(1, 1), nbytes=1, rows=1, created_in_window=99, max_id=999)
    exported = state[EXPORTED]
    assert (exported["created_rows"], exported["created_seconds"], exported["max_id"]) == (
        12,
        3600,
        500,
    )


# ----- Exported.from_state -----------------------------------------------------------------------


def test_from_state_without_exported_has_nothing_to_go_by() -> None:
    for state in ({}, {EXPORTED: None}, {EXPORTED: [1, 2]}):
        exported = Exported.from_state(state)
        assert exported == Exported()
        assert exported.rows == 0 and exported.bytes == 0
        assert exported.bytes_per_row is None
        assert exported.bytes_by_day(10) is None
        assert exported.bytes_by_creation(100 * DAY) is None
        assert exported.bytes_by_live_ids(0.9) is None
        assert exported.bytes_of_rows(100) is None


def test_from_state_of_old_state_with_only_bytes_and_seconds() -> None:
    exported = Exported.from_state({EXPORTED: {"bytes": 5000, "seconds": 5 * DAY}})
    assert (exported.bytes, exported.seconds, exported.rows) == (5000, 5 * DAY, 0)
    assert exported.created_rows is None and exported.max_id is None
    assert exported.bytes_per_row is None
    assert exported.bytes_by_creation(100 * DAY) is None
    assert exported.bytes_by_live_ids(0.9) is None
    assert exported.bytes_of_rows(10) is None
    assert exported.bytes_by_day(10) == pytest.approx(10_000)  # 1000 bytes a day


def test_from_state_reads_what_record_window_wrote() -> None:
    state: dict[str, t.Any] = {}
    record_window(
        state, days_window(21, 10), nbytes=2000, rows=40, created_in_window=10, max_id=1234
    )
    exported = Exported.from_state(state)
    assert exported == Exported(
        bytes=2000,
        seconds=10 * DAY,
        rows=40,
        created_rows=10,
        created_seconds=10 * DAY,
        max_id=1234,
    )
    assert exported.days == pytest.approx(10.0)


def test_from_state_turns_decimals_into_ints() -> None:
    state = {
        EXPORTED: {
            "bytes": Decimal("60"),
            "seconds": Decimal("86400"),
            "rows": Decimal("3"),
            "created_rows": Decimal("2"),
            "created_seconds": Decimal("600"),
            "max_id": Decimal("70"),
        }
    }
    exported = Exported.from_state(state)
    assert exported == Exported(60, 86400, 3, 2, 600, 70)
    assert all(
        type(v) is int
        for v in (
            exported.bytes,
            exported.seconds,
            exported.rows,
            exported.created_rows,
            exported.created_seconds,
            exported.max_id,
        )
    )


# ----- the models --------------------------------------------------------------------------------


def test_bytes_per_row() -> None:
    assert Exported(bytes=6000, seconds=DAY, rows=300).bytes_per_row == pytest.approx(20.0)
    assert Exported(bytes=6000, seconds=DAY, rows=0).bytes_per_row is None


def test_bytes_by_day_is_bytes_per_day_so_far_times_days_left() -> None:
    exported = Exported(bytes=7000, seconds=7 * DAY, rows=70)
    assert exported.bytes_by_day(3.5) == pytest.approx(3500)
    assert exported.bytes_by_day(0) == 0
    half_day = Exported(bytes=500, seconds=DAY // 2)
    assert half_day.bytes_by_day(2) == pytest.approx(2000)
    assert Exported(bytes=7000, seconds=0).bytes_by_day(3) is None


def test_bytes_by_creation_worked_example() -> None:
    # 10 rows created in the 10-day newest window: 1 a day; 100 days of lifetime: 100 rows.
    # 40 exported at 2000 / 40 = 50 bytes a row: (100 - 40) * 50 = 3000 bytes left.
    state: dict[str, t.Any] = {}
    record_window(state, days_window(21, 10), nbytes=2000, rows=40, created_in_window=10)
    exported = Exported.from_state(state)
    assert exported.bytes_by_creation(100 * DAY) == pytest.approx(3000)
    # twice the lifetime: 200 rows, 160 left
    assert exported.bytes_by_creation(200 * DAY) == pytest.approx(8000)


def test_bytes_by_creation_uses_the_newest_window_rate_not_all_seconds() -> None:
    # 5 rows created in 1 day (the newest window); 30 days exported in all.
    exported = Exported(bytes=1000, seconds=30 * DAY, rows=100, created_rows=5, created_seconds=DAY)
    # 5 a day x 60 days = 300 rows, minus 100 exported, at 10 bytes a row
    assert exported.bytes_by_creation(60 * DAY) == pytest.approx(2000)


def test_bytes_by_creation_is_zero_when_more_rows_were_exported_than_created() -> None:
    exported = Exported(
        bytes=1500, seconds=10 * DAY, rows=150, created_rows=10, created_seconds=10 * DAY
    )
    assert exported.bytes_by_creation(100 * DAY) == 0.0
    assert exported.bytes_by_creation(-5 * DAY) == 0.0  # a negative lifetime counts as none


def test_bytes_by_creation_none_without_a_rate_or_a_row_size() -> None:
    base = {"bytes": 2000, "seconds": 10 * DAY, "rows": 40, "created_seconds": 10 * DAY}
    assert Exported(**base, created_rows=0).bytes_by_creation(100 * DAY) is None
    assert Exported(**base, created_rows=None).bytes_by_creation(100 * DAY) is None
    no_seconds = {**base, "created_seconds": 0}
    assert Exported(**no_seconds, created_rows=10).bytes_by_creation(100 * DAY) is None
    no_rows = {**base, "rows": 0}
    assert Exported(**no_rows, created_rows=10).bytes_by_creation(100 * DAY) is None


def test_bytes_by_live_ids_worked_example() -> None:
    # highest id 1000, 80 % live: 800 leads; 300 exported at 6000 / 300 = 20 bytes a row:
    # (800 - 300) * 20 = 10000 bytes left.
    state: dict[str, t.Any] = {}
    record_window(state, days_window(21, 10), nbytes=6000, rows=300, max_id=1000)
    exported = Exported.from_state(state)
    assert exported.bytes_by_live_ids(0.8) == pytest.approx(10_000)
    assert exported.bytes_by_live_ids(1.0) == pytest.approx(14_000)


def test_bytes_by_live_ids_is_zero_when_more_rows_were_exported_than_estimated() -> None:
    exported = Exported(bytes=18_000, seconds=DAY, rows=900, max_id=1000)
    assert exported.bytes_by_live_ids(0.5) == 0.0  # 500 estimated, 900 exported
    assert exported.bytes_by_live_ids(0.9) == 0.0  # exactly as many


def test_bytes_by_live_ids_none_without_max_id_or_row_size() -> None:
    assert Exported(bytes=100, seconds=DAY, rows=10, max_id=None).bytes_by_live_ids(1.0) is None
    assert Exported(bytes=100, seconds=DAY, rows=10, max_id=0).bytes_by_live_ids(1.0) is None
    assert Exported(bytes=100, seconds=DAY, rows=0, max_id=500).bytes_by_live_ids(1.0) is None


def test_bytes_of_rows_weighs_rows_at_bytes_per_row() -> None:
    exported = Exported(bytes=6000, seconds=DAY, rows=300)
    assert exported.bytes_of_rows(12.5) == pytest.approx(250)
    assert exported.bytes_of_rows(0) == 0
    assert Exported(bytes=6000, seconds=DAY).bytes_of_rows(12.5) is None


def test_rows_of_windows_new_since_the_last_run_are_not_subtracted_again() -> None:
    # Newest window: 10 rows, 10 created in its 10 days; lifetime 100 days -> 100 rows in all.
    # A later run's new window brings 30 rows, many of them rows exported before and updated
    # since: the models subtract only the 10 + 20 backfilled rows, not those 30.
    state: dict[str, t.Any] = {}
    record_window(state, days_window(20, 10), nbytes=500, rows=10, created_in_window=10, max_id=100)
    record_window(state, days_window(30, 1), nbytes=1500, rows=30, new=True)
    record_window(state, days_window(10, 10), nbytes=1000, rows=20)
    exported = Exported.from_state(state)
    assert (exported.rows, exported.new_rows, exported.backfilled_rows) == (60, 30, 30)
    assert exported.bytes_per_row == 50
    assert exported.bytes_by_creation(100 * DAY) == (100 - 30) * 50
    assert exported.bytes_by_live_ids(0.5) == (50 - 30) * 50
