"""The reconcile of program_members (streams/reconcile.py), on requests-mock.

When a reconcile runs and when not, the table version on every RECORD, ACTIVATE_VERSION only
after the stream's last record, resume of an interrupted reconcile, the quota gate, bad state.
"""

from __future__ import annotations

import logging

import pytest
import requests_mock

from tap_marketo_bulk.state_check import check_state
from tap_marketo_bulk.streams.reconcile import new_version
from tests.unit.fake_marketo import FakeMarketo, csv_bytes
from tests.unit.tap_runner import TapRun, catalog_with, run_tap
from tests.unit.test_tap import CONFIG

PROGRAMS = list(range(1, 13))  # two jobs: [1..10], [11, 12]
DAY1 = "2024-03-03T23:59:59Z"
DAY2 = "2024-03-04T23:59:59Z"


def member_rows(body: dict) -> list[dict]:
    programs = body["filter"].get("programIds", [])
    return [
        {"programId": p, "leadId": p * 100, "statusName": "Member", "updatedAt": DAY1}
        for p in programs
    ]


def member_exports(fake: FakeMarketo) -> list[dict]:
    return [b["filter"] for b in fake.creates if "programIds" in b["filter"]]


def activations(run: TapRun) -> list[tuple[int, dict]]:
    return [(i, m) for i, m in enumerate(run.messages) if m["type"] == "ACTIVATE_VERSION"]


def record_positions(run: TapRun, stream: str) -> list[int]:
    return [
        i for i, m in enumerate(run.messages) if m["type"] == "RECORD" and m["stream"] == stream
    ]


def bookmark(run: TapRun) -> dict:
    return run.final_state["bookmarks"]["program_members"]


def config(**extra: object) -> dict:
    return {**CONFIG, "program_ids": PROGRAMS, **extra}


def first_sync(fake_rows=member_rows) -> tuple[TapRun, dict]:
    with requests_mock.Mocker() as mocker:
        FakeMarketo(mocker, fake_rows)
        catalog = catalog_with(config(), only=["program_members"])
        run = run_tap(config(), catalog=catalog)
    assert run.error is None, run.error
    return run, catalog


def test_the_first_sync_is_a_reconcile_whose_version_every_record_carries() -> None:
    run, _ = first_sync()
    records = [m for m in run.messages if m["type"] == "RECORD"]
    assert len(records) == len(PROGRAMS)
    state = bookmark(run)
    version = state["version"]
    assert {m["version"] for m in records} == {version}
    # One ACTIVATE_VERSION, after the last record, with that version; then a STATE saying so.
    [(position, message)] = activations(run)
    assert message == {"type": "ACTIVATE_VERSION", "stream": "program_members", "version": version}
    assert position > max(record_positions(run, "program_members"))
    later_states = [m for m in run.messages[position:] if m["type"] == "STATE"]
    assert (
        later_states and "reconcile" not in later_states[0]["value"]["bookmarks"]["program_members"]
    )
    assert state["reconciled_at"] == DAY1
    assert state["reconcile_bytes"] > 0
    assert state["replication_key_value"] == "2024-03-03T23:59:58Z"
    assert state["full_export"]["programs"] == PROGRAMS
    # Before the records, a STATE already held the reconcile in progress (a kill resumes it).
    first_record = min(record_positions(run, "program_members"))
    before = [m for m in run.messages[:first_record] if m["type"] == "STATE"]
    assert before[-1]["value"]["bookmarks"]["program_members"]["reconcile"]["version"] == version


def test_no_reconcile_before_it_is_due_then_a_full_re_export_under_a_new_version() -> None:
    day1, catalog = first_sync()
    version1 = bookmark(day1)["version"]
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, member_rows)
        # Next day, default 7 days: incremental windows, same version, no ACTIVATE_VERSION.
        day2 = run_tap(config(end_date=DAY2), state=day1.final_state, catalog=catalog)
        assert day2.error is None, day2.error
        assert all("updatedAt" in f for f in member_exports(fake))
        assert {r["version"] for r in day2.messages if r["type"] == "RECORD"} == {version1}
        assert activations(day2) == []
        assert bookmark(day2)["version"] == version1
        assert bookmark(day2)["reconciled_at"] == DAY1
        fake.creates.clear()
        # Same day with reconcile_every_days 1: a full export per 10 programs, a new version.
        day2r = run_tap(
            config(end_date=DAY2, reconcile_every_days=1),
            state=day1.final_state,
            catalog=catalog,
        )
    assert day2r.error is None, day2r.error
    assert member_exports(fake) == [{"programIds": PROGRAMS[:10]}, {"programIds": [11, 12]}]
    state = bookmark(day2r)
    assert state["version"] > version1
    records = [m for m in day2r.messages if m["type"] == "RECORD"]
    assert len(records) == len(PROGRAMS)
    assert {m["version"] for m in records} == {state["version"]}
    [(position, message)] = activations(day2r)
    assert message["version"] == state["version"]
    assert position > max(record_positions(day2r, "program_members"))
    assert state["reconciled_at"] == DAY2
    # The incremental windows of that day are covered: next run starts from the reconcile.
    assert state["replication_key_value"] == "2024-03-04T23:59:58Z"


