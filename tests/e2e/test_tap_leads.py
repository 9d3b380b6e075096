"""The tap against the sandbox: leads equal the ground truth, and a rerun emits nothing new."""

from __future__ import annotations

import typing as t

import pytest

from tap_marketo_bulk.export.windows import parse_datetime, plan_windows
from tests.e2e.harness import by_key, catalog_with, duplicates, run_tap, tap_config

pytestmark = pytest.mark.e2e

SANDBOX = {
    "seed": 3,
    "leads": 1500,
    "activities": 500,
    "programs": 3,
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
}


@pytest.fixture
def leads_only(sandbox_factory: t.Callable) -> tuple[t.Any, dict, dict]:
    sb = sandbox_factory(**SANDBOX)
    config = tap_config(sb)
    return sb, config, catalog_with(config, only=["leads"])


def test_leads_equal_ground_truth_including_boundaries(leads_only: tuple) -> None:
    sb, config, catalog = leads_only
    run = run_tap(config, catalog=catalog)
    assert run.error is None, run.error
    records = run.records("leads")
    assert duplicates(records, lambda r: r["id"]) == []
    truth = sb.truth.leads
    assert len(records) == len(truth)
    assert by_key(records, lambda r: r["id"]) == by_key(truth, lambda r: r["id"])

    # The data holds leads at T-1 s, T and T+1 s of window boundaries, and at midnight: all out.
    windows = plan_windows(
        parse_datetime(config["start_date"]), parse_datetime(config["end_date"]), 31
    )
    edges = {w.key.split("/")[1] for w in windows[:-1]} | {w.key.split("/")[0] for w in windows[1:]}
    emitted_updates = {r["updatedAt"] for r in records}
    assert len(edges & emitted_updates) >= 4
    assert any(r["updatedAt"].endswith("T00:00:00Z") for r in records)
    tricky = [
        r
        for r in records
        if any(
            isinstance(v, str) and ("\x00" in v or "\u2028" in v or "\n" in v) for v in r.values()
        )
    ]
    assert tricky, "the sandbox data should hold values with NUL, U+2028 and newlines"


def test_second_run_from_final_state_exports_nothing_older_than_bookmark(leads_only: tuple) -> None:
    sb, config, catalog = leads_only
    first = run_tap(config, catalog=catalog)
    assert first.error is None, first.error
    state = first.final_state
    bookmark = state["bookmarks"]["leads"]["replication_key_value"]
    assert bookmark == config["end_date"]
    jobs_before = len(sb.stats["jobs"])

    second = run_tap({**config, "end_date": None}, state=state, catalog=catalog)
    assert second.error is None, second.error
    assert second.records("leads") == []
    new_jobs = sb.stats["jobs"][jobs_before:]
    for job in new_jobs:
        window = job["filter"].get("updatedAt") or job["filter"].get("createdAt")
        if window and job["fields"] != ["id"]:  # the probe job covers one second at end_date
            assert window["startAt"] > bookmark
