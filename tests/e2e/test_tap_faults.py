"""The tap against the sandbox with one fault switched on at a time (issue #5).

Every test checks two things: the records equal the sandbox's ground truth with no duplicate, and
the fault really fired (a sandbox counter moved), so a test can never pass because the fault was
silently not triggered. Client-side waits (606: ~20 s, 5xx backoff: 2 s, 4 s, ...) are recorded and
shortened to a few milliseconds so each test stays well under a few seconds.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
import typing as t
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from tap_marketo_bulk import tap as tap_module
from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.errors import ExportJobError, QuotaExceededError
from tap_marketo_bulk.export.windows import ONE_DAY, Window, parse_datetime, plan_windows
from tests.e2e import harness
from tests.e2e.harness import TapRun, by_key, catalog_with, duplicates, run_tap

# Oldest first: these tests name windows, splits and bookmarks in that order (newest first:
# tests/e2e/test_backfill_days.py).
tap_config = functools.partial(harness.tap_config, backfill_order="oldest_first")

if t.TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox

pytestmark = pytest.mark.e2e

# Six 31-day windows per stream, a few hundred records: one run takes ~0.3 s.
SANDBOX: dict[str, t.Any] = {
    "seed": 7,
    "leads": 300,
    "activities": 600,
    "programs": 2,
    "members_per_program": 5,
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-06-30T23:59:59Z",
}
KEYS: dict[str, Callable[[dict], t.Any]] = {
    "leads": lambda r: r["id"],
    "activities": lambda r: r["marketoGUID"],
}
MAX_SLEEP = 0.01  # what a requested client-side wait really lasts in these tests


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(**SANDBOX)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the tap's client asked for (606, backoff, resume, ambiguous create), each one
    cut short to MAX_SLEEP so a test does not sit through Marketo's real 20 s rate window."""
    asked: list[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        time.sleep(min(seconds, MAX_SLEEP))

    monkeypatch.setattr(tap_module, "MarketoClient", functools.partial(MarketoClient, sleep=sleep))
    return asked


def catalog_for(config: dict, streams: t.Iterable[str] = ("leads", "activities")) -> dict:
    return catalog_with(config, only=list(streams))


def truth(sb: Sandbox, stream: str) -> list[dict]:
    return {"leads": sb.truth.leads, "activities": sb.truth.activities}[stream]


def assert_records_equal_truth(sb: Sandbox, records_by_stream: dict[str, list[dict]]) -> None:
    for stream, records in records_by_stream.items():
        key = KEYS[stream]
        assert duplicates(records, key) == [], f"{stream}: duplicate records"
        expected = truth(sb, stream)
        assert len(records) == len(expected), stream
        assert by_key(records, key) == by_key(expected, key), stream


def assert_run_equals_truth(
    sb: Sandbox, run: TapRun, streams: t.Iterable[str] = ("leads", "activities")
) -> None:
    assert run.error is None, repr(run.error)
    assert_records_equal_truth(sb, {s: run.records(s) for s in streams})


def stats(sb: Sandbox) -> dict:
    return sb.client_stats()


def window_jobs(sb: Sandbox) -> list[dict]:
    """The tap's export jobs, the filter probe (one second, fields ["id"]) left out."""
    return [j for j in stats(sb)["jobs"] if j["fields"] != ["id"]]


def completed_exports(sb: Sandbox) -> Counter:
    return Counter(stats(sb)["exports_per_window"])


def nonempty_files(sb: Sandbox) -> list[dict]:
    return [j for j in window_jobs(sb) if j["status"] == "Completed" and j["records"]]


def window_of(job: dict) -> Window:
    span = job["filter"].get("updatedAt") or job["filter"]["createdAt"]
    return Window(parse_datetime(span["startAt"]), parse_datetime(span["endAt"]))


def planned_windows(config: dict) -> list[Window]:
    return plan_windows(
        parse_datetime(config["start_date"]), parse_datetime(config["end_date"]), 31
    )


@contextmanager
def arm_when(
    sb: Sandbox, ready: Callable[[dict], bool], arm: Callable[[], None]
) -> Iterator[threading.Event]:
    """Call `arm()` once `ready(client stats)` holds, from a watcher thread (mid-run faults).

    Yields an Event that is set once armed; the test asserts it, so a fault that never got armed
    fails the test instead of passing unnoticed.
    """
    armed, stop = threading.Event(), threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if ready(sb.client_stats()):
                arm()
                armed.set()
                return
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield armed
    finally:
        stop.set()
        watcher.join(5)


def after_first_enqueue(stats_: dict) -> bool:
    # The leads filter probe (create + cancel) is over and the engine is running its jobs.
    return stats_["enqueue_calls"] >= 1


# ----- rate limit, queue, tokens ------------------------------------------------------------------


def test_606_bursts_wait_for_the_rate_window_and_retry(sb: Sandbox, waits: list[float]) -> None:
    config = tap_config(sb)
    with arm_when(sb, after_first_enqueue, lambda: setattr(sb.faults, "rate_limit_burst", 3)) as a:
        run = run_tap(config, catalog=catalog_for(config))
    assert a.is_set()
    assert_run_equals_truth(sb, run)
    assert stats(sb)["errors"].get("606") == 3
    assert sb.faults.rate_limit_burst == 0
    # Each 606 made the client wait out Marketo's rolling 20 s window before the next attempt.
    assert len([w for w in waits if w >= 20.0]) == 3
    assert set(completed_exports(sb).values()) == {1}


def test_1029_queue_full_backs_off_and_enqueues_again(
    sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sb.faults.queue_full = 3
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_for(config))
    assert_run_equals_truth(sb, run)
    assert stats(sb)["errors"].get("1029") == 3
    jobs = window_jobs(sb)
    assert stats(sb)["enqueue_calls"] == len(jobs) + 3
    assert set(completed_exports(sb).values()) == {1}  # no job created twice for the 1029s
    assert caplog.text.count("Too many jobs in queue; trying again") == 3


def test_a_queue_full_of_other_integrations_jobs_leaves_one_slot(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    # Jobs that take a moment, so the tap always wants a second one in the queue...
    sb = sandbox_factory(**{**SANDBOX, "job_seconds": 0.08})
    # ... but 9 foreign jobs Queued: the instance's 10 Queued + Processing leave it one at a time.
    sb.faults.foreign_queued = 9
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_for(config))
    assert_run_equals_truth(sb, run)
    assert stats(sb)["errors"].get("1029", 0) >= 1
    assert stats(sb)["max_queued_plus_processing_at_once"] == 1
    assert set(completed_exports(sb).values()) == {1}


def test_tokens_expiring_mid_run_are_renewed(sb: Sandbox) -> None:
    config = tap_config(sb)
    created = lambda n: lambda s: s["create_calls"] >= n  # noqa: E731
    with (
        arm_when(sb, created(3), sb.expire_all_tokens_now) as first,
        arm_when(sb, created(8), sb.expire_all_tokens_now) as second,
    ):
        run = run_tap(config, catalog=catalog_for(config))
    assert first.is_set() and second.is_set()
    assert_run_equals_truth(sb, run)
    assert stats(sb)["errors"].get("602", 0) >= 2
    assert sb.stats["token_requests"] >= 3  # the first token and one after each expiry
    assert set(completed_exports(sb).values()) == {1}


# ----- downloads ---------------------------------------------------------------------------------


def test_dropped_download_resumes_with_range(sb: Sandbox, waits: list[float]) -> None:
    sb.faults.drop_download = 2
    sb.faults.drop_download_fraction = 0.5
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_for(config))
    assert_run_equals_truth(sb, run)
    assert sb.faults.drop_download == 0
    files = nonempty_files(sb)
    assert stats(sb)["file_calls"] == len(files) + 2
    # Resumed from the byte the connection dropped at: no byte of any file was sent twice.
    assert stats(sb)["bytes_downloaded"] == sum(j["bytes"] for j in files)