def test_an_interrupted_reconcile_resumes_under_its_version_re_attaching_its_job() -> None:
    day1, catalog = first_sync()
    state = day1.final_state
    old = bookmark(day1)["version"]
    interrupted = {
        "version": old + 5,
        "started_at": DAY2,
        "bytes": 100,
        "programs": PROGRAMS[:10],
    }
    members = state["bookmarks"]["program_members"]
    members["reconcile"] = interrupted
    members["in_flight"] = {"all|11,12": "job-77"}
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, member_rows)
        body = {"fields": ["leadId"], "format": "CSV", "filter": {"programIds": [11, 12]}}
        fake.jobs["job-77"] = {
            "body": body,
            "content": csv_bytes(["programId", "leadId"], member_rows(body)),
            "status": "Processing",
        }
        run = run_tap(config(end_date=DAY2), state=state, catalog=catalog)
    assert run.error is None, run.error
    assert fake.creates == []  # the in-flight job is re-attached, nothing else exported
    records = [m for m in run.messages if m["type"] == "RECORD"]
    assert sorted(m["record"]["programId"] for m in records) == [11, 12]
    assert {m["version"] for m in records} == {old + 5}
    [(position, message)] = activations(run)
    assert message["version"] == old + 5 and position > max(
        record_positions(run, "program_members")
    )
    final = bookmark(run)
    assert final["version"] == old + 5 and "reconcile" not in final
    assert final["replication_key_value"] == "2024-03-04T23:59:58Z"
    assert final["reconcile_bytes"] > 100  # the earlier run's bytes plus this file's


def test_killed_after_its_last_record_the_reconcile_only_activates_on_the_rerun() -> None:
    day1, catalog = first_sync()
    state = day1.final_state
    version = bookmark(day1)["version"] + 1
    state["bookmarks"]["program_members"]["reconcile"] = {
        "version": version,
        "started_at": DAY2,
        "programs": PROGRAMS,
    }
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, member_rows)
        run = run_tap(config(end_date=DAY2), state=state, catalog=catalog)
    assert run.error is None, run.error
    assert fake.creates == [] and record_positions(run, "program_members") == []
    assert [m["version"] for _, m in activations(run)] == [version]
    assert bookmark(run)["version"] == version


def test_a_reconcile_that_does_not_fit_the_quota_waits_and_the_windows_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    day1, catalog = first_sync()
    state = day1.final_state
    state["bookmarks"]["program_members"]["reconcile_bytes"] = 10 * 1024 * 1024
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, member_rows)
        with caplog.at_level(logging.WARNING):
            run = run_tap(
                config(end_date=DAY2, reconcile_every_days=1, daily_quota_mb=5),
                state=state,
                catalog=catalog,
            )
    assert run.error is None, run.error
    assert member_exports(fake) and all("updatedAt" in f for f in member_exports(fake))
    assert activations(run) == []
    assert bookmark(run)["version"] == bookmark(day1)["version"]
    assert "reconcile" not in bookmark(run)
    assert "waits for a day it fits" in caplog.text
    assert "10.0 MiB" in caplog.text


def test_a_state_of_an_earlier_tap_version_reconciles_on_its_first_run() -> None:
    day1, catalog = first_sync()
    state = day1.final_state
    members = state["bookmarks"]["program_members"]
    for key in ("version", "reconciled_at", "reconcile_bytes"):
        del members[key]
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, member_rows)
        run = run_tap(config(end_date=DAY2), state=state, catalog=catalog)
    assert run.error is None, run.error
    assert all("updatedAt" not in f for f in member_exports(fake))
    assert len(activations(run)) == 1
    assert bookmark(run)["version"] == activations(run)[0][1]["version"]


def test_new_versions_always_rise() -> None:
    assert new_version(None, now=1000.7) == 1000
    assert new_version(999, now=1000) == 1000
    assert new_version(1000, now=1000) == 1001  # an equal version would mark nothing
    assert new_version(5000, now=1000) == 5001


