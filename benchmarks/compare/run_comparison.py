#!/usr/bin/env python3
"""Measure tap-marketo-bulk next to the public Marketo taps, against the same local sandbox.

    .venv/bin/python benchmarks/compare/run_comparison.py            # everything, ~15 min
    .venv/bin/python benchmarks/compare/run_comparison.py --only baseline --taps bulk,singer

Run it with a Python that has this repository installed (it imports the sandbox). The
competitors are installed from PyPI, each into a venv of its own under --venvs
(default /tmp/compare-venvs): singer-io's `tap-marketo` and Airbyte's `airbyte-source-marketo`,
at the versions pinned in COMPETITORS (pass --latest to take PyPI's newest instead).

Every run gets a fresh sandbox built from the same SandboxConfig (same seed, so the same data
and ground truth; fresh counters, job list and quota), runs one tap as a subprocess for the same
date range, and records: wall time, exit code, records per stream against the truth (missing,
extra, duplicate keys, changed values), export jobs (created / completed / never enqueued), most
jobs Processing at once, API calls, the busiest 20 s, tokens sent in the query string.

Scenarios:
  baseline  every variant, no faults
  corrupt   the first export file download has one character changed (sandbox fault
            corrupt_download=1): is the checksum checked, or do changed rows come out?
  quota     once the tap's third job has Completed, the daily export quota is used up
            (faults.quota_bytes=1, so create/enqueue answer 1029 "Export daily quota 500MB
            exceeded."); then the quota is lifted ("next day") and the tap is run again with the
            last state it emitted: is anything lost or duplicated across the two runs?

Results: a JSON file and a Markdown summary in --out (default benchmarks/compare/results/);
the taps' raw output and logs in --workdir (default /tmp/compare-runs/<timestamp>/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from records import KEYS, compare_stream, merge_records, parse_output  # noqa: E402

from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig  # noqa: E402

COMPETITORS = {
    "singer": {"dist": "tap-marketo", "spec": "tap-marketo==2.9.4",
               "extra_dists": ["singer-python"]},
    "airbyte": {"dist": "airbyte-source-marketo", "spec": "airbyte-source-marketo==2.1.3",
                "extra_dists": ["airbyte-cdk"]},
}
MERGE_LEADS = 32  # activity type whose rows carry no attributes (`null` in the file)
DELETE_LEAD = 37  # not exportable through bulk; no tap is asked for it
POLL_SECONDS = 0.2  # every tap polls job status this often (the sandbox refreshes every 0.2 s)
QUOTA_AFTER_COMPLETED_JOBS = 3
FAKE_ENDPOINT = "https://123-ABC-456.mktorest.com/rest"  # tap-marketo's config needs one


@dataclass
class Variant:
    key: str
    tap: str  # display name
    family: str  # bulk | singer | airbyte
    streams: tuple[str, ...]  # canonical streams asked for
    skip_types: tuple[int, ...] = (DELETE_LEAD,)
    note: str = ""


VARIANTS = {
    "bulk": Variant("bulk", "tap-marketo-bulk", "bulk", ("leads", "activities")),
    "bulk+pm": Variant("bulk+pm", "tap-marketo-bulk", "bulk",
                       ("leads", "activities", "program_members"),
                       note="with the program_members stream"),
    "singer": Variant("singer", "tap-marketo (singer-io)", "singer", ("leads", "activities")),
    "singer-no32": Variant("singer-no32", "tap-marketo (singer-io)", "singer",
                           ("leads", "activities"), (DELETE_LEAD, MERGE_LEADS),
                           note="activities_merge_leads deselected"),
    "airbyte": Variant("airbyte", "source-marketo (Airbyte)", "airbyte", ("leads", "activities")),
    "airbyte-no32": Variant("airbyte-no32", "source-marketo (Airbyte)", "airbyte",
                            ("leads", "activities"), (DELETE_LEAD, MERGE_LEADS),
                            note="activities_merge_leads deselected"),
}
SCENARIOS = {
    "baseline": ["bulk", "bulk+pm", "singer", "singer-no32", "airbyte", "airbyte-no32"],
    "corrupt": ["bulk", "singer-no32", "airbyte-no32"],
    "quota": ["bulk", "singer-no32", "airbyte-no32"],
}


def say(message: str) -> None:
    print(f"[compare {time.strftime('%H:%M:%S')}] {message}", flush=True)


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------------------- environments
def ensure_venv(root: Path, family: str, latest: bool, python: str) -> Path:
    """The competitor's venv python, created and installed on first use."""
    meta = COMPETITORS[family]
    path = root / family
    py = path / "bin" / "python"
    spec = meta["dist"] if latest else meta["spec"]
    if not py.exists():
        say(f"creating {path} ({python})")
        subprocess.run([python, "-m", "venv", str(path)], check=True)
    probe = subprocess.run([str(py), "-m", "pip", "show", meta["dist"]], capture_output=True,
                           text=True, check=False)
    pinned = spec.split("==")[1] if "==" in spec else None
    installed = re.search(r"^Version: (.+)$", probe.stdout, re.M)
    if probe.returncode != 0 or (pinned and (not installed or installed[1] != pinned)) or latest:
        say(f"pip install {spec} into {path}")
        subprocess.run([str(py), "-m", "pip", "install", "-q", *(["-U"] if latest else []), spec],
                       check=True)
    return py


