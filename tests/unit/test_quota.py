"""QuotaTracker: bytes per Marketo day (US Central), state round trip, 1029 quota marking."""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone

from tap_marketo_bulk.export.quota import QuotaTracker, current_marketo_day

MB = 1_000_000


class Today:
    def __init__(self, day: date) -> None:
        self.day = day

    def __call__(self) -> date:
        return self.day


def test_counts_bytes_until_the_limit():
    today = Today(date(2026, 11, 22))
    quota = QuotaTracker(500 * MB, today=today)
    quota.add(200 * MB)
    assert quota.remaining == 300 * MB and not quota.exhausted
    quota.add(300 * MB)
    assert quota.remaining == 0 and quota.exhausted
    assert "limit 476.8 MiB" in (quota.exhausted_message or "")  # 500e6 bytes
    assert "daily_quota_mb" in (quota.exhausted_message or "")
    assert quota.to_state() == {"day": "2026-11-22", "bytes": 500 * MB}


def test_a_new_marketo_day_starts_from_zero():
    today = Today(date(2026, 11, 22))
    quota = QuotaTracker(100, day_bytes=100, day=date(2026, 11, 22), today=today)
    quota.mark_exhausted("Export daily quota 500MB exceeded.")
    assert quota.exhausted
    today.day = date(2026, 11, 23)
    assert not quota.exhausted
    assert quota.to_state() == {"day": "2026-11-23", "bytes": 0}


def test_from_state_ignores_a_previous_day():
    today = Today(date(2026, 11, 22))
    assert QuotaTracker.from_state({"day": "2026-11-22", "bytes": 42}, 100,
                                   today=today).day_bytes == 42
    assert QuotaTracker.from_state({"day": "2026-11-21", "bytes": 42}, 100,
                                   today=today).day_bytes == 0
    assert QuotaTracker.from_state({}, 100, today=today).day_bytes == 0
    assert QuotaTracker.from_state({"day": "garbage"}, None, today=today).remaining is None


def test_mark_exhausted_without_a_limit():
    quota = QuotaTracker(None, today=Today(date(2026, 1, 1)))
    assert not quota.exhausted and quota.remaining is None
    quota.mark_exhausted("Marketo: Export daily quota 500MB exceeded.")
    assert quota.exhausted_message == "Marketo: Export daily quota 500MB exceeded."


def test_add_is_thread_safe():
    quota = QuotaTracker(None, today=Today(date(2026, 1, 1)))

    def add_many() -> None:
        for _ in range(10_000):
            quota.add(1)

    threads = [threading.Thread(target=add_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert quota.day_bytes == 40_000


def test_current_marketo_day_is_us_central():
    # 03:00 UTC on Nov 23 is still Nov 22 in Chicago (UTC-6 in November).
    from tap_marketo_bulk.export.windows import marketo_day

    assert marketo_day(datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)) == date(2026, 11, 22)
    assert isinstance(current_marketo_day(), date)
