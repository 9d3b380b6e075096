"""Custom objects against the sandbox: every lead-linked object as its own incremental stream.

The sandbox holds two lead-linked objects (`car_c`, `course_c`: every dataType between them,
CRM-id references, tricky text) and one linked to companies (`companyAsset_c`), which bulk
export refuses. Its truth types values as Marketo documents them, not as the tap's schema does.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
import time
import typing as t
from collections.abc import Callable
from pathlib import Path

import pytest

from tap_marketo_bulk.errors import ConfigError
from tap_marketo_bulk.export.windows import Window, parse_datetime, plan_windows
from tests.e2e.harness import by_key, catalog_with, duplicates, run_tap, tap_config
from tests.e2e.test_tap_resume import (
    REPO_ROOT,
    TapProcess,
    bookmarks_of,
    in_flight_of,
    wait_for,
)

if t.TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox

pytestmark = pytest.mark.e2e

# Six 31-day windows per object, 150 rows each: a run takes about a second.
SANDBOX: dict[str, t.Any] = {
    "seed": 21,
    "leads": 200,
    "activities": 200,
    "programs": 1,
    "members_per_program": 5,
    "custom_object_rows": 150,
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-06-30T23:59:59Z",
}
OBJECTS = ("car_c", "course_c")
STREAMS = tuple(f"custom_{name}" for name in OBJECTS)
DESELECTED = ["price", "notes", "crmAccountId"]  # of custom_car_c
KEY: Callable[[dict], t.Any] = lambda r: r["marketoGUID"]  # noqa: E731


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(**SANDBOX)


def object_jobs(sb: Sandbox, name: str, since: int = 0) -> list[dict]:
    return [j for j in sb.client_stats()["jobs"][since:] if j["object"] == f"customobjects/{name}"]


def plan_windows_of(config: dict) -> list[Window]:
    start, end = parse_datetime(config["start_date"]), parse_datetime(config["end_date"])
    return plan_windows(start, end, 31)


def window_count(config: dict) -> int:
    return len(plan_windows_of(config))


def assert_equal_truth(sb: Sandbox, records_by_stream: dict[str, list[dict]]) -> None:
    for stream, records in records_by_stream.items():
        truth = sb.truth.custom_objects[stream.removeprefix("custom_")]
        assert duplicates(records, KEY) == [], f"{stream}: duplicates"
        assert len(records) == len(truth), stream
        assert by_key(records, KEY) == by_key(truth, KEY), stream


def test_custom_objects_equal_truth_send_only_selected_fields_and_rerun_adds_nothing(
    sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    config = tap_config(sb)
    caplog.set_level(logging.INFO)
    catalog = catalog_with(config, only=STREAMS, deselect={"custom_car_c": DESELECTED})
    streams = {entry["tap_stream_id"]: entry for entry in catalog["streams"]}
    assert {s for s in streams if s.startswith("custom_")} == set(STREAMS)
    for stream in STREAMS:
        entry = streams[stream]
        assert entry["key_properties"] == ["marketoGUID"]
        assert entry["replication_key"] == "updatedAt"
    car = streams["custom_car_c"]["schema"]["properties"]
    # Types from the describe through the leads' type map; a reference is a CRM id string.
    assert car["crmAccountId"]["type"] == ["string", "null"]
    assert car["year"]["type"] == ["integer", "null"]
    assert car["price"]["type"] == ["number", "null"]
    assert car["purchaseDate"]["format"] == "date"
    assert "Custom objects not exported" in caplog.text
    assert "companyAsset_c (linked to Company)" in caplog.text

    run = run_tap(config, catalog=catalog)
    assert run.error is None, repr(run.error)
    course = run.records("custom_course_c")
    assert_equal_truth(sb, {"custom_course_c": course})
    # The hard values arrive as Marketo holds them.
    values = {v for r in course for v in r.values()}
    assert {"0015000000aBcDeAAA", "001656783185136518", "02134", "nul\x00byte"} <= values
    assert "line\u2028separator" in values and 12.5 in values

    cars = run.records("custom_car_c")
    truth = [
        {k: v for k, v in row.items() if k not in DESELECTED}
        for row in sb.truth.custom_objects["car_c"]
    ]
    assert duplicates(cars, KEY) == []
    assert by_key(cars, KEY) == by_key(truth, KEY)

    windows = window_count(config)
    for name in OBJECTS:
        jobs = object_jobs(sb, name)
        assert len(jobs) == windows and all(j["status"] == "Completed" for j in jobs)
        assert all(set(j["filter"]) == {"updatedAt"} for j in jobs)
    for job in object_jobs(sb, "car_c"):
        assert not set(DESELECTED) & set(job["fields"]), job["fields"]
        assert {"marketoGUID", "updatedAt"} <= set(job["fields"])
    assert object_jobs(sb, "companyAsset_c") == []  # never asked for: Marketo refuses it

    state = run.final_state
    for stream in STREAMS:
        assert state["bookmarks"][stream]["replication_key_value"] == config["end_date"]
        assert state["bookmarks"][stream]["in_flight"] == {}

    since = len(sb.client_stats()["jobs"])
    second = run_tap(config, state=state, catalog=catalog)
    assert second.error is None, repr(second.error)
    assert all(second.records(stream) == [] for stream in STREAMS)
    assert sb.client_stats()["jobs"][since:] == []


def test_changes_after_the_bookmark_come_in_the_next_run(sb: Sandbox) -> None:
    first_end = "2024-03-31T23:59:59Z"
    # No reconcile in between (tests/e2e/test_reconcile_*.py): the next run's windows only.
    config = tap_config(sb, end_date=first_end, reconcile_every_days=3650)
    catalog = catalog_with(config, only=STREAMS)
    first = run_tap(config, catalog=catalog)
    assert first.error is None, repr(first.error)
    config = tap_config(sb, reconcile_every_days=3650)
    since = len(sb.client_stats()["jobs"])
    second = run_tap(config, state=first.final_state, catalog=catalog)
    assert second.error is None, repr(second.error)
    for stream in STREAMS:
        truth = sb.truth.custom_objects[stream.removeprefix("custom_")]
        early = first.records(stream)
        late = second.records(stream)
        assert {KEY(r) for r in early} == {KEY(r) for r in truth if r["updatedAt"] <= first_end}
        assert {KEY(r) for r in late} == {KEY(r) for r in truth if r["updatedAt"] > first_end}
        jobs = object_jobs(sb, stream.removeprefix("custom_"), since)
        # Only windows after the bookmark: none starts before it.
        assert jobs and all(j["filter"]["updatedAt"]["startAt"] > first_end for j in jobs)

    # Rows changed after the last run come in the next one, with their new values.
    later_end = "2024-07-10T23:59:59Z"
    changed = sb.mutate_custom_objects(7, between=("2024-07-01T00:00:00Z", later_end))
    now = {s: by_key(sb.truth.custom_objects[s.removeprefix("custom_")], KEY) for s in STREAMS}
    third = run_tap({**config, "end_date": later_end}, state=second.final_state, catalog=catalog)
    assert third.error is None, repr(third.error)
    for stream in STREAMS:
        name = stream.removeprefix("custom_")
        records = third.records(stream)
        assert sorted(KEY(r) for r in records) == sorted(changed[name]) and len(records) == 7
        assert by_key(records, KEY) == {g: now[stream][g] for g in changed[name]}
        earlier = by_key(first.records(stream) + second.records(stream), KEY)
        assert all(earlier[g] != now[stream][g] for g in changed[name])
        bookmark = third.final_state["bookmarks"][stream]["replication_key_value"]
        assert bookmark == later_end


def test_rows_a_boundary_case_returns_in_two_windows_are_emitted_once(
    sandbox_factory: Callable[..., Sandbox], caplog: pytest.LogCaptureFixture
) -> None:
    # Marketo's edge cases return some rows in two adjacent windows (api-notes §6).
    sb = sandbox_factory(**{**SANDBOX, "custom_object_edge_slack_seconds": 1})
    caplog.set_level(logging.INFO)
    # Oldest first: the windows then start where the sandbox puts its edge rows (data_start +
    # k x 31 days); newest-first windows are aligned on the end instead.
    config = tap_config(sb, backfill_order="oldest_first")
    run = run_tap(config, catalog=catalog_with(config, only=STREAMS))
    assert run.error is None, repr(run.error)
    assert_equal_truth(sb, {s: run.records(s) for s in STREAMS})
    for name in OBJECTS:
        in_files = sum(j["records"] for j in object_jobs(sb, name))
        assert in_files > len(sb.truth.custom_objects[name]), "no row came twice"
        dropped = in_files - len(sb.truth.custom_objects[name])
        assert f"custom_{name}: dropped" in caplog.text
        assert re.search(rf"custom_{name} summary: .*, {dropped} duplicates dropped", caplog.text)


def test_custom_objects_setting_chooses_the_objects(sb: Sandbox) -> None:
    config = tap_config(sb, custom_objects=["course_c"])
    catalog = catalog_with(config)
    assert [e for e in catalog["streams"] if e["tap_stream_id"].startswith("custom_")] == [
        e for e in catalog["streams"] if e["tap_stream_id"] == "custom_course_c"
    ]
    none = catalog_with(tap_config(sb, custom_objects=[]))
    assert not [e for e in none["streams"] if e["tap_stream_id"].startswith("custom_")]

    unknown = run_tap(tap_config(sb, custom_objects=["nope_c"]))
    assert isinstance(unknown.error, ConfigError)
    assert str(unknown.error).startswith("custom_objects: no custom object with API name 'nope_c'")


def test_a_company_linked_object_named_in_the_setting_ends_in_one_line(
    sb: Sandbox, tmp_path: Path
) -> None:
    config = tap_config(sb, custom_objects=["car_c", "companyAsset_c"])
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    done = subprocess.run(
        [sys.executable, "-m", "tap_marketo_bulk", "--config", str(path), "--discover"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "custom_objects: 'companyAsset_c' is linked to Company, not to leads" in last
    assert config["client_secret"] not in done.stderr


@pytest.mark.parametrize(
    ("switch", "warning"),
    [
        ({"custom_objects": False}, "this Marketo instance has no lead-linked custom objects"),
        ({"custom_object_access": False}, "'Read-Only Custom Object' permission"),
    ],
)
def test_an_instance_without_custom_objects_warns_and_runs_green(
    sandbox_factory: Callable[..., Sandbox],
    caplog: pytest.LogCaptureFixture,
    switch: dict,
    warning: str,
) -> None:
    sb = sandbox_factory(**{**SANDBOX, **switch})
    config = tap_config(sb)
    run = run_tap(config)  # no catalog: every stream the tap discovers
    assert run.error is None, repr(run.error)
    assert not [m for m in run.messages if m.get("stream", "").startswith("custom_")]
    assert len(run.records("leads")) == len(sb.truth.leads)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(warning in r.getMessage() for r in warnings), caplog.text
    if not switch.get("custom_object_access", True):
        assert sb.client_stats()["errors"].get("603", 0) >= 1


def test_custom_object_jobs_share_the_queue_limits_with_the_other_streams(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    # Jobs that take a moment, so leads and custom objects would pile up without the limits.
    sb = sandbox_factory(**{**SANDBOX, "job_seconds": 0.05})
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_with(config, only=["leads", *STREAMS]))
    assert run.error is None, repr(run.error)
    assert_equal_truth(sb, {s: run.records(s) for s in STREAMS})
    assert len(run.records("leads")) == len(sb.truth.leads)
    stats = sb.client_stats()
    objects = {j["object"] for j in stats["jobs"]}
    assert {"leads", "customobjects/car_c", "customobjects/course_c"} <= objects
    assert stats["max_processing_at_once"] == 2
    # max_queued_jobs (2) more than the two Processing may wait Queued.
    assert stats["max_queued_plus_processing_at_once"] <= 4


# ----- faults ------------------------------------------------------------------------------------


def test_1029_queue_full_backs_off_for_custom_objects(
    sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sb.faults.queue_full = 3
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_with(config, only=STREAMS))
    assert run.error is None, repr(run.error)
    assert_equal_truth(sb, {s: run.records(s) for s in STREAMS})
    stats = sb.client_stats()
    assert stats["errors"].get("1029") == 3
    jobs = [j for name in OBJECTS for j in object_jobs(sb, name)]
    assert stats["enqueue_calls"] == len(jobs) + 3
    assert set(stats["exports_per_window"].values()) == {1}  # no window exported twice
    assert caplog.text.count("Too many jobs in queue; trying again") == 3


def test_dropped_download_of_a_custom_object_file_resumes_with_range(sb: Sandbox) -> None:
    sb.faults.drop_download = 2
    sb.faults.drop_download_fraction = 0.5
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_with(config, only=STREAMS))
    assert run.error is None, repr(run.error)
    assert_equal_truth(sb, {s: run.records(s) for s in STREAMS})
    assert sb.faults.drop_download == 0
    files = [j for name in OBJECTS for j in object_jobs(sb, name) if j["records"]]
    stats = sb.client_stats()
    assert stats["file_calls"] == len(files) + 2
    # Resumed from the byte the connection dropped at: no byte sent twice.
    assert stats["bytes_downloaded"] == sum(j["bytes"] for j in files)


def test_sigkill_mid_run_then_resume_custom_objects(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sb = sandbox_factory(**{**SANDBOX, "job_seconds": 0.3})
    # Oldest first, the order this test spells out (newest first: test_backfill_days.py).
    config = tap_config(sb, poll_interval_seconds=0.1, backfill_order="oldest_first")
    catalog = catalog_with(config, only=STREAMS)

    def a_window_done_and_jobs_in_flight(output: t.Any, message: dict) -> bool:
        if message["type"] != "STATE":
            return False
        return len(bookmarks_of(message["value"])) >= 1 and bool(in_flight_of(message["value"]))

    first = TapProcess(tmp_path, config, catalog, None, "first")
    reached = first.read_until(a_window_done_and_jobs_in_flight)
    first.process.send_signal(signal.SIGKILL)
    killed_at = time.time()
    code = first.finish()
    assert reached, first.stderr_tail()
    assert code == -signal.SIGKILL
    state = first.output.last_state
    bookmarks, in_flight = bookmarks_of(state), in_flight_of(state)
    assert bookmarks and in_flight
    assert all(value < config["end_date"] for value in bookmarks.values()), "killed too late"
    ids = set(in_flight.values())
    wait_for(
        lambda: all(
            j["status"] == "Completed" for j in sb.client_stats()["jobs"] if j["export_id"] in ids
        )
    )

    second = TapProcess(tmp_path, config, catalog, state, "second")
    assert second.finish() == 0, second.stderr_tail()
    for stream in STREAMS:
        assert duplicates(second.output.records(stream), KEY) == []
        union = {KEY(r): r for r in first.output.records(stream)}
        for record in second.output.records(stream):
            assert union.setdefault(KEY(record), record) == record
        truth = sb.truth.custom_objects[stream.removeprefix("custom_")]
        assert union == by_key(truth, KEY), stream
        final = second.output.last_state["bookmarks"][stream]
        assert final["replication_key_value"] == config["end_date"]
        assert final["in_flight"] == {}
    for (stream, window_key), export_id in in_flight.items():
        # Re-attached, not exported again: still the only job of its window.
        name = stream.removeprefix("custom_")
        jobs = [j for j in object_jobs(sb, name) if j["filter_key"] == window_key]
        assert [(j["export_id"], j["status"]) for j in jobs] == [(export_id, "Completed")]
    for stream, bookmark in bookmarks.items():
        # Windows the first run finished: no job of the second run.
        name = stream.removeprefix("custom_")
        late = [j for j in object_jobs(sb, name) if j["created_at"] >= killed_at]
        assert all(j["filter"]["updatedAt"]["startAt"] > bookmark for j in late)
        # ... and each was exported exactly once. (A job whose JobSubmitted STATE the kill cut
        # off is unknown to the second run, so only finished windows can be held to this.)
        exports = sb.client_stats()["exports_per_window"]
        done = [w for w in plan_windows_of(config) if w.key.split("/")[1] <= bookmark]
        assert done
        assert all(exports[(f"customobjects/{name}", w.key)] == 1 for w in done)