def test_corrupted_download_is_detected_by_checksum_and_downloaded_again(
    sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sb.faults.corrupt_download = 1
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_for(config))
    assert_run_equals_truth(sb, run)
    assert sb.faults.corrupt_download == 0
    files = nonempty_files(sb)
    assert stats(sb)["file_calls"] == len(files) + 1
    # The corrupted file was fetched twice, whole; every other file once.
    extra = stats(sb)["bytes_downloaded"] - sum(j["bytes"] for j in files)
    assert extra in {j["bytes"] for j in files}
    assert "downloaded file does not match" in caplog.text


def test_json_error_body_in_place_of_the_csv_is_retried(sb: Sandbox, waits: list[float]) -> None:
    sb.faults.json_error_file = 1
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_for(config))
    assert_run_equals_truth(sb, run)
    assert sb.faults.json_error_file == 0
    files = nonempty_files(sb)
    assert stats(sb)["file_calls"] == len(files) + 1
    assert stats(sb)["bytes_downloaded"] == sum(j["bytes"] for j in files)
    assert set(completed_exports(sb).values()) == {1}


def test_completed_job_whose_file_is_gone_is_exported_again(sb: Sandbox) -> None:
    sb.faults.expired_file = 1
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_for(config))
    assert_run_equals_truth(sb, run)
    assert sb.faults.expired_file == 0
    exports = completed_exports(sb)
    assert sorted(exports.values()).count(2) == 1  # exactly one window exported a second time
    assert set(exports.values()) == {1, 2}


