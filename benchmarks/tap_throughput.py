"""Tap throughput against the local sandbox: the tap as a subprocess, one stream per run.

`Bench` generates a sandbox (untimed), discovers the catalog once, then `run_tap(stream)` runs
`python -m tap_marketo_bulk --config ... --catalog ...` with stdout to /dev/null through
measure.py (wall time, peak RSS of the tap alone) and splits the wall time with the tap's own log
timestamps:

    startup   process start -> export job created (imports, catalog, describe, create call)
    job wait  job created -> the tap sees it Completed (the sandbox writing the file: not the tap)
    download  Completed -> file downloaded and verified
    emit      downloaded -> process exit (parse, dedupe, encode, write, final state)

    tap seconds = wall - job wait  (the figure records/s and MB/s use)

The data spans one 31-day window and the tap uses window_days=31: one export job per stream.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import typing as t
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tap_marketo_bulk.api.client import MarketoClient  # noqa: E402
from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig  # noqa: E402

MEASURE = Path(__file__).resolve().parent / "measure.py"
DATA_START = "2024-01-01T00:00:00Z"
DATA_END = "2024-01-31T23:59:59Z"  # 31 days: one window, one job per stream
LEAD_COLUMNS = 30  # extra custom lead fields: 58 exportable lead columns in all
OBJECT_PATHS = {"activities": "activities", "leads": "leads"}

_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \| \w+\s*\| \S+\s*\| (.*)$")


@dataclass
class TapRun:
    stream: str
    records: int
    file_bytes: int
    jobs: int
    wall: float
    job_wait: float
    startup: float
    download: float
    emit: float
    peak_rss_mb: float
    exit_code: int
    log: Path

    @property
    def tap_seconds(self) -> float:
        return self.wall - self.job_wait

    @property
    def records_per_second(self) -> float:
        return self.records / self.tap_seconds

    @property
    def mb_per_second(self) -> float:
        return self.file_bytes / 1e6 / self.tap_seconds

    @property
    def emit_records_per_second(self) -> float:
        return self.records / self.emit if self.emit > 0 else 0.0


@dataclass
class FloorRun:
    records: int
    wall: float  # the floor process, interpreter start included (as the tap's is)
    loop: float  # its read-encode-write loop alone
    peak_rss_mb: float

    @property
    def records_per_second(self) -> float:
        return self.records / self.wall


def measured(command: list[str], out_json: Path, stdout: t.Any, stderr: t.Any) -> dict:
    """Run `command` under measure.py; its figures (wall, peak RSS, exit code)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    launcher = [sys.executable, "-S", "-I", str(MEASURE), str(out_json), "--", *command]
    subprocess.run(launcher, stdout=stdout, stderr=stderr, cwd=REPO, env=env, check=True)
    return json.loads(out_json.read_text())


