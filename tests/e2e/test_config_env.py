"""`tap-marketo-bulk --config=ENV`: every kind of setting from environment variables, as text.

The tap runs as a user would start it (a subprocess, settings only in TAP_MARKETO_BULK_*), against
the sandbox, and each kind of setting is shown to have been parsed by what it changed: fractional
seconds in the sandbox's poll spacing, integers in the window count and the concurrency the sandbox
saw, a JSON list and a comma-separated list in the records exported, a boolean and an integer
(flattening) and two objects (stream maps and their config) in the records' shape.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
SANDBOX = {
    "seed": 7,
    "leads": 300,
    "activities": 900,
    "programs": 4,
    "members_per_program": 20,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-02-14T23:59:59Z",
    "status_refresh_seconds": 0.02,
    # Long enough for a few status polls per job, so the sandbox measures their spacing.
    "job_seconds": 0.12,
    "max_calls_per_20s": 100_000,
}
# 2024-01-01 .. 2024-02-14 is 45 days: three 15-day windows (two at the default 31). Few jobs keep
# the run under the tap's own limit of 100 calls per 20 s.
WINDOW_DAYS, WINDOWS = 15, 3


def run_with_env(env: dict[str, str], tmp_path: Path) -> tuple[int, list[dict], str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MARKETO_BULK_")}
    out = tmp_path / "out.jsonl"
    with out.open("wb") as stdout:
        done = subprocess.run(
            # The tap's CLI, its call window compressed like the sandbox's clock (compressed_cli).
            [sys.executable, "-m", "tests.e2e.compressed_cli", "--config=ENV"],
            env={**clean, **env, "PYTHONPATH": str(REPO_ROOT)},
            stdout=stdout,
            stderr=subprocess.PIPE,
            timeout=300,
            check=False,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
        )
    # Split on "\n" only: Marketo text may hold U+2028 and friends, which splitlines() splits on.
    lines = out.read_text(encoding="utf-8").split("\n")
    messages = [json.loads(line) for line in lines if line.strip()]
    return done.returncode, messages, done.stderr.decode("utf-8", "replace")


def records(messages: list[dict], stream: str) -> list[dict]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def test_config_env_parses_every_kind_of_setting(
    sandbox_factory: t.Callable[..., t.Any], tmp_path: Path
) -> None:
    sb = sandbox_factory(**SANDBOX)
    programs = [p["id"] for p in sb.truth.programs][:2]
    env = {
        # text
        "TAP_MARKETO_BULK_CLIENT_ID": sb.client_id,
        "TAP_MARKETO_BULK_CLIENT_SECRET": sb.client_secret,
        "TAP_MARKETO_BULK_BASE_URL": sb.base_url,
        "TAP_MARKETO_BULK_START_DATE": SANDBOX["data_start"],
        "TAP_MARKETO_BULK_END_DATE": SANDBOX["data_end"],
        "TAP_MARKETO_BULK_LEADS_FILTER": "createdAt",
        "TAP_MARKETO_BULK_ON_QUOTA_EXHAUSTED": "fail",
        # fractional seconds and other numbers
        "TAP_MARKETO_BULK_POLL_INTERVAL_SECONDS": "0.05",
        "TAP_MARKETO_BULK_QUEUE_BACKOFF_SECONDS": "0.1",
        "TAP_MARKETO_BULK_JOB_TIMEOUT_SECONDS": "300.5",
        "TAP_MARKETO_BULK_REQUEST_TIMEOUT_SECONDS": "30",
        "TAP_MARKETO_BULK_DAILY_QUOTA_MB": "250.5",
        # integers
        "TAP_MARKETO_BULK_WINDOW_DAYS": str(WINDOW_DAYS),
        "TAP_MARKETO_BULK_MAX_CONCURRENT_JOBS": "1",
        "TAP_MARKETO_BULK_MAX_CALLS_PER_20S": "100",
        "TAP_MARKETO_BULK_FLATTENING_MAX_DEPTH": "1",
        # lists: JSON and comma-separated
        "TAP_MARKETO_BULK_ACTIVITY_TYPE_IDS": "[1, 12]",
        "TAP_MARKETO_BULK_PROGRAM_IDS": ",".join(str(p) for p in programs),
        "TAP_MARKETO_BULK_PROGRAM_MEMBER_LEAD_FIELDS": '["email", "firstName"]',
        # boolean
        "TAP_MARKETO_BULK_FLATTENING_ENABLED": "true",
        # objects
        "TAP_MARKETO_BULK_STREAM_MAPS": '{"programs": {"env_tag": "config[\'tag\']"}}',
        "TAP_MARKETO_BULK_STREAM_MAP_CONFIG": '{"tag": "from-env"}',
    }
    code, messages, stderr = run_with_env(env, tmp_path)
    assert code == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    assert sb.client_secret not in stderr

    # Lists: only the activity types and programs given.
    activities = records(messages, "activities")
    expected = [a for a in sb.truth.activities if a["activityTypeId"] in {1, 12}]
    assert expected
    assert sorted(a["marketoGUID"] for a in activities) == sorted(
        a["marketoGUID"] for a in expected
    )
    members = records(messages, "program_members")
    truth_members = {k for k in sb.truth.members_by_key if k[1] in programs}
    assert {(m["leadId"], m["programId"]) for m in members} == truth_members
    leads = {lead["id"]: lead for lead in sb.truth.leads}
    assert all(m["email"] == leads[m["leadId"]]["email"] for m in members)

    # Boolean + integer: nested `attributes` flattened one level into columns.
    assert activities and all("attributes" not in a for a in activities)
    assert any(key.startswith("attributes__") for a in activities for key in a)

    # Objects: a stream map reading its value from stream_map_config.
    programs_out = records(messages, "programs")
    assert programs_out and all(p["env_tag"] == "from-env" for p in programs_out)

    # Integers and fractional seconds, as the sandbox saw them.
    jobs = [j for j in sb.stats["jobs"] if j["object"] == "activities"]
    assert len(jobs) == WINDOWS
    lead_jobs = [j for j in sb.stats["jobs"] if j["object"] == "leads"]
    assert lead_jobs and all("createdAt" in j["filter"] for j in lead_jobs)
    assert sb.stats["max_processing_at_once"] == 1
    assert 0.04 <= sb.stats["min_poll_interval_seconds"] < 0.5