# ----- failed jobs -------------------------------------------------------------------------------


def leads_job_in(windows: set[str]) -> Callable[[str, dict], bool]:
    return lambda obj, flt: (
        obj == "leads"
        and "updatedAt" in flt
        and (f"{flt['updatedAt']['startAt']}/{flt['updatedAt']['endAt']}" in windows)
    )


def test_failed_job_is_created_once_more(sb: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    sb.faults.fail_jobs = 1
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_for(config))
    assert_run_equals_truth(sb, run)
    failed = [j for j in window_jobs(sb) if j["status"] == "Failed"]
    assert len(failed) == 1
    assert completed_exports(sb)[(failed[0]["object"], failed[0]["filter_key"])] == 1
    assert set(completed_exports(sb).values()) == {1}
    assert "splitting" not in caplog.text


def test_job_failing_twice_splits_its_window_in_two(sb: Sandbox) -> None:
    config = tap_config(sb)
    target = planned_windows(config)[2]
    fails_left = [2]

    def fail_twice(obj: str, flt: dict) -> bool:
        if leads_job_in({target.key})(obj, flt) and fails_left[0] > 0:
            fails_left[0] -= 1
            return True
        return False

    sb.faults.fail_job_if = fail_twice
    run = run_tap(config, catalog=catalog_for(config))
    assert_run_equals_truth(sb, run)
    leads = [j for j in window_jobs(sb) if j["object"] == "leads"]
    assert [j["status"] for j in leads if window_of(j) == target] == ["Failed", "Failed"]
    halves = target.split()
    assert halves is not None
    completed = sorted(window_of(j) for j in leads if j["status"] == "Completed")
    planned = planned_windows(config)
    assert completed == sorted([*planned[:2], *halves, *planned[3:]])
    bookmark = run.final_state["bookmarks"]["leads"]
    assert bookmark["replication_key_value"] == config["end_date"]
    assert bookmark["in_flight"] == {}


def test_window_failing_at_every_size_is_split_down_to_one_day(sb: Sandbox) -> None:
    config = tap_config(sb)
    doomed = parse_datetime("2024-03-20T12:00:00Z")

    def fails(obj: str, flt: dict) -> bool:
        if obj != "leads" or "updatedAt" not in flt:
            return False
        window = Window(
            parse_datetime(flt["updatedAt"]["startAt"]), parse_datetime(flt["updatedAt"]["endAt"])
        )
        return window.start <= doomed <= window.end and window.covered > ONE_DAY

    sb.faults.fail_job_if = fails
    # Leads only: the ~90 calls of the failures and splits stay under max_calls_per_20s (100),
    # so the client's own rate limit never has to hold the run for 20 s.
    run = run_tap(config, catalog=catalog_for(config, ["leads"]))
    assert_run_equals_truth(sb, run, ["leads"])
    leads = [j for j in window_jobs(sb) if j["object"] == "leads"]
    completed = sorted(window_of(j) for j in leads if j["status"] == "Completed")
    # The completed windows tile the whole span: contiguous, no gap, no overlap.
    assert completed[0].start == parse_datetime(config["start_date"])
    assert completed[-1].end == parse_datetime(config["end_date"])
    for before, after in itertools.pairwise(completed):
        assert after.start == before.end + timedelta(seconds=1)
    holding = [w for w in completed if w.start <= doomed <= w.end]
    assert len(holding) == 1 and holding[0].covered <= ONE_DAY
    failed = [j for j in leads if j["status"] == "Failed"]
    splits = len(completed) - len(planned_windows(config))
    assert splits >= 5  # 31 days -> 15.5 -> 7.75 -> 3.9 -> 1.9 -> <= 1 day
    assert len(failed) == 2 * splits  # each size failed exactly twice before it was split


