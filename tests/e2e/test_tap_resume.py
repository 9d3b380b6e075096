"""A tap killed mid-run resumes from its last STATE: the real CLI as a subprocess (issue #5).

The sandbox runs in the test process with some job latency, so a run takes a few seconds and the
test can kill it after a few windows. The second run starts from the last STATE message the first
one wrote: together both runs emit exactly the ground truth, windows the first run finished are
never exported again, and jobs that STATE holds in flight are re-attached, not created again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import typing as t
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tap_marketo_bulk.export.windows import Window, parse_datetime, plan_windows
from tests.e2e.harness import catalog_with, duplicates, tap_config

if t.TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
# Six 31-day windows per stream, each job ~0.3 s on the sandbox: a run lasts a few seconds.
SANDBOX: dict[str, t.Any] = {
    "seed": 13,
    "leads": 400,
    "activities": 800,
    "programs": 2,
    "members_per_program": 5,
    "status_refresh_seconds": 0.02,
    "job_seconds": 0.3,
    "max_calls_per_20s": 100_000,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-06-30T23:59:59Z",
}
STREAMS = ("leads", "activities")
OBJECTS = {"leads": "leads", "activities": "activities"}
KEYS: dict[str, Callable[[dict], t.Any]] = {
    "leads": lambda r: r["id"],
    "activities": lambda r: r["marketoGUID"],
}
RUN_TIMEOUT = 60.0
ACTIVE = ("Created", "Queued", "Processing")


@dataclass
class Output:
    """What a tap process wrote to stdout, whole lines only."""

    messages: list[dict] = field(default_factory=list)

    def add_line(self, line: str) -> dict | None:
        if not line.endswith("\n"):  # cut off by the kill: never reached a target either
            return None
        message = json.loads(line)
        self.messages.append(message)
        return message

    def records(self, stream: str) -> list[dict]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def last_state(self) -> dict:
        return [m["value"] for m in self.messages if m["type"] == "STATE"][-1]


class TapProcess:
    """The tap's CLI (`--config ... --catalog ... [--state ...]`), stdout read live; its 20 s call
    window compressed like the sandbox's clock (tests/e2e/compressed_cli.py), so a run past 100
    calls (the forecast's REST samples count too) does not idle 20 s of real time on its limit."""

    def __init__(
        self, workdir: Path, config: dict, catalog: dict, state: dict | None, name: str
    ) -> None:
        files = {"config": config, "catalog": catalog, "state": state}
        args = [sys.executable, "-m", "tests.e2e.compressed_cli"]
        for option, content in files.items():
            if content is not None:
                path = workdir / f"{name}-{option}.json"
                path.write_text(json.dumps(content))
                args += [f"--{option}", str(path)]
        self.stderr_path = workdir / f"{name}-stderr.log"
        self._stderr = self.stderr_path.open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MARKETO_BULK_")}
        self.process = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
        )
        self.output = Output()
        # A timer, so a tap that hangs fails the test instead of blocking it forever.
        self._watchdog = threading.Timer(RUN_TIMEOUT, self.process.kill)
        self._watchdog.start()

    def read_until(self, done: Callable[[Output, dict], bool]) -> bool:
        """Read messages until `done(output, message)`; False when stdout ended first."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            message = self.output.add_line(line)
            if message is not None and done(self.output, message):
                return True
        return False

    def finish(self) -> int:
        """Read the rest of stdout and wait for the exit code."""
        self.read_until(lambda _output, _message: False)
        code = self.process.wait(timeout=RUN_TIMEOUT)
        self._watchdog.cancel()
        self._stderr.close()
        return code

    def stderr_tail(self, lines: int = 40) -> str:
        return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(**SANDBOX)


@pytest.fixture
def setup(sb: Sandbox) -> tuple[dict, dict]:
    # poll every 0.1 s; queue backoff 0.05 s; the sandbox refreshes statuses every 0.02 s
    # Oldest first, the order these tests spell out (newest first: test_backfill_days.py).
    config = tap_config(sb, poll_interval_seconds=0.1, backfill_order="oldest_first")
    return config, catalog_with(config, only=list(STREAMS))


def windows(config: dict) -> list[Window]:
    return plan_windows(
        parse_datetime(config["start_date"]), parse_datetime(config["end_date"]), 31
    )


def bookmarks_of(state: dict) -> dict[str, str]:
    return {
        stream: bookmark["replication_key_value"]
        for stream, bookmark in state.get("bookmarks", {}).items()
        if isinstance(bookmark, dict) and bookmark.get("replication_key_value")
    }


def in_flight_of(state: dict) -> dict[tuple[str, str], str]:
    return {
        (stream, key): export_id
        for stream, bookmark in state.get("bookmarks", {}).items()
        if isinstance(bookmark, dict)
        for key, export_id in (bookmark.get("in_flight") or {}).items()
    }


def two_windows_finished(output: Output, message: dict) -> bool:
    """Stop after the STATE that finishes a second window (first run: both streams count)."""
    if message["type"] != "STATE":
        return False
    finished = {
        (s, v)
        for m in output.messages
        if m["type"] == "STATE"
        for s, v in bookmarks_of(m["value"]).items()
    }
    return len(finished) >= 2 and bool(in_flight_of(message["value"]))


def window_jobs(sb: Sandbox, stream: str, window_key: str) -> list[dict]:
    return [
        j
        for j in sb.client_stats()["jobs"]
        if j["object"] == OBJECTS[stream] and j["filter_key"].split("|")[0] == window_key
    ]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the sandbox"
        time.sleep(0.02)


def assert_union_is_truth(sb: Sandbox, first: Output, second: Output) -> None:
    truth = {"leads": sb.truth.leads, "activities": sb.truth.activities}
    for stream in STREAMS:
        key = KEYS[stream]
        # No duplicates within a run; across the two runs only what the kill cut short.
        assert duplicates(first.records(stream), key) == [], f"{stream}: duplicates in run 1"
        assert duplicates(second.records(stream), key) == [], f"{stream}: duplicates in run 2"
        union = {key(r): r for r in first.records(stream)}
        for record in second.records(stream):
            assert union.setdefault(key(record), record) == record
        assert union == {key(r): r for r in truth[stream]}, stream


def test_sigkill_mid_run_then_resume_from_the_last_state(
    sb: Sandbox, setup: tuple[dict, dict], tmp_path: Path
) -> None:
    config, catalog = setup
    first = TapProcess(tmp_path, config, catalog, None, "first")
    reached = first.read_until(two_windows_finished)
    first.process.send_signal(signal.SIGKILL)
    killed_at = time.time()
    code = first.finish()
    assert reached, f"the run ended before two windows were done:\n{first.stderr_tail()}"
    assert code == -signal.SIGKILL
    state = first.output.last_state
    bookmarks = bookmarks_of(state)
    in_flight = in_flight_of(state)
    assert bookmarks and in_flight
    assert all(value < config["end_date"] for value in bookmarks.values()), "killed too late"

    # The jobs that STATE holds in flight finish on Marketo while the tap is down (one created
    # but not yet enqueued when the kill came stays Created: the next run enqueues it).
    ids = set(in_flight.values())
    wait_for(
        lambda: all(
            j["status"] in ("Completed", "Created")
            for j in sb.client_stats()["jobs"]
            if j["export_id"] in ids
        )
    )

    second = TapProcess(tmp_path, config, catalog, state, "second")
    assert second.finish() == 0, second.stderr_tail()
    assert_union_is_truth(sb, first.output, second.output)

    rerun_jobs = [j for j in sb.client_stats()["jobs"] if j["created_at"] >= killed_at]
    assert rerun_jobs, "the second run created no job at all"
    exports = sb.client_stats()["exports_per_window"]
    for stream, bookmark in bookmarks.items():
        finished = [w for w in windows(config) if w.key.split("/")[1] <= bookmark]
        assert finished
        for window in finished:
            # Exported once, by the first run; the second run created no job for it.
            jobs = window_jobs(sb, stream, window.key)
            assert [j["status"] for j in jobs] == ["Completed"], (stream, window.key)
            assert jobs[0]["created_at"] < killed_at
            assert (
                sum(
                    n
                    for (obj, key), n in exports.items()
                    if obj == OBJECTS[stream] and key.split("|")[0] == window.key
                )
                == 1
            )
    for (stream, window_key), export_id in in_flight.items():
        # Re-attached: still the only job of its window, and its file was what got emitted.
        jobs = window_jobs(sb, stream, window_key)
        assert [(j["export_id"], j["status"]) for j in jobs] == [(export_id, "Completed")]
    final = second.output.last_state
    for stream in STREAMS:
        assert final["bookmarks"][stream]["replication_key_value"] == config["end_date"]
        assert final["bookmarks"][stream]["in_flight"] == {}


def test_sigterm_cancels_the_jobs_no_state_refers_to(
    sb: Sandbox, setup: tuple[dict, dict], tmp_path: Path
) -> None:
    config, catalog = setup
    tap = TapProcess(tmp_path, config, catalog, None, "term")
    reached = tap.read_until(two_windows_finished)
    assert reached, tap.stderr_tail()
    tap.process.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    code = tap.finish()
    assert time.monotonic() - stopped < 15, "the tap took too long to stop after SIGTERM"
    assert code == 0, tap.stderr_tail()
    assert "Gracefully shutting down" in tap.stderr_path.read_text()

    state = tap.output.last_state
    assert tap.output.messages[-1]["type"] == "STATE"  # the final STATE written on SIGTERM
    kept = set(in_flight_of(state).values())
    assert kept
    jobs = sb.client_stats()["jobs"]
    assert len(jobs) > len(kept)
    for job in jobs:
        if job["export_id"] in kept:
            # Left for the next run to re-attach: never cancelled.
            assert job["status"] != "Cancelled", job
        elif job["status"] != "Completed":
            # Created by the tap, referred to by no state: cancelled, never left running.
            assert job["status"] == "Cancelled", job
    assert not [j for j in jobs if j["status"] in ACTIVE and j["export_id"] not in kept]

    # And the state it left behind is a good starting point: a rerun completes the export.
    second = TapProcess(tmp_path, config, catalog, state, "after-term")
    assert second.finish() == 0, second.stderr_tail()
    assert_union_is_truth(sb, tap.output, second.output)