@pytest.mark.parametrize(
    ("entry", "value", "warning"),
    [
        ("version", "v1", "version is not a table version"),
        ("version", True, "version is not a table version"),
        ("reconciled_at", "last week", "reconciled_at is not an ISO 8601 datetime"),
        ("reconcile_bytes", -3, "reconcile_bytes is not a byte count"),
        ("reconcile", [], "reconcile: expected an object, got a list"),
        ("reconcile", {"started_at": DAY1}, "reconcile: version is not a positive integer"),
        (
            "reconcile",
            {"version": 5, "started_at": DAY1},
            "reconcile: version 5 is not above the table version 10",
        ),
        ("reconcile", {"version": 11, "started_at": "x"}, "started_at is not an ISO 8601"),
        ("reconcile", {"version": 11}, "started_at is missing"),
        (
            "reconcile",
            {"version": 11, "started_at": DAY1, "through": 3},
            "through is not an ISO 8601 datetime",
        ),
        (
            "reconcile",
            {"version": 11, "started_at": DAY1, "programs": ["a"]},
            "programs is not a list of program ids",
        ),
    ],
)
def test_a_bad_reconcile_key_is_dropped_with_a_warning_naming_stream_and_key(
    entry: str, value: object, warning: str, caplog: pytest.LogCaptureFixture
) -> None:
    good = {
        "replication_key_value": DAY1,
        "version": 10,
        "reconciled_at": DAY1,
        "reconcile_bytes": 5,
    }
    with caplog.at_level(logging.WARNING):
        assert check_state({"bookmarks": {"program_members": good}}) == {
            "bookmarks": {"program_members": good}
        }
        assert caplog.records == []
        checked = check_state({"bookmarks": {"program_members": {**good, entry: value}}})
    # The bad entry alone is dropped: without it a reconcile runs (again), nothing is lost.
    assert checked["bookmarks"]["program_members"] == {k: v for k, v in good.items() if k != entry}
    [record] = caplog.records
    message = record.getMessage()
    assert record.levelno == logging.WARNING and "\n" not in message
    assert message.startswith(f"state: bookmarks.program_members.{entry}")
    assert warning in message


def test_no_activate_version_when_the_setting_turns_it_off() -> None:
    with requests_mock.Mocker() as mocker:
        FakeMarketo(mocker, member_rows)
        settings = config(emit_activate_version_messages=False)
        run = run_tap(settings, catalog=catalog_with(settings, only=["program_members"]))
    assert run.error is None, run.error
    assert activations(run) == []
    # The reconcile still finishes: its version is the table's, on every record.
    version = bookmark(run)["version"]
    assert {m["version"] for m in run.messages if m["type"] == "RECORD"} == {version}


def test_a_quota_stop_in_the_middle_keeps_the_reconcile_for_the_next_run() -> None:
    def many_rows(body: dict) -> list[dict]:
        return [
            {"programId": p, "leadId": p * 100 + i, "statusName": "Member", "updatedAt": DAY1}
            for p in body["filter"].get("programIds", [])
            for i in range(5)
        ]

    # One job at a time, and the first file (50 rows, ~2 KB) spends the day's 0.001 MiB.
    settings = config(max_concurrent_jobs=1, daily_quota_mb=0.001)
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, many_rows)
        catalog = catalog_with(settings, only=["program_members"])
        stopped = run_tap(settings, catalog=catalog)
        assert stopped.error is None, stopped.error
        assert member_exports(fake) == [{"programIds": PROGRAMS[:10]}]
        # Records of the new version are out, but not all of them: no ACTIVATE_VERSION.
        assert len(stopped.records("program_members")) == 50
        assert activations(stopped) == []
        state = bookmark(stopped)
        assert state["reconcile"]["programs"] == PROGRAMS[:10]
        assert "version" not in state and "replication_key_value" not in state
        fake.creates.clear()
        resumed = run_tap(config(max_concurrent_jobs=1), state=stopped.final_state, catalog=catalog)
    assert resumed.error is None, resumed.error
    assert member_exports(fake) == [{"programIds": [11, 12]}]
    version = state["reconcile"]["version"]
    assert {m["version"] for m in resumed.messages if m["type"] == "RECORD"} == {version}
    assert [m["version"] for _, m in activations(resumed)] == [version]
    assert bookmark(resumed)["version"] == version


def test_without_the_updated_at_filter_every_run_is_a_reconcile_at_no_extra_cost() -> None:
    day1, catalog = first_sync()
    state = day1.final_state
    # A quota estimate that would not fit: the run exports every member anyway.
    state["bookmarks"]["program_members"]["reconcile_bytes"] = 10 * 1024 * 1024
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, member_rows, updated_at_supported=False)
        run = run_tap(config(end_date=DAY2, daily_quota_mb=5), state=state, catalog=catalog)
    assert run.error is None, run.error
    assert member_exports(fake) == [{"programIds": PROGRAMS[:10]}, {"programIds": [11, 12]}]
    version = bookmark(run)["version"]
    assert version > bookmark(day1)["version"]
    assert {m["version"] for m in run.messages if m["type"] == "RECORD"} == {version}
    [(position, message)] = activations(run)
    assert message["version"] == version
    assert position > max(record_positions(run, "program_members"))