def test_one_day_window_that_keeps_failing_fails_the_run_clearly(sb: Sandbox) -> None:
    config = tap_config(
        sb, window_days=1, start_date="2024-03-18T00:00:00Z", end_date="2024-03-22T23:59:59Z"
    )
    doomed = Window(parse_datetime("2024-03-20T00:00:00Z"), parse_datetime("2024-03-20T23:59:59Z"))
    sb.faults.fail_job_if = leads_job_in({doomed.key})
    run = run_tap(config, catalog=catalog_for(config, ["leads"]))
    assert isinstance(run.error, ExportJobError)
    message = str(run.error)
    assert "failed this export twice" in message
    assert doomed.key in message and "one day or less" in message
    doomed_jobs = [j for j in window_jobs(sb) if window_of(j) == doomed]
    assert [j["status"] for j in doomed_jobs] == ["Failed", "Failed"]
    # The windows before it were emitted and bookmarked; nothing is left running on Marketo.
    bookmark = run.final_state["bookmarks"]["leads"]["replication_key_value"]
    assert bookmark == "2024-03-19T23:59:59Z"
    before = [
        r
        for r in sb.truth.leads
        if r["updatedAt"] <= bookmark and r["updatedAt"] >= config["start_date"]
    ]
    emitted = run.records("leads")
    assert before and {r["id"] for r in before} <= {r["id"] for r in emitted}
    assert duplicates(emitted, KEYS["leads"]) == []
    assert not [j for j in stats(sb)["jobs"] if j["status"] in ("Created", "Queued", "Processing")]


# ----- 502 and ambiguous creates ----------------------------------------------------------------


def test_502_answers_are_retried_with_backoff(sb: Sandbox, waits: list[float]) -> None:
    config = tap_config(sb)
    with arm_when(sb, after_first_enqueue, lambda: setattr(sb.faults, "http_502", 4)) as armed:
        run = run_tap(config, catalog=catalog_for(config))
    assert armed.is_set()
    assert_run_equals_truth(sb, run)
    assert sb.faults.http_502 == 0
    assert len([w for w in waits if w >= 2.0]) >= 4  # 2 s, 4 s, ... exponential backoff
    assert set(completed_exports(sb).values()) == {1}


@pytest.mark.parametrize("fault", ["create_then_502", "create_without_result"])
def test_ambiguous_create_never_leaves_a_duplicate_job(
    sb: Sandbox, waits: list[float], fault: str
) -> None:
    config = tap_config(sb)
    # Armed after the first enqueue: the leads filter probe is done, a window's create gets it.
    with arm_when(sb, after_first_enqueue, lambda: setattr(sb.faults, fault, 1)) as armed:
        run = run_tap(config, catalog=catalog_for(config))
    assert armed.is_set()
    assert_run_equals_truth(sb, run)
    assert getattr(sb.faults, fault) == 0
    jobs = window_jobs(sb)
    exports = completed_exports(sb)
    assert set(exports.values()) == {1}  # one Completed job per window, never two
    assert len(exports) == 2 * len(planned_windows(config))
    # create_then_502 made a job the tap never heard of: reconciling cancelled it, unused.
    orphans = [j for j in jobs if j["status"] != "Completed"]
    if fault == "create_then_502":
        assert [(j["status"], j["queued_at"]) for j in orphans] == [("Cancelled", None)]
    else:
        assert orphans == []
    assert stats(sb)["create_calls"] == len(jobs) + 1 + (fault == "create_without_result")


def test_ambiguous_answer_to_the_leads_filter_probe_is_survived(
    sb: Sandbox, waits: list[float]
) -> None:
    sb.faults.create_then_502 = 1  # the first create of the run: the leads filter probe
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_for(config, ["leads"]))
    assert sb.faults.create_then_502 == 0
    if run.error is not None:
        raise run.error
    assert_run_equals_truth(sb, run, ["leads"])
    assert not [j for j in stats(sb)["jobs"] if j["status"] in ("Created", "Queued", "Processing")]


