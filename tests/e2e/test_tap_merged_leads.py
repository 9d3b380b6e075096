"""merged_leads against the sandbox: merges come out once, from REST, with no export job."""

from __future__ import annotations

import typing as t

import pytest

from tests.e2e.harness import catalog_with, run_tap, tap_config

pytestmark = pytest.mark.e2e

SANDBOX = {
    "seed": 3,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-02-29T23:59:59Z",
    "leads": 300,
    "activities": 2000,
    "programs": 3,
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
}
DAY2 = ("2024-03-01T00:00:00Z", "2024-03-02T23:59:59Z")


@pytest.fixture
def sb() -> t.Iterator[t.Any]:
    from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(**SANDBOX)) as sandbox:
        yield sandbox


def test_merges_come_out_once_without_export_jobs(sb: t.Any) -> None:
    from tap_marketo_bulk.sandbox import ChangeScenario

    config = tap_config(sb)
    catalog = catalog_with(config, only=["merged_leads"])
    first = run_tap(config, catalog=catalog)
    assert first.error is None, first.error
    history = sb.truth.merged_leads  # day 1's Merge Leads activities
    assert history
    assert sorted(first.records("merged_leads"), key=lambda r: r["mergedLeadId"]) == history
    log = sb.apply_day2_changes(ChangeScenario(merges=7), between=DAY2)
    second = run_tap({**config, "end_date": DAY2[1]}, state=first.final_state, catalog=catalog)
    assert second.error is None, second.error
    expected = sorted(
        ({"leadId": w, "mergedLeadId": lo, "mergedAt": at} for w, lo, at in log.merges),
        key=lambda r: r["mergedLeadId"],
    )
    assert sorted(second.records("merged_leads"), key=lambda r: r["mergedLeadId"]) == expected
    # A deleted winner's history goes, its Merge Leads activities with it.
    kept = [r for r in history if r["leadId"] not in set(log.deleted_lead_ids)]
    assert sorted(kept + expected, key=lambda r: r["mergedLeadId"]) == sb.truth.merged_leads
    assert len(expected) == 7
    third = run_tap({**config, "end_date": DAY2[1]}, state=second.final_state, catalog=catalog)
    assert third.error is None, third.error
    assert third.records("merged_leads") == []
    assert sb.stats["jobs"] == []  # REST only: no bulk export job