def dist_versions(py: Path, names: list[str]) -> dict[str, str]:
    code = ("import json,sys\nfrom importlib.metadata import version\n"
            "print(json.dumps({n: version(n) for n in sys.argv[1:]}))")
    out = subprocess.run([str(py), "-c", code, *names], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def bulk_command() -> list[str]:
    script = Path(sys.executable).parent / "tap-marketo-bulk"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tap_marketo_bulk"]


# ----------------------------------------------------------------------------- sandbox
def sandbox_config(args: argparse.Namespace) -> SandboxConfig:
    """Six months of data ending at the last midnight (UTC): tap-marketo has no end date and
    exports up to now, so the data ends near now for every tap to cover the same range."""
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return SandboxConfig(
        seed=args.seed, leads=args.leads, activities=args.activities, programs=args.programs,
        data_start=iso(today - dt.timedelta(days=args.days)),
        data_end=iso(today - dt.timedelta(seconds=1)),
        job_seconds=args.job_seconds, status_refresh_seconds=POLL_SECONDS,
        max_calls_per_20s=args.max_calls_per_20s,
        usage_endpoint=True,  # tap-marketo calls /rest/v1/stats/usage.json first
    )


# ----------------------------------------------------------------------------- catalogs
def discover_catalogs(cfg: SandboxConfig, pythons: dict[str, Path], work: Path) -> dict:
    """Each tap's own discovery, once, against a sandbox with the same data."""
    catalogs: dict[str, Any] = {}
    with Sandbox(cfg) as sb:
        creds = tap_configs(sb, cfg, end=iso(dt.datetime.now(dt.timezone.utc)))
        for family in ("bulk", "singer", "airbyte"):
            if family != "bulk" and family not in pythons:
                continue
            conf = work / f"discover-{family}.json"
            conf.write_text(json.dumps(creds[family]))
            if family == "bulk":
                cmd = [*bulk_command(), "--config", str(conf), "--discover"]
            elif family == "singer":
                cmd = [str(pythons["singer"]), str(HERE / "shims" / "singer_tap_marketo.py"),
                       "--config", str(conf), "--discover"]
            else:
                cmd = [str(pythons["airbyte"]), str(HERE / "shims" / "airbyte_source_marketo.py"),
                       "discover", "--config", str(conf)]
            out = subprocess.run(cmd, capture_output=True, text=True, env=tap_env(sb),
                                 timeout=300, check=False)
            if out.returncode != 0:
                raise SystemExit(f"{family} discovery failed:\n{out.stderr[-3000:]}")
            if family == "airbyte":
                for line in out.stdout.splitlines():
                    if line.startswith("{") and json.loads(line).get("type") == "CATALOG":
                        catalogs[family] = json.loads(line)["catalog"]
            else:
                catalogs[family] = json.loads(out.stdout)
    return catalogs


def type_slug_map(sb: Sandbox) -> dict[int, str]:
    return {t["id"]: t["name"] for t in sb.truth.activity_types}


def select_catalog(variant: Variant, catalog: dict, names: dict[int, str]) -> dict:
    """The variant's streams selected, every field selected (tap-marketo needs that per field),
    except the formula field mktoName, which bulk export refuses (1006)."""
    skipped_names = {names[i] for i in variant.skip_types}
    if variant.family == "bulk":
        streams = json.loads(json.dumps(catalog["streams"]))
        for stream in streams:
            for entry in stream["metadata"]:
                if entry["breadcrumb"] == []:
                    entry["metadata"]["selected"] = stream["tap_stream_id"] in variant.streams
        return {"streams": streams}
    if variant.family == "singer":
        from_name = {re.sub(r"\s+", "_", n.lower()): n for n in names.values()}
        chosen = []
        for stream in json.loads(json.dumps(catalog["streams"])):
            sid = stream["tap_stream_id"]
            wanted = sid == "leads" or (
                sid.startswith("activities_")
                and from_name.get(sid[len("activities_"):]) not in skipped_names)
            if not wanted:
                continue
            for entry in stream["metadata"]:
                bc = entry["breadcrumb"]
                entry["metadata"]["selected"] = not bc or bc[-1] != "mktoName"
            chosen.append(stream)
        return {"streams": chosen}
    # airbyte: activity stream names are the type names through its own clean_string
    chosen = []
    for stream in json.loads(json.dumps(catalog["streams"])):
        name = stream["name"]
        if name != "leads" and not name.startswith("activities_"):
            continue
        if name.startswith("activities_"):
            squashed = name[len("activities_"):].replace("_", "")
            if any(squashed == re.sub(r"[^a-z0-9]", "", n.lower()) for n in skipped_names):
                continue
        stream["json_schema"].get("properties", {}).pop("mktoName", None)
        chosen.append({"stream": stream, "sync_mode": "incremental",
                       "destination_sync_mode": "append",
                       "cursor_field": stream.get("default_cursor_field") or []})
    return {"streams": chosen}


# ----------------------------------------------------------------------------- running a tap
def tap_configs(sb: Sandbox, cfg: SandboxConfig, end: str) -> dict[str, dict]:
    """Each tap's documented settings for the same instance and date range."""
    return {
        "bulk": {"client_id": sb.client_id, "client_secret": sb.client_secret,
                 "base_url": sb.base_url, "start_date": cfg.data_start, "end_date": end,
                 "poll_interval_seconds": POLL_SECONDS, "max_calls_per_20s": 100},
        # no end date setting: it exports up to now
        "singer": {"endpoint": FAKE_ENDPOINT, "client_id": sb.client_id,
                   "client_secret": sb.client_secret, "start_date": cfg.data_start,
                   "poll_interval": POLL_SECONDS},
        # end_date is read by the connector's code (not in its spec; the spec allows extras)
        "airbyte": {"domain_url": sb.base_url, "client_id": sb.client_id,
                    "client_secret": sb.client_secret, "start_date": cfg.data_start,
                    "end_date": end},
    }


def tap_env(sb: Sandbox) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"COMPARE_BASE_URL": sb.base_url, "COMPARE_POLL_INTERVAL": str(POLL_SECONDS),
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                "PYTHONUNBUFFERED": "1"})
    return env


