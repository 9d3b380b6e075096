"""A first sync that takes several Marketo days: a small daily quota, the sandbox's clock moved a
day between runs (issue 18). Shared by tests/e2e/test_backfill_days.py and
benchmarks/backfill_days.py (which prints the forecast beside the days actually taken).

One year of data, 12 windows of 31 days for each windowed stream (leads, activities, two custom
objects) plus program members' full export; ~1.1 MB of files in all, `daily_quota_mb` 0.2 MiB:
five to six days.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import typing as t
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from unittest import mock

from tap_marketo_bulk import tap as tap_module
from tap_marketo_bulk.export.windows import format_datetime, parse_datetime
from tap_marketo_bulk.tap import TapMarketoBulk
from tests.e2e.harness import catalog_with, tap_config
from tests.unit.tap_runner import TapRun

if t.TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox

SANDBOX: dict[str, t.Any] = {
    "seed": 18,
    "leads": 600,
    "activities": 3000,
    "programs": 2,
    "members_per_program": 5,
    "status_refresh_seconds": 0.02,
    "job_seconds": 0.05,
    "max_calls_per_20s": 100_000,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-12-31T23:59:59Z",
}
DAILY_QUOTA_MB = 0.2
MIB = 1024 * 1024
DAY = 86400.0
MAX_DAYS = 15
WINDOWED = ("leads", "activities", "custom_car_c", "custom_course_c")
STREAMS = (*WINDOWED, "program_members")
# The field each windowed stream's windows filter on, as the records carry it.
WINDOW_FIELD = {
    "leads": "updatedAt",
    "activities": "activityDate",
    "custom_car_c": "updatedAt",
    "custom_course_c": "updatedAt",
}
KEYS: dict[str, Callable[[dict], t.Any]] = {
    "leads": lambda r: r["id"],
    "activities": lambda r: r["marketoGUID"],
    "custom_car_c": lambda r: r["marketoGUID"],
    "custom_course_c": lambda r: r["marketoGUID"],
    "program_members": lambda r: (r["leadId"], r["programId"]),
}
MORE_DAYS = re.compile(r"(\d+) more days? at daily_quota_mb")
QUOTA_STOP = "next run after midnight US Central"


def truth(sb: Sandbox, stream: str) -> list[dict]:
    if stream.startswith("custom_"):
        return sb.truth.custom_objects[stream.removeprefix("custom_")]
    return {
        "leads": sb.truth.leads,
        "activities": sb.truth.activities,
        "program_members": sb.truth.program_members,
    }[stream]


def setup(sb: Sandbox, order: str) -> tuple[dict, dict]:
    config = tap_config(
        sb, poll_interval_seconds=0.05, daily_quota_mb=DAILY_QUOTA_MB, backfill_order=order
    )
    return config, catalog_with(config, only=list(STREAMS))


class LogLines(logging.Handler):
    """The tap's log lines of one run (in-process)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@dataclass
class Day:
    """One run of the tap (one Marketo day)."""

    records: dict[str, list[dict]]
    state: dict
    log: list[str] = field(default_factory=list)

    @property
    def quota_stop(self) -> str | None:
        """The last quota-stop line (when the next run should start, how many more days)."""
        stops = [line for line in self.log if QUOTA_STOP in line]
        return stops[-1] if stops else None

    @property
    def more_days_forecast(self) -> int | None:
        stop = self.quota_stop
        match = MORE_DAYS.search(stop) if stop else None
        return int(match.group(1)) if match else None


def run_day(config: dict, catalog: dict, state: dict | None) -> Day:
    """One in-process run (as tests/unit/tap_runner.run_tap), its log lines kept: the handler
    goes on the tap's logger once the tap exists (building it configures logging)."""
    tap_module._DESCRIBE_CACHE.clear()
    handler = LogLines()
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with mock.patch.object(sys, "stdout", out):
        tap = TapMarketoBulk(config=config, state=state, catalog=catalog)
        level = tap.logger.level
        tap.logger.addHandler(handler)
        tap.logger.setLevel(logging.INFO)  # the plan and forecast lines are INFO
        try:
            tap.sync_all()
        finally:
            tap.logger.removeHandler(handler)
            tap.logger.setLevel(level)
        out.flush()
    raw = out.buffer.getvalue().decode()  # type: ignore[attr-defined]
    run = TapRun([json.loads(line) for line in raw.split("\n") if line], None)
    records = {stream: run.records(stream) for stream in STREAMS}
    return Day(records, run.final_state, handler.lines)


def finished(state: dict, config: dict) -> bool:
    """Every stream exported everything from start_date to end_date (or to its last run)."""
    bookmarks = state.get("bookmarks", {})
    end = format_datetime(parse_datetime(config["end_date"])) if "end_date" in config else None
    for stream in WINDOWED:
        bookmark = bookmarks.get(stream) or {}
        reached = bookmark.get("backfilled_from")
        if not bookmark.get("replication_key_value"):
            return False
        if end is not None and bookmark["replication_key_value"] != end:
            return False
        if reached is not None and parse_datetime(reached) > parse_datetime(config["start_date"]):
            return False
    return bool((bookmarks.get("program_members") or {}).get("replication_key_value"))


def run_until_finished(
    sb: Sandbox, config: dict, catalog: dict, days: list[Day] | None = None
) -> list[Day]:
    """Run once a Marketo day (the sandbox's clock moves a day between runs) until done."""
    days = list(days or [])
    state = days[-1].state if days else None
    while state is None or not finished(state, config):
        if days:
            sb.advance_clock(DAY)
        assert len(days) < MAX_DAYS, "the backfill does not end"
        days.append(run_day(config, catalog, state))
        state = days[-1].state
    return days


def recent(records: list[dict], stream: str, config: dict) -> dict[t.Any, dict]:
    """Records of the newest 31-day window (what dashboards need first), by key."""
    until = parse_datetime(config["end_date"])
    since = until - timedelta(days=31) + timedelta(seconds=1)
    key, name = KEYS[stream], WINDOW_FIELD[stream]
    return {
        key(r): r for r in records if r.get(name) and since <= parse_datetime(r[name]) <= until
    }


def day_quota_bytes(day: Day) -> int:
    """Export bytes the tap counted on that run's Marketo day (its state's last `quota`)."""
    quotas = [b.get("quota") or {} for b in day.state.get("bookmarks", {}).values()]
    return max((int(q.get("bytes", 0)) for q in quotas if isinstance(q, dict)), default=0)


def completed_jobs(sb: Sandbox) -> int:
    return sum(1 for j in sb.client_stats()["jobs"] if j["status"] == "Completed")
