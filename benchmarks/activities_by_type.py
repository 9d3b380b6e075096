"""Export jobs and API calls with activities_by_type, beside `activities` alone (issue 19).

The per-type streams come from the same export jobs as `activities`: this counts, on the sandbox,
the jobs and calls of one sync of a year of activities (twelve 31-day windows) for each selection:

- `activities` alone (activities_by_type off: the tap as before);
- `activities` and every per-type stream;
- every per-type stream, without `activities`;
- two per-type streams (their jobs ask for those two activityTypeIds only).

It also times the emit of one large window both ways (in-process, stdout to memory), to show
what routing each row to its typed table costs. Wall times count the sandbox too and compress
Marketo's once-a-minute status refresh: only the ratio means something.

    python -m benchmarks.activities_by_type [activities_for_timing]
"""

from __future__ import annotations

import io
import logging
import sys
import time
import typing as t
from unittest import mock

from tap_marketo_bulk import tap as tap_module
from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig
from tests.e2e.harness import catalog_with, run_tap, tap_config

TWO_TYPES = ("activities_fill_out_form", "activities_send_email")


def _per_type(config: dict) -> list[str]:
    catalog = catalog_with(config)
    return sorted(
        e["tap_stream_id"]
        for e in catalog["streams"]
        if e["tap_stream_id"].startswith("activities_")
    )


def _one_sync(sb: Sandbox, config: dict, streams: list[str]) -> dict[str, t.Any]:
    catalog = catalog_with(config, only=streams)
    before = sb.client_stats()
    jobs_before, calls_before = len(before["jobs"]), before["api_calls"]
    started = time.perf_counter()
    result = run_tap(config, catalog=catalog)
    seconds = time.perf_counter() - started
    if result.error is not None:
        raise SystemExit(f"{streams}: {result.error}")
    after = sb.client_stats()
    jobs = after["jobs"][jobs_before:]
    type_ids = {tuple(sorted(j["filter"].get("activityTypeIds") or [])) for j in jobs}
    records = sum(1 for m in result.messages if m["type"] == "RECORD")
    return {
        "jobs": len(jobs),
        "api_calls": after["api_calls"] - calls_before,
        "records": records,
        "type_ids_per_job": sorted(len(ids) for ids in type_ids),
        "wall_s": round(seconds, 2),
    }


def jobs_per_selection() -> list[dict[str, t.Any]]:
    config = SandboxConfig(
        seed=19,
        leads=2_000,
        activities=20_000,
        programs=2,
        members_per_program=5,
        data_start="2024-01-01T00:00:00Z",
        data_end="2024-12-31T23:59:59Z",
        status_refresh_seconds=0.02,
        max_calls_per_20s=100_000,
    )
    rows = []
    with Sandbox(config) as sb:
        plain = tap_config(sb, max_calls_per_20s=100)
        by_type = tap_config(sb, activities_by_type=True, max_calls_per_20s=100)
        every_type = _per_type(by_type)
        selections = (
            ("activities alone (setting off)", plain, ["activities"]),
            (
                f"activities + {len(every_type)} per-type streams",
                by_type,
                ["activities", *every_type],
            ),
            (f"{len(every_type)} per-type streams only", by_type, every_type),
            ("2 per-type streams only", by_type, list(TWO_TYPES)),
        )
        for label, tap, streams in selections:
            rows.append({"selection": label, **_one_sync(sb, tap, streams)})
    return rows


def emit_timing(activities: int) -> list[dict[str, t.Any]]:
    """One window of `activities` rows: the tap's wall time without and with per-type routing."""
    config = SandboxConfig(
        seed=7,
        leads=max(activities // 10, 100),
        activities=activities,
        programs=1,
        members_per_program=1,
        data_start="2024-01-01T00:00:00Z",
        data_end="2024-01-31T23:59:59Z",
        status_refresh_seconds=0.01,
        max_calls_per_20s=100_000,
    )
    rows = []
    with Sandbox(config) as sb:
        plain = tap_config(sb)
        by_type = tap_config(sb, activities_by_type=True)
        every_type = _per_type(by_type)
        for label, tap, streams in (
            ("activities alone", plain, ["activities"]),
            ("activities + every per-type stream", by_type, ["activities", *every_type]),
            ("every per-type stream only", by_type, every_type),
        ):
            records, seconds = _timed_sync(tap, catalog_with(tap, only=streams))
            rows.append(
                {
                    "selection": label,
                    "records": records,
                    "wall_s": round(seconds, 2),
                    "records_per_s": round(records / seconds),
                }
            )
    return rows


def _timed_sync(config: dict, catalog: dict) -> tuple[int, float]:
    """One in-process sync, stdout kept as bytes (not parsed): RECORD messages and seconds."""
    tap_module._DESCRIBE_CACHE.clear()
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with mock.patch.object(sys, "stdout", out):
        started = time.perf_counter()
        tap_module.TapMarketoBulk(config=config, catalog=catalog).sync_all()
        seconds = time.perf_counter() - started
        out.flush()
    raw = out.buffer.getvalue()  # type: ignore[attr-defined]
    return raw.count(b'{"type":"RECORD"'), seconds


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    timing_rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print("Jobs per sync of one year (12 windows of 31 days), 20,000 activities:")
    for row in jobs_per_selection():
        print(" ", row)
    print(f"Emit of one window of {timing_rows:,} activities (in-process):")
    for row in emit_timing(timing_rows):
        print(" ", row)
