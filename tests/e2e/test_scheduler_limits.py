"""The scheduler keeps within Marketo's limits, measured by the sandbox (issue #5).

Marketo processes at most 2 jobs at once per instance and queues at most 10; the tap keeps at
most `max_concurrent_jobs` (2) of its jobs Processing and `max_queued_jobs` (2, or 1) more Queued,
polls one job no more often than `poll_interval_seconds`, and sends fewer than
`max_calls_per_20s` calls in any 20 s.
It must still pipeline: while one job is processing the next one is, too.
"""

from __future__ import annotations

import time
import typing as t
from collections.abc import Callable

import pytest

from tap_marketo_bulk.api import client as client_module
from tap_marketo_bulk.sandbox import auth as sandbox_auth
from tap_marketo_bulk.sandbox import stats as sandbox_stats
from tests.e2e.harness import by_key, catalog_with, duplicates, run_tap, tap_config

if t.TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox

pytestmark = pytest.mark.e2e

POLL_INTERVAL = 0.2
# Three 31-day windows per windowed stream; each job takes 0.4 s on the sandbox, whose status
# answers are refreshed every 0.05 s (so polling faster than 0.2 s would be seen).
SANDBOX: dict[str, t.Any] = {
    "seed": 17,
    "leads": 200,
    "activities": 400,
    "programs": 2,
    "members_per_program": 8,
    "status_refresh_seconds": 0.05,
    "job_seconds": 0.4,
    "max_calls_per_20s": 100,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-03-31T23:59:59Z",
}
BULK_STREAMS = ("leads", "activities", "program_members")


def truth_by_stream(sb: Sandbox) -> dict[str, tuple[list[dict], Callable[[dict], t.Any]]]:
    return {
        "leads": (sb.truth.leads, lambda r: r["id"]),
        "activities": (sb.truth.activities, lambda r: r["marketoGUID"]),
        "program_members": (sb.truth.program_members, lambda r: (r["leadId"], r["programId"])),
    }


def assert_equals_truth(sb: Sandbox, run: t.Any, streams: t.Iterable[str]) -> None:
    assert run.error is None, repr(run.error)
    for stream in streams:
        expected, key = truth_by_stream(sb)[stream]
        records = run.records(stream)
        assert duplicates(records, key) == [], stream
        assert by_key(records, key) == by_key(expected, key), stream


@pytest.mark.parametrize("max_queued_jobs", [2, 1])
def test_several_streams_pipeline_two_jobs_within_marketo_limits(
    sandbox_factory: Callable[..., Sandbox], max_queued_jobs: int
) -> None:
    sb = sandbox_factory(**SANDBOX)
    config = tap_config(
        sb,
        poll_interval_seconds=POLL_INTERVAL,
        max_calls_per_20s=90,
        max_queued_jobs=max_queued_jobs,
    )
    run = run_tap(config, catalog=catalog_with(config, only=list(BULK_STREAMS)))
    assert_equals_truth(sb, run, BULK_STREAMS)

    client = sb.client_stats()
    window_jobs = [j for j in client["jobs"] if j["status"] == "Completed"]
    assert {j["object"] for j in window_jobs} == {"leads", "activities", "program/members"}
    # Three windows each for leads and activities; program members' first sync is one full
    # export of its two programs.
    assert len(window_jobs) == 7
    assert client["max_processing_at_once"] <= 2
    # max_queued_jobs more than the two Processing may wait Queued (4 of Marketo's 10 at most).
    assert client["max_queued_plus_processing_at_once"] <= 2 + max_queued_jobs
    # Pipelined: at some moment two of the tap's jobs were Processing together.
    assert client["max_processing_at_once"] == 2
    # Never polled one job faster than poll_interval_seconds (and it did poll some twice).
    assert client["min_poll_interval_seconds"] is not None
    assert client["min_poll_interval_seconds"] >= POLL_INTERVAL
    assert client["calls_per_20s_max"] < config["max_calls_per_20s"]
    assert "606" not in client["errors"] and "615" not in client["errors"]
    # The same seen from the jobs' own clocks: processing periods of two jobs overlap.
    overlaps = [
        (a["export_id"], b["export_id"])
        for a in window_jobs
        for b in window_jobs
        if a["export_id"] < b["export_id"]
        and a["started_at"] < b["finished_at"]
        and b["started_at"] < a["finished_at"]
    ]
    assert overlaps


def test_max_concurrent_jobs_one_keeps_a_single_job_processing(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sb = sandbox_factory(**{**SANDBOX, "job_seconds": 0.2})
    config = tap_config(sb, poll_interval_seconds=0.1, max_concurrent_jobs=1)
    run = run_tap(config, catalog=catalog_with(config, only=["leads", "activities"]))
    assert_equals_truth(sb, run, ["leads", "activities"])
    client = sb.client_stats()
    assert len([j for j in client["jobs"] if j["status"] == "Completed"]) == 6
    assert client["max_processing_at_once"] == 1
    # With one job at a time nothing waits in the queue either (Marketo would start it at once).
    assert client["max_queued_plus_processing_at_once"] == 1
    assert client["min_poll_interval_seconds"] >= 0.1


def test_rate_limit_holds_in_every_rolling_window_when_it_binds(
    sandbox_factory: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Time scaled 20x: a 1 s rolling window instead of 20 s, on both sides. The run needs more
    calls than one window allows, so the client's limiter has to hold calls back, and the
    sandbox (which answers 606 past its limit) counts every rolling window."""
    window, limit = 1.0, 12
    monkeypatch.setattr(client_module, "RATE_WINDOW_SECONDS", window)
    monkeypatch.setattr(client_module, "RATE_WINDOW_SLACK_SECONDS", 0.3)
    monkeypatch.setattr(sandbox_stats, "RATE_WINDOW_SECONDS", window)
    monkeypatch.setattr(sandbox_auth, "RATE_WINDOW_SECONDS", window)
    sb = sandbox_factory(
        **{
            **SANDBOX,
            "job_seconds": 0.0,
            "status_refresh_seconds": 0.02,
            "max_calls_per_20s": limit,
        }
    )
    config = tap_config(sb, poll_interval_seconds=0.03, max_calls_per_20s=limit)
    catalog = catalog_with(config, only=["leads", "activities"])
    # Discovery's calls (another tap instance, another client-side limiter) must have left the
    # sandbox's rolling window before the run starts; they are not part of the run either.
    time.sleep(window + 0.2)
    sb.reset_stats()
    started = time.monotonic()
    run = run_tap(config, catalog=catalog)
    elapsed = time.monotonic() - started
    assert_equals_truth(sb, run, ["leads", "activities"])
    client = sb.client_stats()
    assert client["api_calls"] > 2 * limit  # the limit was binding: more than two windows' worth
    assert elapsed >= window  # ... so the limiter made the run wait
    assert client["calls_per_20s_max"] <= limit
    assert "606" not in client["errors"]
