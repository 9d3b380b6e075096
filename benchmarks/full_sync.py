#!/usr/bin/env python3
"""How many export jobs, and how long, a first sync and a next-day run take (issue #11).

    .venv/bin/python benchmarks/full_sync.py              # our tap, first sync + next day (~3 min)
    .venv/bin/python benchmarks/full_sync.py --singer     # plus singer-io tap-marketo (long)

Marketo refreshes a job's status once a minute and runs two jobs at once, so a sync's wall time
is set by its number of jobs. The sandbox compresses that cadence 60x: its status refresh is 1 s
standing for Marketo's 60 s, every job takes 1 s of processing, and every tap polls each job every
1 s. The instance was born ~4 years ago (its oldest top-level folder), has data up to the last
UTC midnight and 25 programs; the user sets `start_date: 2020-01-01` ("everything").

Printed per run: export jobs per stream (Completed; the one-second filter probes, created and
cancelled at once, are not counted), wall time, the lower bound ceil(jobs / 2) status cycles, and
what both mean at Marketo's real cadence (1 s here = 1 min there).

With --singer, singer-io's tap-marketo (PyPI, its own venv, through benchmarks/compare's shim)
runs its first sync on the same sandbox: leads and every activity type bulk can export, with
start_date at the instance's birth (it does not read the birth itself; from 2020 it would create
even more jobs). It has no program members stream and no end date (it exports up to now).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig  # noqa: E402

CADENCE = 60.0  # 1 s on the sandbox stands for 60 s on Marketo
STATUS_REFRESH = 1.0
BULK_STREAMS = ("leads", "activities", "program_members")
OBJECT_STREAM = {"leads": "leads", "activities": "activities", "program/members": "program_members"}


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def sandbox_config(days: int, programs: int) -> SandboxConfig:
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return SandboxConfig(
        seed=11,
        leads=4000,
        activities=20000,
        programs=programs,
        members_per_program=20,
        data_start=iso(today - dt.timedelta(days=days)),
        data_end=iso(today - dt.timedelta(seconds=1)),
        status_refresh_seconds=STATUS_REFRESH,
        job_seconds=1.0,
        max_calls_per_20s=100_000,  # the compression makes 100 calls / 20 s meaningless here
        usage_endpoint=True,  # tap-marketo calls /rest/v1/stats/usage.json first
    )


def discovered_catalog(config_path: Path, streams: tuple[str, ...] | None = None) -> dict:
    """The tap's discovered catalog with `streams` (default BULK_STREAMS) selected."""
    selected = BULK_STREAMS if streams is None else streams
    out = subprocess.run(
        [sys.executable, "-m", "tap_marketo_bulk", "--config", str(config_path), "--discover"],
        capture_output=True,
        text=True,
        check=True,
    )
    catalog = json.loads(out.stdout)
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] in selected
    return catalog


# The tap's CLI with Marketo's rolling 20 s call window compressed like the cadence (20 s there
# is 1/3 s here): otherwise max_calls_per_20s, not the queue, would set the wall time.
COMPRESSED_TAP = (
    "from tap_marketo_bulk.api import client as c; "
    f"c.RATE_WINDOW_SECONDS = 20 / {CADENCE}; c.RATE_WINDOW_SLACK_SECONDS = 0.02; "
    "from tap_marketo_bulk.tap import TapMarketoBulk; TapMarketoBulk.cli()"
)


def launch_tap(
    sb: Sandbox, work: Path, name: str, command: list[str], files: dict[str, dict | None]
) -> tuple[Path, Path, float, list[dict]]:
    """Run the tap (`command`) with `files` (config, catalog, state; None left out) written to
    `work`: (its stdout file, its log file, wall seconds, the jobs it completed)."""
    args = list(command)
    for option, content in files.items():
        if content is not None:
            path = work / f"{name}-{option}.json"
            path.write_text(json.dumps(content))
            args += [f"--{option}", str(path)]
    stdout, stderr = work / f"{name}.jsonl", work / f"{name}.log"
    since = time.time()
    started = time.monotonic()
    with stdout.open("w") as out, stderr.open("w") as err:
        code = subprocess.run(args, stdout=out, stderr=err, check=False).returncode
    wall = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"{name}: the tap failed:\n{stderr.read_text()[-3000:]}")
    jobs = [
        j
        for j in sb.client_stats()["jobs"]
        if j["created_at"] >= since and j["status"] == "Completed"
    ]
    return stdout, stderr, wall, jobs


def run_ours(sb: Sandbox, work: Path, name: str, config: dict, catalog: dict, state: dict | None):
    stdout, stderr, wall, jobs = launch_tap(
        sb, work, name, [sys.executable, "-c", COMPRESSED_TAP],
        {"config": config, "catalog": catalog, "state": state},
    )
    last_state = None
    with stdout.open() as lines:
        for line in lines:
            if line.startswith('{"type":"STATE"') or line.startswith('{"type": "STATE"'):
                last_state = json.loads(line)["value"]
    per_stream = Counter(OBJECT_STREAM[j["object"]] for j in jobs)
    plan = [line.split("| ", 3)[-1] for line in stderr.read_text().splitlines() if "plan:" in line]
    return {"jobs": dict(per_stream), "wall": wall, "state": last_state, "plan": plan}


