#!/usr/bin/env python3
"""The demo: `python3 scripts/demo.py` - a full extract from a local Marketo stand-in into JSONL.

Needs only Python 3.10+ and PyPI (standard library only, so it runs on a fresh machine):

1. `.venv`: the tap and its sandbox (`pip install -e .`), reused while pyproject.toml is unchanged.
2. `.venv-target-jsonl`: the loader, in a venv of its own because target-jsonl pins
   jsonschema 2.6, simplejson 3.11 and the old `backoff` 1.8, which clash with singer-sdk.
3. Starts `tap-marketo-bulk-sandbox --port 0 --json` (5,000 leads, 20,000 activities, 10 programs,
   Marketo's job timing sped up), runs `tap-marketo-bulk --config ... | target-jsonl --config ...`,
   counts the records written per stream next to the sandbox's ground truth, stops the sandbox.

Exits non-zero when a stream's record count or keys differ from the truth. Output lands in
output/demo/ (one .jsonl per stream, plus the tap's log and the final state).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAP_VENV = ROOT / ".venv"
TARGET_VENV = ROOT / ".venv-target-jsonl"
TARGET_SPEC = "target-jsonl==0.1.4"
OUTPUT = ROOT / "output" / "demo"
BIN = "Scripts" if os.name == "nt" else "bin"
RUN_TIMEOUT = 600  # seconds for the whole extract; it takes a few here

# Stream -> key columns: a key seen twice in the output is a duplicate record.
STREAMS = {
    "leads": ("id",),
    "activities": ("marketoGUID",),
    "program_members": ("leadId", "programId"),
    "programs": ("id",),
    "activity_types": ("id",),
    "deleted_leads": ("id",),
    "merged_leads": ("mergedLeadId",),
    "custom_car_c": ("marketoGUID",),
    "custom_course_c": ("marketoGUID",),
    "campaigns": ("id",),
    "lists": ("id",),
    "list_members": ("listId", "leadId"),
    "emails": ("id",),
    "segmentations": ("id",),
    "segments": ("id",),
    "program_tokens": ("programId", "name"),
    "forms": ("id",),
    "form_fields": ("formId", "id"),
    "landing_pages": ("id",),
    "email_templates": ("id",),
    "snippets": ("id",),
    "files": ("id",),
    "folders": ("id", "type"),
    "smart_lists": ("id",),
    "smart_campaigns": ("id",),
    "channels": ("id",),
    "tag_types": ("tagType",),
    "program_tags": ("programId", "tagType"),
    "program_costs": ("programId", "seq"),
    "api_usage": ("date", "userId"),
}

# Asks the sandbox for its ground truth: the data is a pure function of the CLI arguments, so an
# instance built (not started) from the same arguments holds exactly what the server serves.
TRUTH_PROGRAM = """
import json, sys
from tap_marketo_bulk.sandbox.cli import build_parser, config_from_args
from tap_marketo_bulk.sandbox import Sandbox
sandbox = Sandbox(config_from_args(build_parser().parse_args(sys.argv[1:])))
counts = sandbox.truth.counts()
linked = [d["name"] for d in sandbox.truth.custom_object_definitions
          if any(r["relatedTo"]["name"] == "Lead" for r in d["relationships"])]
counts.update({f"custom_{name}": len(sandbox.truth.custom_objects[name]) for name in linked})
print(json.dumps(counts))
"""


def say(message: str) -> None:
    print(f"demo: {message}", flush=True)


def fingerprint(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()


def venv_python_version(python: Path) -> str | None:
    probe = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=False,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_venv(path: Path, requirements: list[str], stamp_source: str) -> Path:
    """Create `path` and pip-install `requirements`, skipped when the stamp says it's current."""
    python = path / BIN / "python"
    stamp = path / ".demo-stamp"
    want = fingerprint(sys.version, stamp_source, *requirements)
    if python.exists() and stamp.exists() and stamp.read_text() == want:
        return python
    started = time.monotonic()
    current = "{}.{}".format(*sys.version_info[:2])
    if python.exists() and venv_python_version(python) != current:
        # Made by another Python (or broken): a venv can't be moved across versions.
        say(f"recreating {path.name} for Python {sys.version.split()[0]}")
        shutil.rmtree(path)
    if not python.exists():
        say(f"creating {path.name}")
        venv.EnvBuilder(with_pip=True, clear=True).create(path)
    say(f"installing {' '.join(requirements)} into {path.name} (first run: about a minute)")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         *requirements],
        cwd=ROOT, check=True,
    )
    stamp.write_text(want)
    say(f"{path.name} ready in {time.monotonic() - started:.0f} s")
    return python


