#!/usr/bin/env python3
"""A first sync under a small daily quota: the forecast against the days it actually took.

    .venv/bin/python benchmarks/backfill_days.py             # ~10 s
    .venv/bin/python benchmarks/backfill_days.py --seeds 10  # and 10 other data sets, ~1 min

The scenario of tests/e2e/test_backfill_days.py (tests/e2e/backfill_scenario.py): one year of
sandbox data, leads, activities, two custom objects and program members, `daily_quota_mb` 0.2
MiB, the sandbox's clock moved a day between runs. Printed per order: per day the records
exported, the MiB the quota counted and the forecast of that day's last line ("N more days");
the days the sync took, the forecast of day one against them, and the export jobs of each order.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tap_marketo_bulk.api import client as client_module  # noqa: E402
from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig  # noqa: E402
from tests.e2e import backfill_scenario as scenario  # noqa: E402
from tests.e2e.compressed_cli import COMPRESSED_RATE_WINDOW_SECONDS  # noqa: E402

# The sandbox runs far faster than Marketo: the tap's 20 s call window compressed as in tests.
client_module.RATE_WINDOW_SECONDS = COMPRESSED_RATE_WINDOW_SECONDS
client_module.RATE_WINDOW_SLACK_SECONDS = 0.1


def run(order: str, seed: int | None = None, *, quiet: bool = False) -> tuple[int, int | None, int]:
    """(days taken, day one's forecast of them, export jobs) of one first sync."""
    sandbox = {**scenario.SANDBOX, **({} if seed is None else {"seed": seed})}
    with Sandbox(SandboxConfig(**sandbox)) as sb:
        config, catalog = scenario.setup(sb, order)
        days = scenario.run_until_finished(sb, config, catalog)
        first = days[0].more_days_forecast
        result = len(days), None if first is None else 1 + first, scenario.completed_jobs(sb)
        if quiet:
            return result
        print(f"\n{order}: {len(days)} days, {scenario.completed_jobs(sb)} export jobs")
        for number, day in enumerate(days, 1):
            counts = ", ".join(f"{s} {len(r)}" for s, r in day.records.items() if r)
            more = day.more_days_forecast
            actual = len(days) - number
            forecast = "-" if more is None else f"{more} more days forecast"
            stop = day.quota_stop or ""
            if "not counting" in stop:  # streams with no window exported yet
                forecast += " (" + stop[stop.index("not counting") :] + ")"
            spent = scenario.day_quota_bytes(day) / scenario.MIB
            print(
                f"  day {number}: {counts or 'nothing'}; {spent:.2f} MiB of "
                f"{scenario.DAILY_QUOTA_MB} exported; {forecast}, {actual} actually"
            )
        return result


def other_seeds(count: int) -> None:
    """Day one's forecast against the days taken on other data (the scenario's seed changed)."""
    print(f"\nnewest first on {count} other seeds (the sandbox's data drawn again):")
    errors = []
    for seed in range(1, count + 1):
        days, forecast, _ = run("newest_first", seed, quiet=True)
        error = None if forecast is None else (forecast - days) / days
        errors.append(error)
        shown = "-" if error is None else f"{forecast} days ({error:+.0%})"
        print(f"  seed {seed}: {days} days taken, forecast after day one {shown}")
    within = sum(1 for e in errors if e is not None and abs(e) <= 0.25)
    print(f"  within 25%: {within} of {count}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=0, help="also run N other seeds")
    args = parser.parse_args()
    newest_days, forecast, newest_jobs = run("newest_first")
    oldest_days, _, oldest_jobs = run("oldest_first")
    print()
    print(f"days taken, newest first:          {newest_days}")
    if forecast is not None:
        error = (forecast - newest_days) / newest_days
        print(f"forecast after day one:            {forecast} days ({error:+.0%})")
    print(f"days taken, oldest first:          {oldest_days}")
    print(f"export jobs newest / oldest first: {newest_jobs} / {oldest_jobs}")
    if args.seeds:
        other_seeds(args.seeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