@dataclass
class Outcome:
    exit_code: int | None
    wall_seconds: float
    stdout: Path
    stderr: Path
    output: dict[str, Any] = field(default_factory=dict)


def run_tap(variant: Variant, sb: Sandbox, cfg: SandboxConfig, pythons: dict[str, Path],
            catalog: dict, run_dir: Path, timeout: float, state: Any = None) -> Outcome:
    run_dir.mkdir(parents=True, exist_ok=True)
    end = iso(dt.datetime.now(dt.timezone.utc))
    conf = run_dir / "config.json"
    conf.write_text(json.dumps(tap_configs(sb, cfg, end)[variant.family], indent=1))
    cat = run_dir / "catalog.json"
    cat.write_text(json.dumps(catalog))
    state_args: list[str] = []
    if state is not None:
        (run_dir / "state.in.json").write_text(json.dumps(state))
        state_args = ["--state", str(run_dir / "state.in.json")]
    if variant.family == "bulk":
        cmd = [*bulk_command(), "--config", str(conf), "--catalog", str(cat), *state_args]
    elif variant.family == "singer":
        # tap-marketo reads its catalog from --properties (with --catalog it fails:
        # TypeError: 'Catalog' object is not subscriptable)
        cmd = [str(pythons["singer"]), str(HERE / "shims" / "singer_tap_marketo.py"),
               "--config", str(conf), "--properties", str(cat), *state_args]
    else:
        cmd = [str(pythons["airbyte"]), str(HERE / "shims" / "airbyte_source_marketo.py"),
               "read", "--config", str(conf), "--catalog", str(cat), *state_args]
    (run_dir / "command.txt").write_text(" ".join(cmd) + "\n")
    stdout, stderr = run_dir / "stdout.jsonl", run_dir / "stderr.log"
    started = time.monotonic()
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(cmd, stdout=out, stderr=err, env=tap_env(sb), cwd=run_dir)
        try:
            code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()  # our own child, by its handle
            process.wait()
            code = None
    wall = time.monotonic() - started
    dialect = "airbyte" if variant.family == "airbyte" else "singer"
    outcome = Outcome(code, wall, stdout, stderr, parse_output(stdout, dialect))
    if outcome.output.get("state") is not None:
        (run_dir / "state.out.json").write_text(json.dumps(outcome.output["state"], indent=1))
    return outcome


