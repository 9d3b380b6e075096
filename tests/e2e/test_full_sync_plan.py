"""A full sync in the fewest jobs (issue #11), measured on the sandbox.

The instance's birth (its oldest top-level folder) bounds every window; program members are
exported in full on a first sync (one job per 10 programs) and by updatedAt windows afterwards; the
streams share one pipeline, so a daily run keeps two jobs of different streams Processing at once.
"""

from __future__ import annotations

import math
import signal
import time
import typing as t
from collections.abc import Callable
from pathlib import Path

import pytest

from tap_marketo_bulk.export.windows import parse_datetime
from tests.e2e.harness import by_key, catalog_with, duplicates, run_tap, tap_config
from tests.e2e.test_tap_resume import Output, TapProcess

if t.TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox

pytestmark = pytest.mark.e2e

BULK_STREAMS = ("leads", "activities", "program_members")
SANDBOX: dict[str, t.Any] = {
    "seed": 23,
    "leads": 300,
    "activities": 600,
    "programs": 25,
    "members_per_program": 4,
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-03-31T23:59:59Z",
}


def birth_of(sb: Sandbox) -> str:
    """The instance's birth as Marketo tells it: the oldest createdAt of its top folders."""
    top = [f for f in sb.truth.folders if f["parent"] is None]
    born = min(parse_datetime(f["createdAt"]) for f in top)
    return born.strftime("%Y-%m-%dT%H:%M:%SZ")


def window_start(job: dict) -> str | None:
    for name in ("createdAt", "updatedAt"):
        if name in job["filter"]:
            return str(job["filter"][name]["startAt"])
    return None


def completed(sb: Sandbox, since: float = 0.0) -> list[dict]:
    return [
        j
        for j in sb.client_stats()["jobs"]
        if j["status"] == "Completed" and j["created_at"] >= since
    ]


def assert_equals_truth(sb: Sandbox, records: Callable[[str], list[dict]]) -> None:
    truth = {
        "leads": (sb.truth.leads, lambda r: r["id"]),
        "activities": (sb.truth.activities, lambda r: r["marketoGUID"]),
        "program_members": (sb.truth.program_members, lambda r: (r["leadId"], r["programId"])),
    }
    for stream, (expected, key) in truth.items():
        assert duplicates(records(stream), key) == [], stream
        assert by_key(records(stream), key) == by_key(expected, key), stream


@pytest.mark.parametrize("start_date", ["2020-01-01", None], ids=["early-start-date", "none"])
def test_no_window_starts_before_the_instance_birth(
    sandbox_factory: Callable[..., Sandbox], start_date: str | None
) -> None:
    sb = sandbox_factory(**SANDBOX)
    birth = birth_of(sb)
    config = tap_config(sb, start_date=start_date)
    run = run_tap(config, catalog=catalog_with(config, only=list(BULK_STREAMS)))
    assert run.error is None, repr(run.error)
    assert_equals_truth(sb, run.records)
    jobs = completed(sb)
    starts = [s for s in (window_start(j) for j in jobs) if s is not None]
    assert starts and all(parse_datetime(s) >= parse_datetime(birth) for s in starts)
    # The first window of each windowed stream starts exactly at the birth, not 2020.
    for obj in ("leads", "activities"):
        assert min(window_start(j) for j in jobs if j["object"] == obj) == birth
    # 91 days from the birth: 3 windows each, and 3 full program-member jobs, nothing more.
    per_object = {obj: sum(j["object"] == obj for j in jobs) for obj in ("leads", "activities")}
    assert per_object == {"leads": 3, "activities": 3}


def test_without_asset_permission_start_date_bounds_the_export_with_a_warning(
    sandbox_factory: Callable[..., Sandbox], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    sb = sandbox_factory(**{**SANDBOX, "asset_permission": False})
    config = tap_config(sb, start_date="2024-02-01T00:00:00Z")
    catalog = catalog_with(config, only=["leads"])
    with caplog.at_level("WARNING"):
        run = run_tap(config, catalog=catalog)
    assert run.error is None, repr(run.error)
    assert "could not read the instance's birth" in caplog.text
    assert min(window_start(j) for j in completed(sb)) == "2024-02-01T00:00:00Z"
    # With neither the birth nor start_date, one clear line naming the setting.
    failed = TapProcess(tmp_path, tap_config(sb, start_date=None), catalog, None, "no-start")
    assert failed.finish() == 1
    stderr = failed.stderr_path.read_text()
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].split(" | ")[-1].startswith("start_date: required")


