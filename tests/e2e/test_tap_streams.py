"""Activities, program members and the reference streams against the sandbox's ground truth."""

from __future__ import annotations

import typing as t

import pytest

from tests.e2e.harness import by_key, catalog_with, duplicates, run_tap, tap_config

pytestmark = pytest.mark.e2e

SANDBOX = {
    "seed": 5,
    # Three windows: enough to cross window boundaries, few enough jobs for the rate limit.
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-03-31T23:59:59Z",
    "leads": 400,
    "activities": 3000,
    "programs": 23,
    "members_per_program": 15,
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
}


@pytest.fixture(scope="module")
def sb(request: pytest.FixtureRequest) -> t.Iterator[t.Any]:
    from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(**SANDBOX)) as sandbox:
        yield sandbox


def bulk_jobs(sb: t.Any, obj: str, since: int = 0) -> list[dict]:
    return [j for j in sb.stats["jobs"][since:] if j["object"] == obj]


def test_activities_equal_ground_truth_with_attribute_objects(sb: t.Any) -> None:
    config = tap_config(sb)
    since = len(sb.stats["jobs"])
    run = run_tap(config, catalog=catalog_with(config, only=["activities"]))
    assert run.error is None, run.error
    records = run.records("activities")
    assert duplicates(records, lambda r: r["marketoGUID"]) == []
    assert by_key(records, lambda r: r["marketoGUID"]) == by_key(
        sb.truth.activities, lambda r: r["marketoGUID"]
    )
    assert any(isinstance(r["attributes"], dict) and r["attributes"] for r in records)
    jobs = [j for j in bulk_jobs(sb, "activities", since) if j["status"] == "Completed"]
    # One job per window holding every type but 37, never one job per type.
    assert len(jobs) == 3  # 2024-01-01..2024-03-31 in windows of 31 days - 1 s
    type_ids = {t_["id"] for t_ in sb.truth.activity_types} - {37}
    assert all(set(j["filter"]["activityTypeIds"]) == type_ids for j in jobs)
    assert all("actionResult" in j["fields"] for j in jobs)


def test_activity_type_ids_restrict_filter_and_output(sb: t.Any) -> None:
    config = tap_config(sb, activity_type_ids=[1, 12])
    since = len(sb.stats["jobs"])
    run = run_tap(config, catalog=catalog_with(config, only=["activities"]))
    assert run.error is None, run.error
    records = run.records("activities")
    expected = [a for a in sb.truth.activities if a["activityTypeId"] in {1, 12}]
    assert expected
    assert sorted(r["marketoGUID"] for r in records) == sorted(a["marketoGUID"] for a in expected)
    assert all(
        j["filter"]["activityTypeIds"] == [1, 12] for j in bulk_jobs(sb, "activities", since)
    )


def test_program_members_split_in_batches_of_ten(sb: t.Any) -> None:
    config = tap_config(sb)
    since = len(sb.stats["jobs"])
    run = run_tap(config, catalog=catalog_with(config, only=["program_members"]))
    assert run.error is None, run.error
    records = run.records("program_members")
    key = lambda r: (r["leadId"], r["programId"])  # noqa: E731
    assert duplicates(records, key) == []
    assert set(by_key(records, key)) == set(sb.truth.members_by_key)
    assert by_key(records, key) == sb.truth.members_by_key
    jobs = bulk_jobs(sb, "program/members", since)
    batches = {tuple(j["filter"]["programIds"]) for j in jobs if "programIds" in j["filter"]}
    assert sorted(len(b) for b in batches) == [3, 10, 10]  # 23 programs
    assert sorted(p for b in batches for p in b) == sorted(p["id"] for p in sb.truth.programs)


def test_program_members_full_export_when_updated_at_unsupported(
    sandbox_factory: t.Callable, caplog: pytest.LogCaptureFixture
) -> None:
    small = sandbox_factory(**{**SANDBOX, "programs": 4, "updated_at_filter_supported": False})
    config = tap_config(small)
    catalog = catalog_with(config, only=["program_members"])
    first = run_tap(config, catalog=catalog)  # a first sync is in full anyway (no probe)
    assert first.error is None, first.error
    run = run_tap(config, state=first.final_state, catalog=catalog)
    assert run.error is None, run.error
    key = lambda r: (r["leadId"], r["programId"])  # noqa: E731
    assert by_key(run.records("program_members"), key) == small.truth.members_by_key
    jobs = bulk_jobs(small, "program/members")
    completed = [j for j in jobs if j["status"] == "Completed"]
    assert len(completed) == 2  # one full export per run
    assert all("updatedAt" not in j["filter"] for j in completed)
    assert "full on each run" in caplog.text