# ----------------------------------------------------------------------------- measuring
def truth_for(variant: Variant, sb: Sandbox) -> dict[str, list[dict]]:
    truth = sb.truth
    out = {"leads": truth.leads,
           "activities": [a for a in truth.activities
                          if a["activityTypeId"] not in variant.skip_types]}
    if "program_members" in variant.streams:
        out["program_members"] = truth.program_members
    return out


def compare_all(variant: Variant, sb: Sandbox, records: dict[str, list]) -> dict[str, Any]:
    truth = truth_for(variant, sb)
    return {stream: compare_stream(stream, records.get(stream, []), truth[stream])
            for stream in truth}


def job_summary(jobs: list[dict[str, Any]], since: float = 0.0) -> dict[str, Any]:
    mine = [j for j in jobs if j["created_at"] >= since]
    statuses: dict[str, int] = {}
    for job in mine:
        statuses[job["status"]] = statuses.get(job["status"], 0) + 1
    windows = {(j["object"], j["filter_key"]) for j in mine}
    return {"created": len(mine), "by_status": statuses,
            "never_enqueued": sum(1 for j in mine if j["queued_at"] is None),
            "distinct_windows": len(windows), "polls": sum(j["polls"] for j in mine)}


STAT_KEYS = ("api_calls", "create_calls", "enqueue_calls", "status_calls", "cancel_calls",
             "file_calls", "tokens_in_query", "calls_per_20s_max", "bytes_exported",
             "bytes_downloaded", "max_processing_at_once", "max_queued_plus_processing_at_once",
             "min_poll_interval_seconds", "errors")


def log_findings(outcome: Outcome) -> dict[str, Any]:
    text = outcome.stderr.read_text(errors="replace")
    stdout_text = outcome.stdout.read_text(errors="replace")
    checksum = [line.strip()[:240] for line in (text + "\n" + stdout_text).splitlines()
                if re.search(r"checksum|sha-?256", line, re.I)
                and not line.lstrip().startswith('{"type": "RECORD"')]
    quota = [line.strip()[:240] for line in text.splitlines() if re.search(r"quota", line, re.I)]
    return {
        "traceback": "Traceback (most recent call last)" in text
        or "Traceback (most recent call last)" in stdout_text,
        "checksum_lines": checksum[:4],
        "quota_lines": quota[:4],
        "last_stderr": [line[:240] for line in text.strip().splitlines()[-3:]],
        "trace_errors": [e[:300] for e in outcome.output.get("trace_errors", [])][:4],
    }