# ----- daily export quota -------------------------------------------------------------------------


def test_marketo_quota_exhausted_mid_run_stops_cleanly_and_the_next_run_finishes(
    sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    config = tap_config(sb)
    catalog = catalog_for(config, ["leads"])
    sb.faults.quota_bytes = 40_000  # about a third of the leads' ~120 KB
    caplog.set_level(logging.WARNING)
    first = run_tap(config, catalog=catalog)
    assert first.error is None, repr(first.error)
    assert stats(sb)["errors"].get("1029", 0) >= 1  # Marketo's quota answer, not our own count
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("midnight US Central" in m and "quota" in m for m in warnings), warnings
    assert first.messages[-1]["type"] == "STATE"
    state = first.final_state["bookmarks"]["leads"]
    assert 0 < len(first.records("leads")) < len(sb.truth.leads)
    assert config["start_date"] < state["replication_key_value"] < config["end_date"]

    # Midnight US Central: Marketo's quota is back.
    sb.faults.quota_bytes = None
    second = run_tap(config, state=first.final_state, catalog=catalog)
    assert second.error is None, repr(second.error)
    # Each record in exactly one of the two runs.
    assert_records_equal_truth(sb, {"leads": first.records("leads") + second.records("leads")})
    # Jobs the first run had created were re-attached, never exported a second time.
    assert set(completed_exports(sb).values()) == {1}
    final = second.final_state["bookmarks"]["leads"]
    assert final["replication_key_value"] == config["end_date"]
    assert final["in_flight"] == {}


def test_run_starting_with_the_quota_used_up_stops_cleanly(
    sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    # Another integration (or an earlier run the same day) used up Marketo's export quota.
    sb.faults.quota_bytes = 0
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_for(config, ["leads"]))
    assert stats(sb)["errors"].get("1029", 0) >= 1
    if run.error is not None:
        raise run.error
    assert run.records("leads") == []
    assert "midnight US Central" in caplog.text


def test_own_daily_quota_stops_before_marketo_refuses(
    sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    config = tap_config(sb, daily_quota_mb=0.08)  # ~84 KB of the run's ~240 KB
    catalog = catalog_for(config)
    sb.faults.quota_bytes = 150_000  # Marketo's own limit, a little higher
    caplog.set_level(logging.WARNING)
    first = run_tap(config, catalog=catalog)
    assert first.error is None, repr(first.error)
    assert "1029" not in stats(sb)["errors"]  # Marketo never had to refuse
    assert "by this tap's count" in caplog.text and "midnight US Central" in caplog.text
    exported = stats(sb)["bytes_exported"]
    assert 0.08 * 1024 * 1024 <= exported < 240_000
    state = first.final_state
    assert state["bookmarks"]["leads"]["quota"]["bytes"] >= 0.08 * 1024 * 1024

    # The next day (or a higher daily_quota_mb): the rest.
    sb.faults.quota_bytes = None
    second = run_tap({**config, "daily_quota_mb": 500}, state=state, catalog=catalog)
    assert second.error is None, repr(second.error)
    assert_records_equal_truth(
        sb, {s: first.records(s) + second.records(s) for s in ("leads", "activities")}
    )
    assert set(completed_exports(sb).values()) == {1}


def test_quota_exhausted_with_on_quota_exhausted_fail_exits_with_an_error(sb: Sandbox) -> None:
    sb.faults.quota_bytes = 40_000
    config = tap_config(sb, on_quota_exhausted="fail")
    run = run_tap(config, catalog=catalog_for(config, ["leads"]))
    assert isinstance(run.error, QuotaExceededError)
    assert "quota" in str(run.error).lower()
    assert stats(sb)["errors"].get("1029", 0) >= 1
    # The state written before failing still lets a later run resume from the finished windows.
    emitted = run.records("leads")
    assert 0 < len(emitted) < len(sb.truth.leads)
    assert duplicates(emitted, KEYS["leads"]) == []
    bookmark = run.final_state["bookmarks"]["leads"]["replication_key_value"]
    assert config["start_date"] < bookmark < config["end_date"]
    assert {r["id"] for r in sb.truth.leads if r["updatedAt"] <= bookmark} <= {
        r["id"] for r in emitted
    }
