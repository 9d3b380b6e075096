"""windows.py: datetime parsing/formatting, Window, plan_windows and the Marketo quota day."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone

import pytest

from tap_marketo_bulk.export.windows import (
    UTC,
    Window,
    format_datetime,
    marketo_day,
    parse_datetime,
    plan_windows,
)

SECOND = timedelta(seconds=1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# ----- parse_datetime / format_datetime ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-05", utc(2024, 1, 5)),
        ("2024-01-05T10:11:12Z", utc(2024, 1, 5, 10, 11, 12)),
        ("2024-01-05T10:11:12z", utc(2024, 1, 5, 10, 11, 12)),
        ("2024-01-05T10:11:12+00:00", utc(2024, 1, 5, 10, 11, 12)),
        ("2024-01-05T10:11:12-06:00", utc(2024, 1, 5, 16, 11, 12)),
        ("2024-01-05T01:11:12+0530", utc(2024, 1, 4, 19, 41, 12)),
        ("2024-01-05T10:11:12", utc(2024, 1, 5, 10, 11, 12)),  # naive means UTC
        ("2024-01-05 10:11:12Z", utc(2024, 1, 5, 10, 11, 12)),
        ("2024-01-05T10:11Z", utc(2024, 1, 5, 10, 11)),
        ("2024-01-05T10:11:12.5Z", utc(2024, 1, 5, 10, 11, 12, 500000)),
        ("2024-01-05T10:11:12.123Z", utc(2024, 1, 5, 10, 11, 12, 123000)),
        ("2024-01-05T10:11:12.123456789Z", utc(2024, 1, 5, 10, 11, 12, 123456)),
        ("2010-03-27T18:27:45Z+0000", utc(2010, 3, 27, 18, 27, 45)),  # Asset API style
    ],
)
def test_parse_datetime_accepts_iso_dates_and_datetimes(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "",
        "2024-13-01",
        "2024-02-30",
        "2024-01-05T25:00:00Z",
        "2024-01-05T10:11:12+24:00",
        "2024/01/05",
        "05-01-2024",
        "2024-01-05T10:11:12ZZ",
        "1704448272",
    ],
)
def test_parse_datetime_rejects_anything_else_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match="date"):
        parse_datetime(text)


def test_parse_datetime_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="int"):
        parse_datetime(1704448272)  # type: ignore[arg-type]


def test_parse_datetime_takes_datetimes_naive_as_utc_and_converts_aware_ones() -> None:
    assert parse_datetime(datetime(2024, 1, 5, 10)) == utc(2024, 1, 5, 10)
    chicago_winter = timezone(timedelta(hours=-6))
    converted = parse_datetime(datetime(2024, 1, 5, 10, tzinfo=chicago_winter))
    assert converted == utc(2024, 1, 5, 16)
    assert converted.tzinfo is UTC


def test_format_datetime_is_utc_whole_seconds_with_z() -> None:
    assert format_datetime(utc(2024, 1, 31, 23, 59, 59)) == "2024-01-31T23:59:59Z"
    assert format_datetime(utc(2024, 1, 31, 23, 59, 59, 999999)) == "2024-01-31T23:59:59Z"
    assert format_datetime(datetime(2024, 1, 5, 1, 2, 3)) == "2024-01-05T01:02:03Z"
    offset = timezone(timedelta(hours=2))
    assert format_datetime(datetime(2024, 1, 1, 1, 0, 0, tzinfo=offset)) == "2023-12-31T23:00:00Z"


@pytest.mark.parametrize(
    "text", ["2024-01-31T23:59:59Z", "2000-02-29T00:00:00Z", "0999-01-01T00:00:00Z"]
)
def test_format_and_parse_round_trip(text: str) -> None:
    assert format_datetime(parse_datetime(text)) == text
    moment = utc(2024, 3, 10, 8, 30, 1)
    assert parse_datetime(format_datetime(moment)) == moment


# ----- Window -------------------------------------------------------------------------------------


def test_window_key_filter_and_order() -> None:
    window = Window(utc(2024, 1, 1), utc(2024, 1, 31, 23, 59, 59))
    assert window.key == "2024-01-01T00:00:00Z/2024-01-31T23:59:59Z"
    assert str(window) == window.key
    assert window.as_filter() == {
        "startAt": "2024-01-01T00:00:00Z",
        "endAt": "2024-01-31T23:59:59Z",
    }
    later = Window(utc(2024, 2, 1), utc(2024, 2, 2))
    assert sorted([later, window]) == [window, later]
    assert Window(utc(2024, 1, 1), utc(2024, 1, 2)) == Window(datetime(2024, 1, 1), utc(2024, 1, 2))


def test_window_is_frozen_and_normalized_to_utc_whole_seconds() -> None:
    offset = timezone(timedelta(hours=-5))
    window = Window(datetime(2024, 1, 1, 0, 0, 0, 750000, tzinfo=offset), datetime(2024, 1, 2))
    assert window.start == utc(2024, 1, 1, 5)
    assert window.start.tzinfo is UTC and window.end.tzinfo is UTC
    with pytest.raises(AttributeError):
        window.start = utc(2024, 1, 1)  # type: ignore[misc]
    assert {window: 1}[Window(utc(2024, 1, 1, 5), utc(2024, 1, 2))] == 1


def test_window_rejects_start_after_end() -> None:
    with pytest.raises(ValueError, match="after its end"):
        Window(utc(2024, 1, 2), utc(2024, 1, 1))


def test_split_gives_contiguous_halves_on_whole_seconds() -> None:
    window = Window(utc(2024, 1, 1), utc(2024, 1, 31, 23, 59, 59))
    halves = window.split()
    assert halves is not None
    first, second = halves
    assert first.start == window.start and second.end == window.end
    assert second.start == first.end + SECOND
    assert first.end == utc(2024, 1, 16, 11, 59, 59)  # 31 days in two 15.5-day halves
    assert first.covered == second.covered == timedelta(days=15, hours=12)
    assert first.end.microsecond == 0


def test_split_of_an_odd_number_of_seconds_stays_contiguous() -> None:
    window = Window(utc(2024, 1, 1), utc(2024, 1, 2, 0, 0, 1))  # 1 day + 2 s covered
    first, second = window.split()  # type: ignore[misc]
    assert first.covered + second.covered == window.covered
    assert second.start == first.end + SECOND


@pytest.mark.parametrize(
    "window",
    [
        Window(utc(2024, 1, 1), utc(2024, 1, 1, 23, 59, 59)),  # exactly one day
        Window(utc(2024, 1, 1, 12), utc(2024, 1, 2, 11, 59, 59)),
        Window(utc(2024, 1, 1), utc(2024, 1, 1)),
    ],
)
def test_split_refuses_windows_of_one_day_or_less(window: Window) -> None:
    assert window.split() is None


def test_split_of_just_over_one_day() -> None:
    window = Window(utc(2024, 1, 1), utc(2024, 1, 2))  # one day and one second
    assert window.split() is not None


# ----- plan_windows -------------------------------------------------------------------------------


def assert_contiguous(windows: list[Window], start: datetime, end: datetime) -> None:
    assert windows[0].start == start
    assert windows[-1].end == end
    for previous, following in itertools.pairwise(windows):
        assert following.start == previous.end + SECOND  # no gap, no overlap
    for window in windows:
        assert window.start <= window.end


def test_plan_windows_uses_31_days_minus_one_second_and_ends_at_end() -> None:
    start, end = utc(2024, 1, 1), utc(2024, 3, 3, 23, 59, 59)
    windows = plan_windows(start, end, 31)
    assert [w.key for w in windows] == [
        "2024-01-01T00:00:00Z/2024-01-31T23:59:59Z",
        "2024-02-01T00:00:00Z/2024-03-02T23:59:59Z",
        "2024-03-03T00:00:00Z/2024-03-03T23:59:59Z",
    ]
    for window in windows[:-1]:
        assert window.end - window.start == timedelta(days=31) - SECOND
    assert_contiguous(windows, start, end)


def test_plan_windows_over_years_is_contiguous_and_never_exceeds_31_days() -> None:
    start, end = utc(2019, 3, 7, 13, 14, 15), utc(2024, 11, 5, 2, 3, 4)
    windows = plan_windows(start, end, 31)
    assert_contiguous(windows, start, end)
    assert all(w.covered <= timedelta(days=31) for w in windows)
    assert len(windows) == -(-((end - start + SECOND) // SECOND) // (31 * 86400))


def test_plan_windows_ignores_daylight_saving_because_it_works_in_utc() -> None:
    # US DST starts 2024-03-10 and ends 2024-11-03: windows still last exactly whole days.
    start = parse_datetime("2024-03-01T00:00:00-06:00")
    end = parse_datetime("2024-11-30T23:59:59-06:00")
    windows = plan_windows(start, end, 7)
    assert_contiguous(windows, start, end)
    assert all(w.covered == timedelta(days=7) for w in windows[:-1])
    assert all(w.start.hour == 6 for w in windows)


def test_plan_windows_truncates_sub_seconds() -> None:
    windows = plan_windows(utc(2024, 1, 1, 0, 0, 0, 900000), utc(2024, 1, 2, 0, 0, 0, 900000), 31)
    assert windows == [Window(utc(2024, 1, 1), utc(2024, 1, 2))]
    assert windows[0].start.microsecond == 0 and windows[0].end.microsecond == 0


def test_plan_windows_edge_cases() -> None:
    assert plan_windows(utc(2024, 1, 2), utc(2024, 1, 1), 31) == []
    assert plan_windows(utc(2024, 1, 1), utc(2024, 1, 1), 31) == [
        Window(utc(2024, 1, 1), utc(2024, 1, 1))
    ]
    exact = plan_windows(utc(2024, 1, 1), utc(2024, 1, 31, 23, 59, 59), 31)
    assert len(exact) == 1
    one_more = plan_windows(utc(2024, 1, 1), utc(2024, 2, 1), 31)
    assert [w.key for w in one_more] == [
        "2024-01-01T00:00:00Z/2024-01-31T23:59:59Z",
        "2024-02-01T00:00:00Z/2024-02-01T00:00:00Z",
    ]
    daily = plan_windows(utc(2024, 1, 1), utc(2024, 1, 3, 12), 1)
    assert [w.key for w in daily] == [
        "2024-01-01T00:00:00Z/2024-01-01T23:59:59Z",
        "2024-01-02T00:00:00Z/2024-01-02T23:59:59Z",
        "2024-01-03T00:00:00Z/2024-01-03T12:00:00Z",
    ]


@pytest.mark.parametrize("window_days", [0, -1, 1.5, True])
def test_plan_windows_rejects_bad_window_days(window_days: object) -> None:
    with pytest.raises(ValueError, match="window_days"):
        plan_windows(utc(2024, 1, 1), utc(2024, 2, 1), window_days)  # type: ignore[arg-type]


# ----- marketo_day --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (utc(2024, 1, 5, 5, 59, 59), date(2024, 1, 4)),  # CST: UTC-6
        (utc(2024, 1, 5, 6, 0, 0), date(2024, 1, 5)),
        (utc(2024, 7, 5, 4, 59, 59), date(2024, 7, 4)),  # CDT: UTC-5
        (utc(2024, 7, 5, 5, 0, 0), date(2024, 7, 5)),
        (datetime(2024, 7, 5, 5, 0, 0), date(2024, 7, 5)),  # naive means UTC
    ],
)
def test_marketo_day_is_the_us_central_calendar_day(moment: datetime, day: date) -> None:
    assert marketo_day(moment) == day
