"""The tap as a whole on requests-mock: discovery, leads windows, dedupe, state and resume."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import requests_mock

from tests.unit.fake_marketo import (
    BASE_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    LEAD_FIELDS,
    TOKEN,
    FakeMarketo,
    csv_bytes,
)
from tests.unit.tap_runner import catalog_with, run_tap

CONFIG = {
    "client_id": CLIENT_ID,
    "client_secret": CLIENT_SECRET,
    "base_url": BASE_URL,
    "start_date": "2024-01-01",
    "end_date": "2024-03-03T23:59:59Z",
    "poll_interval_seconds": 0.001,
    "queue_backoff_seconds": 0.001,
    "max_calls_per_20s": 100,
    "backfill_order": "oldest_first",  # the order these tests spell out (newest: test_backfill)
}
WINDOW_STARTS = ["2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-03-03T00:00:00Z"]

LEADS = [
    {
        "id": 1,
        "email": "a@x.com",
        "firstName": 'Ann, "A"\nline2',
        "score": 5,
        "isVip": True,
        "revenue": 10.5,
        "createdAt": "2024-01-01T00:00:00Z",
        "updatedAt": "2024-01-01T00:00:00Z",
    },
    {
        "id": 2,
        "email": None,
        "firstName": "Bo\u2028b",
        "score": None,
        "isVip": False,
        "revenue": None,
        "createdAt": "2024-01-31T23:59:59Z",
        "updatedAt": "2024-01-31T23:59:59Z",
    },
    {
        "id": 3,
        "email": "c@x.com",
        "firstName": "\u5f20\u4f1f \U0001f600",
        "score": 0,
        "isVip": None,
        "revenue": 0.0,
        "createdAt": "2024-02-01T00:00:00Z",
        "updatedAt": "2024-02-01T00:00:00Z",
    },
    {
        "id": 4,
        "email": "d@x.com",
        "firstName": "D",
        "score": 7,
        "isVip": True,
        "revenue": 1.25,
        "createdAt": "2024-03-03T00:00:00Z",
        "updatedAt": "2024-03-03T12:00:00Z",
    },
]


def rows_for(body: dict) -> list[dict]:
    flt = body["filter"]
    name = "updatedAt" if "updatedAt" in flt else "createdAt"
    start, end = flt[name]["startAt"], flt[name]["endAt"]
    rows = [lead for lead in LEADS if start <= lead[name] <= end]
    if start == WINDOW_STARTS[1]:
        rows.append(LEADS[1])  # a boundary duplicate: Marketo returns lead 2 in window 2 as well
    return [{k: v for k, v in row.items() if k in body["fields"]} for row in rows]


@pytest.fixture
def fake() -> FakeMarketo:
    with requests_mock.Mocker() as mocker:
        yield FakeMarketo(mocker, rows_for)


@pytest.fixture
def leads_catalog(fake: FakeMarketo) -> dict:
    return catalog_with(CONFIG, only=["leads"])


def test_discover_builds_leads_schema_from_describe(fake: FakeMarketo) -> None:
    catalog = catalog_with(CONFIG)
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "leads")
    props = entry["schema"]["properties"]
    assert props["score"]["type"] == ["integer", "null"]
    assert props["isVip"]["type"] == ["boolean", "null"]
    assert props["revenue"]["type"] == ["number", "null"]
    assert props["updatedAt"]["format"] == "date-time"
    assert "fullName" not in props  # formula fields cannot be exported
    assert entry["key_properties"] == ["id"]
    assert {s["tap_stream_id"] for s in catalog["streams"]} >= {
        "leads",
        "activities",
        "program_members",
        "activity_types",
        "programs",
        "deleted_leads",
    }


def test_leads_run_emits_typed_records_once_in_31_day_windows(
    fake: FakeMarketo, leads_catalog: dict
) -> None:
    run = run_tap(CONFIG, catalog=leads_catalog)
    assert run.error is None
    records = run.records("leads")
    assert sorted(r["id"] for r in records) == [1, 2, 3, 4]  # lead 2 twice in the files, once out
    assert {r["id"]: r for r in records}[1] == LEADS[0]
    assert {r["id"]: r for r in records}[2]["firstName"] == "Bo\u2028b"
    windows = [b["filter"]["updatedAt"] for b in fake.lead_creates() if b["fields"] != ["id"]]
    assert windows == [
        {"startAt": "2024-01-01T00:00:00Z", "endAt": "2024-01-31T23:59:59Z"},
        {"startAt": "2024-02-01T00:00:00Z", "endAt": "2024-03-02T23:59:59Z"},
        {"startAt": "2024-03-03T00:00:00Z", "endAt": "2024-03-03T23:59:59Z"},
    ]
    leads_state = run.final_state["bookmarks"]["leads"]
    assert leads_state["replication_key_value"] == "2024-03-03T23:59:59Z"
    assert leads_state["in_flight"] == {}


def test_state_after_window_2_fails_and_rerun_skips_window_1(leads_catalog: dict) -> None:
    with requests_mock.Mocker() as mocker:
        failing = FakeMarketo(mocker, rows_for, fail_windows=[WINDOW_STARTS[1]])
        first = run_tap(CONFIG, catalog=leads_catalog)
    assert first.error is not None
    assert sorted(r["id"] for r in first.records("leads")) == [1, 2]
    state = first.final_state
    assert state["bookmarks"]["leads"]["replication_key_value"] == "2024-01-31T23:59:59Z"
    assert len([b for b in failing.lead_creates() if b["fields"] != ["id"]]) == 1

    with requests_mock.Mocker() as mocker:
        healthy = FakeMarketo(mocker, rows_for)
        second = run_tap(CONFIG, state=state, catalog=leads_catalog)
    assert second.error is None
    starts = [
        b["filter"]["updatedAt"]["startAt"] for b in healthy.lead_creates() if b["fields"] != ["id"]
    ]
    assert starts == WINDOW_STARTS[1:]  # no job for window 1
    assert sorted(r["id"] for r in second.records("leads")) == [2, 3, 4]


def test_only_selected_fields_are_exported(fake: FakeMarketo) -> None:
    catalog = catalog_with(
        CONFIG, deselect={"leads": ["email", "score", "updatedAt", "id"]}, only=["leads"]
    )
    run = run_tap(CONFIG, catalog=catalog)
    assert run.error is None
    bodies = [b for b in fake.lead_creates() if b["fields"] != ["id"]]
    assert bodies
    for body in bodies:
        # id and updatedAt are the key and the bookmark: always exported.
        assert body["fields"] == ["id", "firstName", "isVip", "revenue", "createdAt", "updatedAt"]
    assert all("email" not in r for r in run.records("leads"))


def test_updated_at_probe_falls_back_to_created_at_on_1035(
    leads_catalog: dict, caplog: pytest.LogCaptureFixture
) -> None:
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, rows_for, updated_at_supported=False)
        with caplog.at_level(logging.WARNING):
            run = run_tap(CONFIG, catalog=leads_catalog)
    assert run.error is None
    assert all("createdAt" in b["filter"] for b in fake.lead_creates())
    assert sorted(r["id"] for r in run.records("leads")) == [1, 2, 3, 4]
    assert any(
        "updates to leads created before the bookmark will be missed" in r.message.lower()
        for r in caplog.records
    )
    assert run.final_state["bookmarks"]["leads"]["filter"] == "createdAt"


def test_updated_at_probe_job_is_cancelled(fake: FakeMarketo, leads_catalog: dict) -> None:
    run = run_tap(CONFIG, catalog=leads_catalog)
    assert run.error is None
    probes = [i for i, b in enumerate(fake.creates) if b["fields"] == ["id"]]
    assert len(probes) == 1
    assert fake.cancelled == [f"job-{probes[0] + 1}"]


def test_secrets_never_in_output_or_state(fake: FakeMarketo, leads_catalog: dict) -> None:
    run = run_tap(CONFIG, catalog=leads_catalog)
    text = json.dumps(run.messages)
    assert CLIENT_SECRET not in text
    assert TOKEN not in text


def tap_cli(*args: str, config: dict | None = None, tmp_path: Path) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "tap_marketo_bulk", *args]
    if config is not None:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        argv += ["--config", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_about_lists_every_setting(tmp_path: Path) -> None:
    from tap_marketo_bulk.settings import CONFIG_SCHEMA

    done = tap_cli("--about", "--format=markdown", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    for setting in CONFIG_SCHEMA["properties"]:
        assert f"| {setting} " in done.stdout


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"client_id": None}, "client_id"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"window_days": 40}, "window_days"),
        ({"base_url": "http://marketo.example.com"}, "base_url"),
        ({"base_url": None}, "base_url"),
        ({"max_concurrent_jobs": 3}, "max_concurrent_jobs"),
    ],
)
def test_bad_config_ends_with_one_line_naming_the_setting(
    change: dict, setting: str, tmp_path: Path
) -> None:
    config = {k: v for k, v in {**CONFIG, **change}.items() if v is not None}
    done = tap_cli(config=config, tmp_path=tmp_path)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert setting in lines[-1]
    assert "Traceback" not in done.stderr
    assert CLIENT_SECRET not in done.stderr + done.stdout


def test_rerun_reattaches_the_parts_of_a_window_split_in_an_earlier_run(
    leads_catalog: dict,
) -> None:
    part = {"startAt": "2024-02-01T00:00:00Z", "endAt": "2024-02-16T11:59:59Z"}
    state = {
        "bookmarks": {
            "leads": {
                "replication_key": "updatedAt",
                "replication_key_value": "2024-01-31T23:59:59Z",
                "filter": "updatedAt",
                # The whole window 2 failed twice (stale) and its first half is in flight.
                "in_flight": {
                    "2024-02-01T00:00:00Z/2024-03-02T23:59:59Z": "job-failed",
                    f"{part['startAt']}/{part['endAt']}": "job-77",
                },
            }
        }
    }
    fields = [f["name"] for f in LEAD_FIELDS if f["dataType"] != "formula"]
    body = {"fields": fields, "filter": {"updatedAt": part}}
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, rows_for)
        fake.jobs["job-77"] = {
            "body": body,
            "status": "Completed",
            "content": csv_bytes(fields, rows_for(body)),
        }
        run = run_tap(CONFIG, state=state, catalog=leads_catalog)
    assert run.error is None, run.error
    windows = [b["filter"]["updatedAt"] for b in fake.lead_creates() if b["fields"] != ["id"]]
    assert windows == [  # no job for the half that was in flight: it was downloaded
        {"startAt": "2024-02-16T12:00:00Z", "endAt": "2024-03-02T23:59:59Z"},
        {"startAt": "2024-03-03T00:00:00Z", "endAt": "2024-03-03T23:59:59Z"},
    ]
    assert sorted(r["id"] for r in run.records("leads")) == [2, 3, 4]
    final = run.final_state["bookmarks"]["leads"]
    assert final["in_flight"] == {}
    assert final["replication_key_value"] == CONFIG["end_date"]
