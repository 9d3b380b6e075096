"""tap-marketo-bulk benchmark suite: one command, loopback only.

    python benchmarks/run.py            # full run: 1,000,000 activities, 200,000 leads (~1 min)
    python benchmarks/run.py --quick    # smoke run: 100,000 activities, 20,000 leads (~10 s)
    python benchmarks/run.py --repeat 3 # best of 3 for every timed run (noisy machines)

What it does (details in benchmarks/README.md):
1. Generates a local Marketo sandbox (untimed) with an activities export of N rows and a leads
   export of N/5 rows x 58 columns, no job latency; runs the tap as a subprocess, one stream per
   run, stdout to /dev/null; prints records/s, MB/s (file bytes / s) and peak RSS. Time is the
   tap process's wall time minus the export job wait (the sandbox writing the file).
2. Downloads the same export files once and runs the bare floor on them (floor.py: csv reader +
   dict + msgspec JSON per row to /dev/null); prints the tap's records/s as a share of it.
3. Runs activities again at a tenth of the rows; prints both peak RSS figures and their ratio.
4. Runs the scheduler latency scenario (scheduler_latency.run()); prints wall / ideal.
5. Prints every target with MET / NOT MET.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import platform
import sys
import typing as t
from collections.abc import Callable
from importlib.metadata import version

from tap_throughput import REPO, Bench, FloorRun, TapRun

TARGET_RECORDS_PER_SECOND = 100_000
TARGET_FLOOR_SHARE = 0.5
TARGET_PEAK_RSS_MB = 150.0
TARGET_RSS_GROWTH = 1.2
TARGET_WALL_OVER_IDEAL = 1.1


def best(runs: int, run: Callable[[], t.Any], key: Callable[[t.Any], float]) -> t.Any:
    """The fastest of `runs` runs (the others' noise: other processes on a 2-core machine)."""
    results = [run() for _ in range(runs)]
    return min(results, key=key)


def print_tap_runs(runs: list[TapRun]) -> None:
    print(
        f"{'stream':<11}{'rows':>10}{'file MB':>9}{'wall s':>8}{'job wait':>9}{'tap s':>7}"
        f"{'startup':>8}{'download':>9}{'emit':>6}{'records/s':>11}{'MB/s':>7}"
        f"{'emit rec/s':>11}{'peak RSS MB':>12}"
    )
    for r in runs:
        print(
            f"{r.stream:<11}{r.records:>10,}{r.file_bytes / 1e6:>9.1f}{r.wall:>8.2f}"
            f"{r.job_wait:>9.2f}{r.tap_seconds:>7.2f}{r.startup:>8.2f}{r.download:>9.2f}"
            f"{r.emit:>6.2f}{r.records_per_second:>11,.0f}{r.mb_per_second:>7.1f}"
            f"{r.emit_records_per_second:>11,.0f}{r.peak_rss_mb:>12.1f}"
        )
        if r.jobs != 1:
            print(f"  note: {r.jobs} export jobs; job wait is the wait for the first file only")


def scheduler_latency(scale: float) -> dict | None:
    """benchmarks/scheduler_latency.run(scale), imported only now (it may not exist yet)."""
    try:
        module = importlib.import_module("benchmarks.scheduler_latency")
    except ImportError as exc:
        print(f"benchmarks/scheduler_latency.py not available ({exc}): skipped")
        return None
    logging.disable(logging.WARNING)  # the in-process tap's INFO lines and metrics
    try:
        figures: dict = module.run(scale=scale)
    finally:
        logging.disable(logging.NOTSET)
    return figures


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "MET" if ok else "NOT MET"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k activities (smoke run)")
    parser.add_argument("--repeat", type=int, default=1, help="best of N for each timed run")
    parser.add_argument(
        "--scheduler-scale",
        type=float,
        default=None,
        help="scheduler_latency scale (default 1.0; 0.3 with --quick)",
    )
    args = parser.parse_args(argv)
    activities = 100_000 if args.quick else 1_000_000
    leads = activities // 5
    small = activities // 10
    scale = args.scheduler_scale or (0.3 if args.quick else 1.0)
    repeat = max(1, args.repeat)

    print(f"== tap-marketo-bulk benchmark ({'quick' if args.quick else 'full'}) ==")
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"singer-sdk {version('singer-sdk')}, msgspec {version('msgspec')}; best of {repeat}"
    )

    print(f"\n[1] tap -> /dev/null: {activities:,} activities, {leads:,} leads (58 columns)")
    with Bench(activities=activities, leads=leads) as bench:
        print(f"sandbox data generated in {bench.generate_seconds:.1f} s (not timed)")
        runs = [
            best(repeat, lambda s=s: bench.run_tap(s), key=lambda r: r.tap_seconds)
            for s in ("activities", "leads")
        ]
        print_tap_runs(runs)
        print(
            "time = wall - job wait (the sandbox writing the export file); startup = python "
            "start, imports, catalog, describe, create call"
        )

        print("\n[2] bare floor on the same files (csv.reader + dict + msgspec JSON -> /dev/null)")
        floors: dict[str, FloorRun] = {}
        print(
            f"{'stream':<11}{'rows':>10}{'floor s':>9}{'loop s':>8}{'floor rec/s':>13}"
            f"{'tap rec/s':>11}{'tap / floor':>12}"
        )
        for r in runs:
            path = bench.download(r.stream)
            floor = floors[r.stream] = best(
                repeat, lambda p=path: bench.run_floor(p), key=lambda f: f.wall
            )
            print(
                f"{r.stream:<11}{floor.records:>10,}{floor.wall:>9.2f}{floor.loop:>8.2f}"
                f"{floor.records_per_second:>13,.0f}{r.records_per_second:>11,.0f}"
                f"{r.records_per_second / floor.records_per_second:>11.0%}"
            )
            if floor.records != r.records:
                print(
                    f"  note: the floor read {floor.records:,} rows, the tap emitted {r.records:,}"
                )
    with Bench(activities=small, leads=1000, seed=8) as bench:
        small_run = best(
            repeat, lambda: bench.run_tap("activities", "-small"), key=lambda r: r.tap_seconds
        )
    activities_run = runs[0]
    growth = activities_run.peak_rss_mb / small_run.peak_rss_mb
    print(
        f"\n[3] peak RSS of the tap, activities: {small:,} rows {small_run.peak_rss_mb:.1f} MB; "
        f"{activities:,} rows {activities_run.peak_rss_mb:.1f} MB; ratio {growth:.2f}"
    )

    print(f"\n[4] scheduler latency (benchmarks/scheduler_latency.run(scale={scale:g}))")
    latency = scheduler_latency(scale)
    ratio = None
    if latency is not None:
        ratio = latency.get("wall_over_ideal", latency.get("ratio"))
        print(
            f"{latency.get('jobs')} jobs, ideal {latency.get('ideal_seconds', 0):.2f} s, wall "
            f"{latency.get('wall_seconds', 0):.2f} s: wall / ideal {ratio:.3f}"
        )

    share = activities_run.records_per_second / floors["activities"].records_per_second
    rows = f"{activities:,} rows" + (" (quick run)" if args.quick else "")
    targets = [
        (
            f"activities >= {TARGET_RECORDS_PER_SECOND:,} records/s",
            f"{activities_run.records_per_second:,.0f}/s",
            activities_run.records_per_second >= TARGET_RECORDS_PER_SECOND,
        ),
        (
            f"activities >= {TARGET_FLOOR_SHARE:.0%} of the bare floor",
            f"{share:.0%}",
            share >= TARGET_FLOOR_SHARE,
        ),
        (
            f"peak RSS <= {TARGET_PEAK_RSS_MB:.0f} MB at {rows}",
            f"{activities_run.peak_rss_mb:.1f} MB",
            activities_run.peak_rss_mb <= TARGET_PEAK_RSS_MB,
        ),
        (
            f"peak RSS {activities:,} / {small:,} rows <= {TARGET_RSS_GROWTH}",
            f"{growth:.2f}",
            growth <= TARGET_RSS_GROWTH,
        ),
        (
            f"scheduler wall / ideal <= {TARGET_WALL_OVER_IDEAL}",
            "not run" if ratio is None else f"{ratio:.3f}",
            None if ratio is None else ratio <= TARGET_WALL_OVER_IDEAL,
        ),
    ]
    print("\n== targets ==")
    width = max(len(name) for name, _, _ in targets) + 2
    print(f"{'target':<{width}}{'measured':>14}  status")
    for name, measured_value, ok in targets:
        print(f"{name:<{width}}{measured_value:>14}  {verdict(ok)}")
    return 0 if all(ok is not False for _, _, ok in targets) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # benchmarks.scheduler_latency
    sys.exit(main())