def test_first_program_member_sync_is_in_full_then_updated_at_windows(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sb = sandbox_factory(**SANDBOX)
    # No reconcile in between (tests/e2e/test_reconcile_*.py): the next run's windows only.
    config = tap_config(sb, reconcile_every_days=3650)
    catalog = catalog_with(config, only=["program_members"])
    first = run_tap(config, catalog=catalog)
    assert first.error is None, repr(first.error)
    members = sb.truth.program_members
    assert by_key(first.records("program_members"), lambda r: (r["leadId"], r["programId"])) == (
        by_key(members, lambda r: (r["leadId"], r["programId"]))
    )
    programs = len(sb.truth.programs)
    jobs = [j for j in completed(sb) if j["object"] == "program/members"]
    assert len(jobs) == math.ceil(programs / 10) == 3
    assert all(set(j["filter"]) == {"programIds"} for j in jobs)  # no date filter at all
    assert sorted(p for j in jobs for p in j["filter"]["programIds"]) == sorted(
        int(p["id"]) for p in sb.truth.programs
    )
    state = first.final_state["bookmarks"]["program_members"]
    assert state["replication_key_value"] == "2024-03-31T23:59:58Z"  # the full exports' start

    # The next run: updatedAt windows from there, no full export.
    created_before = {j["export_id"] for j in sb.client_stats()["jobs"]}
    second = run_tap({**config, "end_date": "2024-04-20T00:00:00Z"}, first.final_state, catalog)
    assert second.error is None, repr(second.error)
    later = [
        j
        for j in completed(sb)
        if j["object"] == "program/members" and j["export_id"] not in created_before
    ]
    assert later and all("updatedAt" in j["filter"] for j in later)
    assert {j["filter"]["updatedAt"]["startAt"] for j in later} == {"2024-03-31T23:59:59Z"}
    assert len(later) == 3  # one window, three batches of programs
    final = second.final_state["bookmarks"]["program_members"]
    assert final["replication_key_value"] == "2024-04-20T00:00:00Z"


def test_a_daily_run_keeps_jobs_of_two_streams_processing_at_once_within_limits(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    poll = 0.2
    sb = sandbox_factory(
        **{
            **SANDBOX,
            "programs": 2,
            "status_refresh_seconds": 0.05,
            "job_seconds": 0.4,
            "max_calls_per_20s": 100,
        }
    )
    config = tap_config(sb, poll_interval_seconds=poll, max_calls_per_20s=90)
    catalog = catalog_with(config, only=list(BULK_STREAMS))
    first = run_tap(config, catalog=catalog)
    assert first.error is None, repr(first.error)

    sb.reset_stats()
    started = max(j["created_at"] for j in sb.client_stats()["jobs"])
    daily = run_tap({**config, "end_date": "2024-04-01T23:59:59Z"}, first.final_state, catalog)
    assert daily.error is None, repr(daily.error)
    jobs = completed(sb, since=started + 1e-6)
    # One window per stream (program members: one window for their single batch).
    assert sorted(j["object"] for j in jobs) == ["activities", "leads", "program/members"]
    overlapping_streams = {
        frozenset((a["object"], b["object"]))
        for a in jobs
        for b in jobs
        if a["object"] != b["object"]
        and a["started_at"] < b["finished_at"]
        and b["started_at"] < a["finished_at"]
    }
    assert overlapping_streams, "no two streams' jobs were Processing at the same time"
    client = sb.client_stats()
    assert client["max_processing_at_once"] == 2
    assert client["max_queued_plus_processing_at_once"] <= 3
    assert client["min_poll_interval_seconds"] is not None
    assert client["min_poll_interval_seconds"] >= poll
    assert "606" not in client["errors"]
    for stream in BULK_STREAMS:
        bookmark = daily.final_state["bookmarks"][stream]
        assert bookmark["replication_key_value"] == "2024-04-01T23:59:59Z"
        assert bookmark["in_flight"] == {}


def test_a_crash_between_the_full_exports_resumes_exactly(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sb = sandbox_factory(**{**SANDBOX, "job_seconds": 0.3})
    config = tap_config(sb, poll_interval_seconds=0.1)
    catalog = catalog_with(config, only=["program_members"])

    # The first sync is a reconcile: its progress is in `reconcile` until it finishes.
    def one_batch_done(_output: Output, message: dict) -> bool:
        bookmark = message.get("value", {}).get("bookmarks", {}).get("program_members", {})
        done = (bookmark.get("reconcile") or {}).get("programs")
        return message["type"] == "STATE" and bool(done) and "replication_key_value" not in bookmark

    first = TapProcess(tmp_path, config, catalog, None, "first")
    reached = first.read_until(one_batch_done)
    first.process.send_signal(signal.SIGKILL)
    killed_at = time.time()
    first.finish()
    assert reached, first.stderr_tail()
    state = first.output.last_state
    bookmark = state["bookmarks"]["program_members"]
    done = bookmark["reconcile"]["programs"]
    assert len(done) == 10  # exactly the first batch, and no bookmark yet
    in_flight = dict(bookmark.get("in_flight") or {})

    second = TapProcess(tmp_path, config, catalog, state, "second")
    assert second.finish() == 0, second.stderr_tail()
    key = lambda r: (r["leadId"], r["programId"])  # noqa: E731
    assert duplicates(first.output.records("program_members"), key) == []
    assert duplicates(second.output.records("program_members"), key) == []
    # The second run exports none of the programs the first run finished ...
    assert not {r["programId"] for r in second.output.records("program_members")} & set(done)
    union = by_key(first.output.records("program_members"), key)
    union.update(by_key(second.output.records("program_members"), key))
    assert union == by_key(sb.truth.program_members, key)
    jobs = [j for j in sb.client_stats()["jobs"] if j["object"] == "program/members"]
    rerun = [j for j in jobs if j["created_at"] >= killed_at]
    assert all(not set(j["filter"]["programIds"]) & set(done) for j in rerun)
    assert all(set(j["filter"]) == {"programIds"} for j in jobs)  # full exports only
    # ... and re-attaches the jobs its state held instead of creating them again.
    for state_key, export_id in in_flight.items():
        batch = [int(p) for p in state_key.split("|")[1].split(",")]
        same = [
            j for j in jobs if j["filter"]["programIds"] == batch and j["status"] == "Completed"
        ]
        assert [j["export_id"] for j in same] == [export_id]
    final = second.output.last_state["bookmarks"]["program_members"]
    assert sorted(final["full_export"]["programs"]) == sorted(
        int(p["id"]) for p in sb.truth.programs
    )
    assert final["full_export"]["started_at"] == bookmark["reconcile"]["started_at"]
    assert final["version"] == bookmark["reconcile"]["version"]  # resumed under its version
    assert final["replication_key_value"] == "2024-03-31T23:59:58Z"
