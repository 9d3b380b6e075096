#!/usr/bin/env python3
"""What a reconcile costs (issue 17): export jobs and quota, and the next-day run without one.

    .venv/bin/python benchmarks/reconcile.py                 # ~5 min on the full_sync instance
    .venv/bin/python benchmarks/reconcile.py --no-custom-objects

On full_sync.py's instance (born ~4 years ago, 25 programs, every job 1 s standing for Marketo's
minute; its sandbox and timing are imported from there), the tap runs:
1. a first sync (a reconcile for program_members; the custom objects go newest first under a
   first table version);
2. the next day with the default `reconcile_every_days` (7): no reconcile;
3. the same next day with `reconcile_every_days: 1`: program_members and every custom object
   are re-exported under a new table version.
Printed per run: export jobs per stream (Completed; filter probes not counted), the budget of
issue 17 (a reconcile: at most one job per 10 programs plus one per custom object and window of
its lifetime; a next-day run without one: at most 6 jobs, today 5 for leads, activities and
program_members), the quota cost the tap logged before the reconcile, and the bytes it exported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from full_sync import (  # noqa: E402
    CADENCE,
    STATUS_REFRESH,
    discovered_catalog,
    iso,
    launch_tap,
    sandbox_config,
)

from tap_marketo_bulk.export.windows import parse_datetime, plan_windows  # noqa: E402
from tap_marketo_bulk.sandbox import Sandbox  # noqa: E402

BULK_STREAMS = ("leads", "activities", "program_members")
CUSTOM_STREAMS = ("custom_car_c", "custom_course_c")  # the sandbox's lead-linked objects
NEXT_DAY_BUDGET = 6
MIB = 1024 * 1024


def stream_of(object_path: str) -> str:
    if object_path.startswith("customobjects/"):
        return "custom_" + object_path.split("/", 1)[1]
    return {"program/members": "program_members"}.get(object_path, object_path)


def catalog_for(work: Path, config: dict, streams: tuple[str, ...]) -> dict:
    path = work / "discover-config.json"
    path.write_text(json.dumps(config))
    return discovered_catalog(path, streams)


def run(sb: Sandbox, work: Path, name: str, config: dict, catalog: dict, state: dict | None):
    stdout, stderr, wall, jobs = launch_tap(
        sb, work, name, [sys.executable, "-m", "tap_marketo_bulk"],
        {"config": config, "catalog": catalog, "state": state},
    )
    last_state, activations = None, []
    with stdout.open() as lines:
        for line in lines:
            if '"type":"STATE"' in line[:20]:
                last_state = json.loads(line)["value"]
            elif '"type":"ACTIVATE_VERSION"' in line[:30]:
                activations.append(json.loads(line)["stream"])
    logged = [
        line.split("| ", 3)[-1]
        for line in stderr.read_text().splitlines()
        if "reconcile" in line and ("estimated" in line or "done" in line or "jobs" in line)
    ]
    return {
        "jobs": Counter(stream_of(j["object"]) for j in jobs),
        "wall": wall,
        "state": last_state,
        "activations": activations,
        "logged": logged,
    }


def report(label: str, result: dict) -> None:
    jobs = result["jobs"]
    total = sum(jobs.values())
    cycles = math.ceil(total / 2)
    print(f"\n{label}")
    print(f"  export jobs:     {total} ({', '.join(f'{s} {n}' for s, n in sorted(jobs.items()))})")
    print(
        f"  wall time:       {result['wall']:.1f} s here; lower bound ceil({total} / 2) = "
        f"{cycles} status cycles = {cycles * CADENCE / 3600:.2f} h at Marketo's cadence"
    )
    print(f"  ACTIVATE_VERSION: {', '.join(result['activations']) or 'none'}")
    for line in result["logged"]:
        print(f"    log: {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=1414, help="age of the instance in days")
    parser.add_argument("--programs", type=int, default=25)
    parser.add_argument("--no-custom-objects", action="store_true")
    args = parser.parse_args()

    cfg = sandbox_config(args.days, args.programs)
    streams = BULK_STREAMS + (() if args.no_custom_objects else CUSTOM_STREAMS)
    print(
        f"sandbox: born {cfg.data_start}, data to {cfg.data_end}, {cfg.programs} programs, "
        f"{cfg.custom_object_rows} rows per custom object; jobs take {cfg.job_seconds:g} s, "
        f"status refresh {STATUS_REFRESH:g} s standing for {CADENCE:g} s; streams: "
        + ", ".join(streams)
    )
    with tempfile.TemporaryDirectory(prefix="reconcile-") as tmp, Sandbox(cfg) as sb:
        work = Path(tmp)
        config = {
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
            "base_url": sb.base_url,
            "start_date": "2020-01-01",  # "everything": the instance's birth bounds it
            "end_date": cfg.data_end,
            "poll_interval_seconds": STATUS_REFRESH,
            "max_calls_per_20s": 100,
        }
        catalog = catalog_for(work, config, streams)
        first = run(sb, work, "first", config, catalog, None)
        report("first sync (a reconcile for program_members; custom objects newest first)", first)
        next_day = iso(parse_datetime(cfg.data_end) + dt.timedelta(days=1))
        day = {**config, "end_date": next_day}
        daily = run(sb, work, "next-day", day, catalog, first["state"])
        report("next-day run, reconcile_every_days 7 (default): no reconcile", daily)
        bulk_jobs = sum(daily["jobs"][s] for s in BULK_STREAMS)
        print(
            f"  budget:          leads + activities + program_members {bulk_jobs} jobs "
            f"(at most {NEXT_DAY_BUDGET}): {'ok' if bulk_jobs <= NEXT_DAY_BUDGET else 'OVER'}"
        )
        reconciled = run(
            sb,
            work,
            "next-day-reconcile",
            {**day, "reconcile_every_days": 1},
            catalog,
            first["state"],
        )
        report("the same next day, reconcile_every_days 1: a reconcile", reconciled)
        birth = max(parse_datetime(sb.truth.instance_birth), parse_datetime("2020-01-01"))
        windows = len(plan_windows(birth, parse_datetime(next_day), 31))
        bound = {"program_members": math.ceil(cfg.programs / 10)}
        bound.update({s: windows for s in streams if s.startswith("custom_")})
        for stream, most in bound.items():
            used = reconciled["jobs"][stream]
            bookmark = reconciled["state"]["bookmarks"][stream]
            print(
                f"  budget {stream}: {used} jobs (at most {most}); exported "
                f"{bookmark['reconcile_bytes'] / MIB:.2f} MiB (the next reconcile's estimate): "
                f"{'ok' if used <= most else 'OVER'}"
            )
        print(f"  sandbox quota used today: {sb.stats['quota_bytes_today'] / MIB:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