def describe_state(state: Any, family: str) -> str:
    if state is None:
        return "no STATE emitted"
    text = json.dumps(state)
    return text if len(text) < 400 else text[:400] + "..."


def measure(variant: Variant, sb: Sandbox, outcome: Outcome, since: float = 0.0,
            stats: dict | None = None) -> dict[str, Any]:
    stats = stats if stats is not None else sb.client_stats()
    (outcome.stdout.parent / "jobs.json").write_text(json.dumps(
        [j for j in stats["jobs"] if j["created_at"] >= since], indent=1, default=str))
    return {
        "variant": variant.key, "tap": variant.tap, "note": variant.note,
        "exit_code": outcome.exit_code, "wall_seconds": round(outcome.wall_seconds, 2),
        "records_per_stream": outcome.output["per_stream"],
        "correctness": compare_all(variant, sb, outcome.output["records"]),
        "jobs": job_summary(stats["jobs"], since),
        "stats": {k: stats.get(k) for k in STAT_KEYS},
        "token_requests": sb.stats.get("token_requests"),
        "log": log_findings(outcome),
        "state": describe_state(outcome.output.get("state"), variant.family),
    }


# ----------------------------------------------------------------------------- scenarios
class Context:
    def __init__(self, args: argparse.Namespace, cfg: SandboxConfig, pythons: dict[str, Path],
                 catalogs: dict, work: Path) -> None:
        self.args, self.cfg, self.pythons, self.catalogs, self.work = (args, cfg, pythons,
                                                                       catalogs, work)
        self.baseline_outputs: dict[str, dict[str, Any]] = {}  # variant key -> parsed output

    def catalog(self, variant: Variant, sb: Sandbox) -> dict:
        return select_catalog(variant, self.catalogs[variant.family], type_slug_map(sb))


def scenario_baseline(ctx: Context, variant: Variant) -> dict[str, Any]:
    with Sandbox(ctx.cfg) as sb:
        outcome = run_tap(variant, sb, ctx.cfg, ctx.pythons, ctx.catalog(variant, sb),
                          ctx.work / "baseline" / variant.key, ctx.args.run_timeout)
        ctx.baseline_outputs[variant.key] = outcome.output
        return measure(variant, sb, outcome)


def scenario_corrupt(ctx: Context, variant: Variant) -> dict[str, Any]:
    with Sandbox(ctx.cfg) as sb:
        sb.faults.corrupt_download = 1
        outcome = run_tap(variant, sb, ctx.cfg, ctx.pythons, ctx.catalog(variant, sb),
                          ctx.work / "corrupt" / variant.key, ctx.args.run_timeout)
        result = measure(variant, sb, outcome)
        result["fault_fired"] = sb.faults.corrupt_download == 0
    # The truth comparison can't tell the damage from the tap's usual value changes, so the
    # rows are also compared with the same tap's fault-free run: any difference is the damage.
    if variant.key not in ctx.baseline_outputs:
        say("  (fault-free run of the same variant for reference)")
        scenario_baseline(ctx, variant)
    result["vs_fault_free_run"] = diff_outputs(ctx.baseline_outputs[variant.key], outcome.output)
    return result