def test_program_member_lead_fields_are_added(sb: t.Any) -> None:
    config = tap_config(
        sb,
        program_ids=[sb.truth.programs[0]["id"]],
        program_member_lead_fields=["email", "firstName"],
    )
    run = run_tap(config, catalog=catalog_with(config, only=["program_members"]))
    assert run.error is None, run.error
    leads = by_key(sb.truth.leads, lambda r: r["id"])
    records = run.records("program_members")
    assert records
    for record in records:
        assert record["email"] == leads[record["leadId"]]["email"]
        assert record["firstName"] == leads[record["leadId"]]["firstName"]


def test_reference_streams_equal_ground_truth(sb: t.Any) -> None:
    config = tap_config(sb)
    run = run_tap(
        config, catalog=catalog_with(config, only=["activity_types", "programs", "deleted_leads"])
    )
    assert run.error is None, run.error
    assert by_key(run.records("programs"), lambda r: r["id"]) == by_key(
        sb.truth.programs, lambda r: r["id"]
    )
    assert by_key(run.records("activity_types"), lambda r: r["id"]) == by_key(
        sb.truth.activity_types, lambda r: r["id"]
    )
    assert by_key(run.records("deleted_leads"), lambda r: r["id"]) == by_key(
        sb.truth.deleted_leads, lambda r: r["id"]
    )


def test_static_list_exports_its_members(sb: t.Any) -> None:
    static = sb.truth.static_lists[0]
    config = tap_config(sb, leads_static_list=str(static["id"]))
    run = run_tap(config, catalog=catalog_with(config, only=["leads"]))
    assert run.error is None, run.error
    assert sorted(r["id"] for r in run.records("leads")) == static["leadIds"]


def test_smart_list_1035_is_reported_clearly(sandbox_factory: t.Callable) -> None:
    small = sandbox_factory(**{**SANDBOX, "programs": 2, "smart_lists_supported": False})
    config = tap_config(small, leads_smart_list="Everyone")
    run = run_tap(config, catalog=catalog_with(config, only=["leads"]))
    assert run.error is not None
    assert "1035" in str(run.error)
    assert "smart list" in str(run.error).lower()


@pytest.mark.parametrize(
    ("stream", "deselect", "must_send"),
    [
        ("leads", ["email", "firstName", "annualRevenue"], {"id", "updatedAt"}),
        (
            "activities",
            ["campaignId", "primaryAttributeValue", "attributes"],
            {"marketoGUID", "activityDate"},
        ),
        ("program_members", ["statusName", "webinarUrl", "trackName"], {"leadId"}),
    ],
)
def test_deselected_columns_are_not_sent_to_marketo(
    sb: t.Any, stream: str, deselect: list[str], must_send: set[str]
) -> None:
    config = tap_config(sb, program_ids=[sb.truth.programs[0]["id"]])
    catalog = catalog_with(config, deselect={stream: deselect}, only=[stream])
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == stream)
    selected = {
        md["breadcrumb"][-1]
        for md in entry["metadata"]
        if md["breadcrumb"] and md["metadata"].get("selected", True)
    }
    since = len(sb.stats["jobs"])
    run = run_tap(config, catalog=catalog)
    assert run.error is None, run.error
    obj = {"leads": "leads", "activities": "activities", "program_members": "program/members"}
    jobs = [j for j in bulk_jobs(sb, obj[stream], since) if j["status"] == "Completed"]
    assert jobs
    for job in jobs:
        sent = set(job["fields"])
        assert not sent & set(deselect), sent & set(deselect)
        assert must_send <= sent
        assert sent <= selected | must_send
    for record in run.records(stream):
        assert not set(record) & set(deselect)


def test_deleted_leads_rerun_from_state_emits_nothing_again(sb: t.Any) -> None:
    config = tap_config(sb)
    catalog = catalog_with(config, only=["deleted_leads"])
    first = run_tap(config, catalog=catalog)
    assert first.error is None, first.error
    assert len(first.records("deleted_leads")) == len(sb.truth.deleted_leads)
    second = run_tap(config, state=first.final_state, catalog=catalog)
    assert second.error is None, second.error
    assert second.records("deleted_leads") == []