class Bench:
    """A sandbox with `activities` and `leads`, a tap config and one catalog per stream."""

    def __init__(self, *, activities: int, leads: int, seed: int = 7) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="tap-marketo-bench-"))
        started = time.monotonic()
        self.sandbox = Sandbox(
            SandboxConfig(
                seed=seed,
                leads=leads,
                activities=activities,
                lead_columns=LEAD_COLUMNS,
                programs=2,
                members_per_program=5,
                deleted_leads=5,
                static_lists=1,
                data_start=DATA_START,
                data_end=DATA_END,
                status_refresh_seconds=0.05,
                job_seconds=0.0,
                records_per_second=0.0,
                daily_quota_bytes=1 << 40,
            )
        )
        self.generate_seconds = time.monotonic() - started
        self.config_path = self.workdir / "config.json"
        self.catalogs: dict[str, Path] = {}

    def __enter__(self) -> Bench:
        sb = self.sandbox.start()
        config = {
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
            "base_url": sb.base_url,
            "start_date": DATA_START,
            "end_date": DATA_END,
            "window_days": 31,
            "leads_filter": "createdAt",  # one job, no updatedAt probe job
            "poll_interval_seconds": 0.25,  # within the 100 calls / 20 s budget while waiting
            "daily_quota_mb": 1_000_000,
        }
        self.config_path.write_text(json.dumps(config))
        discovered = subprocess.run(
            [
                sys.executable,
                "-m",
                "tap_marketo_bulk",
                "--config",
                str(self.config_path),
                "--discover",
            ],
            capture_output=True,
            check=True,
            cwd=REPO,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
        catalog = json.loads(discovered.stdout)
        for stream in OBJECT_PATHS:
            for entry in catalog["streams"]:
                for md in entry["metadata"]:
                    if md["breadcrumb"] == []:
                        md["metadata"]["selected"] = entry["tap_stream_id"] == stream
            path = self.catalogs[stream] = self.workdir / f"catalog-{stream}.json"
            path.write_text(json.dumps(catalog))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.sandbox.stop()
        for path in sorted(self.workdir.iterdir()):
            path.unlink()
        self.workdir.rmdir()

    def run_tap(self, stream: str, label: str = "") -> TapRun:
        """One tap run of `stream` (stdout to /dev/null), measured."""
        name = f"tap-{stream}{label}"
        log = self.workdir / f"{name}.log"
        command = [
            sys.executable,
            "-m",
            "tap_marketo_bulk",
            "--config",
            str(self.config_path),
            "--catalog",
            str(self.catalogs[stream]),
        ]
        with open(os.devnull, "wb") as devnull, open(log, "wb") as err:
            figures = measured(command, self.workdir / f"{name}.json", devnull, err)
        if figures["exit_code"] != 0:
            raise RuntimeError(
                f"the tap failed ({figures['exit_code']}); see {log}:\n" + log.read_text()[-3000:]
            )
        job = self._last_export(stream)
        phases = _phases(log.read_text(), figures["started"], figures["ended"], job)
        return TapRun(
            stream=stream,
            records=phases.pop("records") or job["records"],
            file_bytes=job["bytes"],
            peak_rss_mb=figures["peak_rss_mb"],
            wall=figures["wall_seconds"],
            exit_code=figures["exit_code"],
            log=log,
            **phases,
        )

    def download(self, stream: str) -> Path:
        """The file of the stream's last export (the one the tap read), downloaded once."""
        job = self._last_export(stream)
        sb = self.sandbox
        client = MarketoClient(sb.base_url, sb.client_id, sb.client_secret)
        path = self.workdir / f"{stream}.csv"
        response = client.open_stream(
            f"/bulk/v1/{OBJECT_PATHS[stream]}/export/{job['export_id']}/file.json"
        )
        with response, open(path, "wb") as file:
            for chunk in response.iter_content(1 << 20):
                file.write(chunk)
        return path

    def run_floor(self, path: Path) -> FloorRun:
        out = self.workdir / f"floor-{path.stem}.out"
        with open(out, "wb") as stdout:
            figures = measured(
                [sys.executable, str(Path(__file__).parent / "floor.py"), str(path)],
                self.workdir / "floor.json",
                stdout,
                None,
            )
        loop = json.loads(out.read_text())
        return FloorRun(
            loop["records"], figures["wall_seconds"], loop["seconds"], figures["peak_rss_mb"]
        )

    def _last_export(self, stream: str) -> dict:
        jobs = [
            j
            for j in self.sandbox.client_stats()["jobs"]
            if j["object"] == OBJECT_PATHS[stream] and j["status"] == "Completed"
        ]
        return max(jobs, key=lambda j: j["finished_at"])


def _phases(log: str, started: float, ended: float, job: dict) -> dict:
    """startup / job wait / download / emit seconds and jobs from the tap's log timestamps.

    Several jobs: the wait counted is the one for the first file (later waits overlap emitting).
    Without the job lines in the log (another log level), the sandbox's job clock stands in and
    the download is counted in emit.
    """
    created = completed = downloaded = None
    jobs = records = 0
    for line in log.splitlines():
        match = _LOG_LINE.match(line)
        if not match:
            continue
        stamp = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time
        message = match[2]
        if "New -> Created" in message and created is None:
            created = stamp
        elif "-> Completed after" in message:
            completed = stamp if completed is None else completed
            jobs += 1
        elif message.startswith("downloaded export") and downloaded is None:
            downloaded = stamp
        elif message.startswith("METRIC: ") and '"record_count"' in message:
            records += json.loads(message.removeprefix("METRIC: "))["value"]
    if created is None or completed is None or downloaded is None:
        created, completed = job["created_at"], job["finished_at"]
        downloaded, jobs = completed, jobs or 1
    return {
        "startup": created - started,
        "job_wait": completed - created,
        "download": downloaded - completed,
        "emit": ended - downloaded,
        "jobs": jobs,
        "records": records,
    }