def diff_outputs(reference: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Per stream: keys only in one run, and records whose values differ (first examples)."""
    out = {}
    for stream, rows in reference["records"].items():
        key_of = KEYS[stream]
        ref = {}
        for row in rows:
            ref.setdefault(key_of(row), row)
        got = {}
        for row in other["records"].get(stream, []):
            got.setdefault(key_of(row), row)
        changed = [k for k in got if k in ref and got[k] != ref[k]]
        examples = []
        for key in changed[:3]:
            for name, value in got[key].items():
                if value != ref[key].get(name):
                    examples.append({"key": repr(key), "field": name,
                                     "fault_free": repr(ref[key].get(name))[:80],
                                     "emitted": repr(value)[:80]})
        out[stream] = {"changed": len(changed), "missing": len(set(ref) - set(got)),
                       "extra": len(set(got) - set(ref)), "examples": examples}
    return out


def scenario_quota(ctx: Context, variant: Variant) -> dict[str, Any]:
    with Sandbox(ctx.cfg) as sb:
        armed: dict[str, Any] = {}
        stop = threading.Event()

        def arm_when_ready() -> None:
            while not stop.wait(0.02):
                stats = sb.client_stats()
                done = sum(1 for j in stats["jobs"] if j["status"] == "Completed")
                if done >= QUOTA_AFTER_COMPLETED_JOBS:
                    sb.faults.quota_bytes = 1  # today's exported bytes are now >= the quota
                    armed.update(at=time.monotonic(), api_calls=stats["api_calls"],
                                 completed_jobs=done)
                    return

        watcher = threading.Thread(target=arm_when_ready, daemon=True)
        watcher.start()
        catalog = ctx.catalog(variant, sb)
        first = run_tap(variant, sb, ctx.cfg, ctx.pythons, catalog,
                        ctx.work / "quota" / variant.key / "1-stopped", ctx.args.run_timeout)
        stop.set()
        watcher.join()
        first_stats = sb.client_stats()
        result = measure(variant, sb, first, stats=first_stats)
        result["quota_armed_after_completed_jobs"] = armed.get("completed_jobs")
        result["api_calls_after_quota"] = (first_stats["api_calls"] - armed["api_calls"]
                                           if armed else None)
        result["errors_1029"] = first_stats["errors"].get("1029", 0)

        # the next Marketo day: the quota is back; run again from the state the tap left
        sb.faults.quota_bytes = None
        sb.reset_stats()
        resume_since = time.time()
        second = run_tap(variant, sb, ctx.cfg, ctx.pythons, catalog,
                         ctx.work / "quota" / variant.key / "2-resumed", ctx.args.run_timeout,
                         state=first.output.get("state"))
        resumed = measure(variant, sb, second, since=resume_since)
        union = merge_records(first.output, second.output)
        result["resume"] = {
            "state_given": first.output.get("state") is not None,
            "exit_code": second.exit_code, "wall_seconds": round(second.wall_seconds, 2),
            "records_per_stream": second.output["per_stream"],
            "jobs": resumed["jobs"], "log": resumed["log"],
            "union_correctness": compare_all(variant, sb, union),
        }
        return result


RUNNERS = {"baseline": scenario_baseline, "corrupt": scenario_corrupt, "quota": scenario_quota}


# ----------------------------------------------------------------------------- report
def fmt_stream(c: dict[str, Any] | None) -> str:
    if c is None:
        return "-"
    text = f"{c['unique']}/{c['truth']}"
    extras = []
    for key, label in (("missing", "missing"), ("extra", "extra"), ("duplicates", "dup"),
                       ("changed_records", "changed")):
        if c[key]:
            extras.append(f"{c[key]} {label}")
    return text + (" (" + ", ".join(extras) + ")" if extras else " exact")


def fmt_jobs(j: dict[str, Any]) -> str:
    parts = [f"{j['created']}"]
    details = [f"{n} {s}" for s, n in sorted(j["by_status"].items()) if s != "Completed"]
    if details:
        parts.append("(" + ", ".join(details) + ")")
    return " ".join(parts)


def markdown(results: dict[str, Any]) -> str:
    lines = [f"# Comparison run {results['started']}", "",
             f"Sandbox: {json.dumps(results['sandbox'])}", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()), ""]
    base = results["scenarios"].get("baseline")
    if base:
        lines += ["## Baseline", "",
                  "| variant | exit | wall s | jobs created | max Processing | API calls | "
                  "busiest 20 s | token in query | leads | activities | program members |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in base:
            c = r["correctness"]
            lines.append(
                f"| {r['tap']}{' — ' + r['note'] if r['note'] else ''} | {r['exit_code']} | "
                f"{r['wall_seconds']} | {fmt_jobs(r['jobs'])} | "
                f"{r['stats']['max_processing_at_once']} | {r['stats']['api_calls']} | "
                f"{r['stats']['calls_per_20s_max']} | {r['stats']['tokens_in_query']} | "
                f"{fmt_stream(c.get('leads'))} | {fmt_stream(c.get('activities'))} | "
                f"{fmt_stream(c.get('program_members'))} |")
        lines += ["", "Value differences from the truth (baseline; fields, records affected, "
                  "first example):", ""]
        for r in base:
            for stream, c in r["correctness"].items():
                if not c["changed_records"]:
                    continue
                example = c["examples"][0] if c["examples"] else {}
                lines.append(f"- {r['tap']}{' — ' + r['note'] if r['note'] else ''}, {stream}: "
                             + ", ".join(f"{k} {v}" for k, v in c["changed_fields"].items())
                             + (f"; e.g. {example.get('field')} {example.get('truth')} -> "
                                f"{example.get('emitted')}" if example else ""))
        lines.append("")
    corrupt = results["scenarios"].get("corrupt")
    if corrupt:
        lines += ["## Corrupted download (one character changed, sha256 differs)", "",
                  "| variant | exit | file downloads (fault-free run) | checksum in log | "
                  "rows differing from its fault-free run | example |",
                  "|---|---|---|---|---|---|"]
        for r in corrupt:
            noticed = "; ".join(r["log"]["checksum_lines"][:1]) or "none"
            noticed = re.sub(r"^\S+ \S+ \| \w+\s+\| \S+\s+\| ", "", noticed)[:110]
            diff = r.get("vs_fault_free_run", {})
            differing = ", ".join(f"{s}: {d['changed']} changed, {d['missing']} missing, "
                                  f"{d['extra']} extra" for s, d in diff.items())
            example = next((e for d in diff.values() for e in d["examples"]), None)
            example_text = (f"{example['field']} {example['fault_free']} -> {example['emitted']}"
                            if example else "-")
            reference = next((b["stats"]["file_calls"] for b in base or []
                              if b["variant"] == r["variant"]), "?")
            lines.append(
                f"| {r['tap']} | {r['exit_code']} | {r['stats']['file_calls']} ({reference}) | "
                f"{noticed} | {differing} | {example_text} |")
        lines.append("")
    quota = results["scenarios"].get("quota")
    if quota:
        lines += ["## Daily quota (1029) used up after 3 completed jobs, then resumed", "",
                  "| variant | exit | traceback | 1029 answers | calls after quota | "
                  "jobs never enqueued | records before stop | resume exit | "
                  "both runs: leads | activities |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in quota:
            u = r["resume"]["union_correctness"]
            before = sum(v for k, v in r["records_per_stream"].items()
                         if k == "leads" or k.startswith("activities"))
            lines.append(
                f"| {r['tap']} | {r['exit_code']} | {'yes' if r['log']['traceback'] else 'no'} "
                f"| {r['errors_1029']} | {r['api_calls_after_quota']} | "
                f"{r['jobs']['never_enqueued']} | {before} | "
                f"{r['resume']['exit_code']} | {fmt_stream(u.get('leads'))} | "
                f"{fmt_stream(u.get('activities'))} |")
        lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--only", default="baseline,corrupt,quota", help="scenarios, comma-separated")
    add("--taps", default="bulk,singer,airbyte",
        help="families to run: bulk, singer, airbyte (comma-separated)")
    add("--venvs", default="/tmp/compare-venvs", help="where the competitors' venvs live")
    add("--python", default=sys.executable, help="interpreter for the competitors' venvs")
    add("--latest", action="store_true", help="install PyPI's newest competitor versions")
    add("--workdir", default=None, help="raw outputs (default /tmp/compare-runs/<timestamp>)")
    add("--out", default=str(HERE / "results"), help="results JSON + Markdown")
    add("--seed", type=int, default=1)
    add("--leads", type=int, default=3000)
    add("--activities", type=int, default=20000)
    add("--programs", type=int, default=6)
    add("--days", type=int, default=182, help="days of data, ending at the last UTC midnight")
    add("--job-seconds", type=float, default=1.0, help="processing time of every export job")
    add("--max-calls-per-20s", type=int, default=100000,
        help="sandbox rate limit (default generous: polling is compressed 300x)")
    add("--run-timeout", type=float, default=1800.0, help="seconds before a tap run is killed")
    add("--render", metavar="JSON", help="only rewrite the Markdown from a results JSON file")
    args = parser.parse_args(argv)
    if args.render:
        report = markdown(json.loads(Path(args.render).read_text()))
        (Path(args.render).parent / "latest.md").write_text(report + "\n")
        print(report)
        return 0

    scenarios = [s for s in args.only.split(",") if s]
    families = {f for f in args.taps.split(",") if f}
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    work = Path(args.workdir or f"/tmp/compare-runs/{stamp}")
    work.mkdir(parents=True, exist_ok=True)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    pythons: dict[str, Path] = {}
    versions = {"tap-marketo-bulk": dist_version("tap-marketo-bulk"),
                "singer-sdk": dist_version("singer-sdk"), "python": sys.version.split()[0]}
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    if commit:
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--",
                                "tap_marketo_bulk", ":!tap_marketo_bulk/sandbox"],
                               capture_output=True, text=True, check=False).stdout.strip()
        versions["tap-marketo-bulk"] += f" ({commit}{' + uncommitted changes' if dirty else ''})"
    for family in ("singer", "airbyte"):
        if family in families:
            pythons[family] = ensure_venv(Path(args.venvs), family, args.latest, args.python)
            meta = COMPETITORS[family]
            versions.update(dist_versions(pythons[family], [meta["dist"], *meta["extra_dists"]]))
    say(f"versions: {versions}")

    cfg = sandbox_config(args)
    say(f"sandbox: {cfg.leads} leads, {cfg.activities} activities, {cfg.programs} programs, "
        f"{cfg.data_start} .. {cfg.data_end}, job {cfg.job_seconds}s, status refresh "
        f"{cfg.status_refresh_seconds}s, {cfg.max_calls_per_20s} calls/20s")
    catalogs = discover_catalogs(cfg, pythons, work)
    ctx = Context(args, cfg, pythons, catalogs, work)

    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "versions": versions,
        "sandbox": {"seed": cfg.seed, "leads": cfg.leads, "activities": cfg.activities,
                    "programs": cfg.programs, "members_per_program": cfg.members_per_program,
                    "data_start": cfg.data_start, "data_end": cfg.data_end,
                    "job_seconds": cfg.job_seconds,
                    "status_refresh_seconds": cfg.status_refresh_seconds,
                    "max_calls_per_20s": cfg.max_calls_per_20s, "poll_seconds": POLL_SECONDS},
        "workdir": str(work), "scenarios": {},
    }
    for scenario in scenarios:
        for key in SCENARIOS[scenario]:
            variant = VARIANTS[key]
            if variant.family not in families:
                continue
            say(f"{scenario}: {variant.tap} {variant.note}".rstrip())
            result = RUNNERS[scenario](ctx, variant)
            results["scenarios"].setdefault(scenario, []).append(result)
            say(f"  exit {result['exit_code']}, {result['wall_seconds']} s, jobs "
                f"{fmt_jobs(result['jobs'])}, " + ", ".join(
                    f"{s} {fmt_stream(c)}" for s, c in result["correctness"].items()))
            (out_dir / "latest.json").write_text(json.dumps(results, indent=1, default=str))
    (out_dir / "latest.json").write_text(json.dumps(results, indent=1, default=str))
    report = markdown(results)
    (out_dir / "latest.md").write_text(report + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