def read_json_line(process: subprocess.Popen[str], timeout: float) -> dict:
    """The sandbox's first stdout line (its connection details), or fail if it never comes."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            if line:
                return json.loads(line)
        if process.poll() is not None:
            break
    raise RuntimeError("the sandbox did not print its connection details")


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def count_output(stream: str) -> tuple[int, int]:
    """(records, distinct keys) written for `stream`."""
    path = OUTPUT / f"{stream}.jsonl"
    if not path.exists():
        return 0, 0
    records = 0
    keys = set()
    # newline="\n": one record per "\n"; a CR inside a value must not end a line.
    with path.open(encoding="utf-8", newline="\n") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                records += 1
                keys.add(tuple(str(record.get(column)) for column in STREAMS[stream]))
    return records, len(keys)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--activities", type=int, default=20000)
    parser.add_argument("--programs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    # Six months: six 31-day windows per bulk stream, few enough API calls to stay under the
    # tap's limit of 100 calls per 20 s, so the whole extract takes seconds.
    parser.add_argument("--data-start", default="2024-01-01T00:00:00Z")
    parser.add_argument("--data-end", default="2024-06-30T23:59:59Z")
    args = parser.parse_args()
    # Run by whatever `python3` a machine has: say so plainly instead of failing somewhere deep.
    if sys.version_info < (3, 10):  # noqa: UP036
        say("Python 3.10 or newer is needed")
        return 2

    started = time.monotonic()
    tap_python = ensure_venv(TAP_VENV, ["-e", str(ROOT)], (ROOT / "pyproject.toml").read_text())
    target_python = ensure_venv(TARGET_VENV, [TARGET_SPEC], "")
    tap_bin = tap_python.parent

    sandbox_args = [
        "--seed", str(args.seed), "--leads", str(args.leads),
        "--activities", str(args.activities), "--programs", str(args.programs),
        "--data-start", args.data_start, "--data-end", args.data_end,
        # Marketo refreshes job status once a minute; the demo can't wait that long.
        "--status-refresh-seconds", "0.02", "--latency-seconds", "0.001",
        "--max-calls-per-20s", "100000",
    ]
    truth_run = subprocess.run(
        [str(tap_python), "-c", TRUTH_PROGRAM, *sandbox_args],
        check=False, capture_output=True, text=True,
    )
    if truth_run.returncode != 0:
        last_line = (truth_run.stderr.strip().splitlines() or ["(no message)"])[-1]
        say(f"the sandbox refused these settings: {last_line}")
        return 1
    truth = json.loads(truth_run.stdout)

    if OUTPUT.exists():
        shutil.rmtree(OUTPUT)  # target-jsonl appends: start from nothing
    OUTPUT.mkdir(parents=True)
    say(f"starting the sandbox ({args.leads} leads, {args.activities} activities,"
        f" {args.programs} programs, {args.data_start[:10]}..{args.data_end[:10]})")
    sandbox = subprocess.Popen(
        [str(tap_bin / "tap-marketo-bulk-sandbox"), "--port", "0", "--json", *sandbox_args],
        stdout=subprocess.PIPE, stderr=open(OUTPUT / "sandbox.log", "w"),  # noqa: SIM115
        stdin=subprocess.DEVNULL, text=True,
    )
    try:
        try:
            details = read_json_line(sandbox, timeout=120)
        except (RuntimeError, ValueError) as exc:
            say(f"{exc}:")
            print(tail(OUTPUT / "sandbox.log"), file=sys.stderr)
            return 1
        say(f"sandbox at {details['base_url']}")
        with tempfile.TemporaryDirectory(prefix="tap-marketo-bulk-demo-") as tmp:
            tap_config = Path(tmp) / "tap.json"
            tap_config.write_text(json.dumps({
                "base_url": details["base_url"],
                "client_id": details["client_id"],
                "client_secret": details["client_secret"],
                "start_date": args.data_start,
                "end_date": args.data_end,
                "poll_interval_seconds": 0.05,
                "queue_backoff_seconds": 0.1,
                "max_calls_per_20s": 100,
                # The sandbox finishes a job in milliseconds; never wait Marketo's 3 hours.
                "job_timeout_seconds": 120,
            }))
            target_config = Path(tmp) / "target.json"
            target_config.write_text(json.dumps({
                "destination_path": str(OUTPUT), "do_timestamp_file": False,
            }))
            say("running tap-marketo-bulk | target-jsonl")
            run_started = time.monotonic()
            with open(OUTPUT / "tap.log", "w") as tap_log, \
                    open(OUTPUT / "target.log", "w") as target_log, \
                    open(OUTPUT / "state.json", "w") as state_out:
                tap = subprocess.Popen(
                    [str(tap_bin / "tap-marketo-bulk"), "--config", str(tap_config)],
                    stdout=subprocess.PIPE, stderr=tap_log, stdin=subprocess.DEVNULL,
                )
                target = subprocess.Popen(
                    [str(target_python.parent / "target-jsonl"), "--config", str(target_config)],
                    stdin=tap.stdout, stdout=state_out, stderr=target_log,
                )
                assert tap.stdout is not None
                tap.stdout.close()  # the target owns the pipe now: it sees EOF when the tap ends
                try:
                    target_status = target.wait(timeout=RUN_TIMEOUT)
                    tap_status = tap.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    say(f"no result after {RUN_TIMEOUT} s: stopping the pipeline")
                    for process in (tap, target):
                        process.kill()
                        process.wait()
                    target_status = tap_status = -1
            elapsed = time.monotonic() - run_started
    finally:
        stop(sandbox)

    if tap_status != 0 or target_status != 0:
        say(f"the pipeline failed (tap exit {tap_status}, target exit {target_status})")
        print(tail(OUTPUT / "tap.log"), file=sys.stderr)
        print(tail(OUTPUT / "target.log"), file=sys.stderr)
        return 1

    say(f"extracted in {elapsed:.1f} s; output in {OUTPUT.relative_to(ROOT)}/")
    print()
    print(f"{'stream':<18}{'loaded':>10}{'sandbox truth':>15}  result")
    failures = 0
    for stream in STREAMS:
        records, keys = count_output(stream)
        expected = truth.get(stream)
        ok = records == expected and keys == records
        failures += not ok
        note = "ok" if ok else ("DUPLICATES" if keys != records else "MISMATCH")
        expected_text = f"{expected:,}" if expected is not None else "?"
        print(f"{stream:<18}{records:>10,}{expected_text:>15}  {note}")
    print()
    total = time.monotonic() - started
    if failures:
        say(f"{failures} stream(s) differ from the sandbox's truth (see output/demo/tap.log)")
        return 1
    say(f"every stream matches the sandbox's truth ({total:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