def run_singer(cfg: SandboxConfig, work: Path, venvs: Path) -> dict:
    """singer-io tap-marketo's first sync, through benchmarks/compare's own runner."""
    sys.path.insert(0, str(HERE / "compare"))
    import run_comparison as compare

    compare.POLL_SECONDS = STATUS_REFRESH  # every tap polls every 1 s ("1 min")
    python = compare.ensure_venv(venvs, "singer", False, sys.executable)
    pythons = {"singer": python}
    catalogs = compare.discover_catalogs(cfg, pythons, work)
    variant = compare.VARIANTS["singer-no32"]  # Merge Leads crashes it (see compare/README.md)
    runs = {}
    with Sandbox(cfg) as sb:
        catalog = compare.select_catalog(variant, catalogs["singer"], compare.type_slug_map(sb))
        state = None
        for name in ("first", "next"):
            # It has no end date: the next run exports from its bookmark up to now, which is
            # one window per stream, as a next-day run would be.
            since = time.time()
            outcome = compare.run_tap(
                variant, sb, cfg, pythons, catalog, work / f"singer-{name}", 4 * 3600, state
            )
            state = outcome.output.get("state")
            jobs = [
                j
                for j in sb.client_stats()["jobs"]
                if j["status"] == "Completed" and j["created_at"] >= since
            ]
            per_stream = Counter(OBJECT_STREAM[j["object"]] for j in jobs)
            runs[name] = {
                "jobs": dict(per_stream),
                "wall": outcome.wall_seconds,
                "exit": outcome.exit_code,
            }
    return runs


def report(label: str, result: dict, concurrent: int = 2) -> None:
    """tap-marketo runs one job at a time: its lower bound is one status cycle per job."""
    total = sum(result["jobs"].values())
    cycles = math.ceil(total / concurrent)
    per = ", ".join(f"{stream} {n}" for stream, n in sorted(result["jobs"].items()))
    wall = result["wall"]
    print(f"\n{label}")
    print(f"  export jobs:      {total} ({per})")
    print(
        f"  wall time:        {wall:.1f} s here"
        f" = {wall * CADENCE / 3600:.2f} h at Marketo's cadence"
    )
    print(
        f"  lower bound:      ceil({total} / {concurrent}) = {cycles} status cycles"
        f" = {cycles * CADENCE / 3600:.2f} h at one refresh a minute"
    )
    if cycles:
        print(f"  wall / bound:     {wall / (cycles * STATUS_REFRESH):.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=1414, help="age of the instance in days")
    parser.add_argument("--programs", type=int, default=25)
    parser.add_argument("--singer", action="store_true", help="also run singer-io tap-marketo")
    parser.add_argument("--venvs", default="/tmp/compare-venvs")
    parser.add_argument(
        "--max-queued-jobs",
        type=int,
        choices=(1, 2),
        action="append",
        help="the tap's max_queued_jobs (repeat to compare; default: 2)",
    )
    args = parser.parse_args()

    cfg = sandbox_config(args.days, args.programs)
    print(
        f"sandbox: born {cfg.data_start}, data to {cfg.data_end} ({args.days} days), "
        f"{cfg.programs} programs; status refresh {STATUS_REFRESH:g} s standing for "
        f"{CADENCE:g} s, jobs take {cfg.job_seconds:g} s, "
        f"every tap polls every {STATUS_REFRESH:g} s"
    )
    with tempfile.TemporaryDirectory(prefix="full-sync-") as tmp, Sandbox(cfg) as sb:
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
        config_path = work / "discover-config.json"
        config_path.write_text(json.dumps(config))
        catalog = discovered_catalog(config_path)
        for queued in args.max_queued_jobs or [2]:
            # max_queued_jobs 2 (default): a second job waits Queued, so both slots stay busy
            # when both Processing jobs finish at the same status refresh (issue 18).
            run_config = {**config, "max_queued_jobs": queued}
            label = f"max_queued_jobs {queued}"
            first = run_ours(sb, work, f"first-{queued}", run_config, catalog, None)
            report(f"tap-marketo-bulk, first sync (start_date 2020-01-01), {label}", first)
            for line in first["plan"]:
                print(f"    log: {line[:300]}")
            next_day = iso(
                dt.datetime.fromisoformat(cfg.data_end.replace("Z", "+00:00"))
                + dt.timedelta(days=1)
            )
            daily = run_ours(
                sb,
                work,
                f"next-day-{queued}",
                {**run_config, "end_date": next_day},
                catalog,
                first["state"],
            )
            report(f"tap-marketo-bulk, next-day run, {label}", daily)
            for line in daily["plan"]:
                print(f"    log: {line[:300]}")
    if args.singer:
        with tempfile.TemporaryDirectory(prefix="full-sync-singer-") as tmp:
            singer = run_singer(cfg, Path(tmp), Path(args.venvs))
        for name, label in (("first", "first sync from the birth"), ("next", "next run")):
            result = singer[name]
            report(f"tap-marketo 2.9.4 (singer-io), {label} (exit {result['exit']})", result, 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
