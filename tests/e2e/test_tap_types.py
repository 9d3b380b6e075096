"""Every value exactly as Marketo holds it: the tap against the sandbox's truth, compared with
types (5 is not 5.0, "001" is not 1), CRM ids byte for byte; a value a catalog's type can't hold;
type_overrides; malformed state entries that cost no data."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from tests.e2e.harness import catalog_with, run_tap, tap_config

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
SANDBOX = {
    "seed": 11,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-03-31T23:59:59Z",
    "leads": 700,
    "activities": 2500,
    "programs": 4,
    "members_per_program": 40,
    "lead_columns": 15,  # one custom field of every exportable dataType
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
}
# Marketo's "Field Types" page (shared/marketo-docs/api-notes.md, section 9): dataType -> the
# JSON schema type and format a correct tap declares. Written from the docs, not from schema.py.
DOCUMENTED_JSON_TYPE: dict[str, tuple[str, str | None]] = {
    "string": ("string", None),
    "text": ("string", None),
    "textarea": ("string", None),
    "email": ("string", None),
    "phone": ("string", None),
    "url": ("string", None),
    "reference": ("string", None),
    "integer": ("integer", None),
    "score": ("integer", None),
    "percent": ("number", None),
    "float": ("number", None),
    "currency": ("number", None),
    "boolean": ("boolean", None),
    "date": ("string", "date"),
    "datetime": ("string", "date-time"),
    "lead_function": ("string", None),  # unknown dataTypes are kept as text
}


@pytest.fixture(scope="module")
def sb() -> t.Iterator[t.Any]:
    from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(**SANDBOX)) as sandbox:
        yield sandbox


def typed(records: t.Iterable[dict], key: t.Callable[[dict], t.Any]) -> dict[t.Any, str]:
    """Records by key as JSON text: equal only with equal types (5 vs 5.0, "007" vs 7)."""
    return {key(r): json.dumps(r, sort_keys=True, ensure_ascii=False) for r in records}


def schemas(messages: list[dict]) -> dict[str, dict]:
    return {m["stream"]: m["schema"] for m in messages if m["type"] == "SCHEMA"}


def test_every_value_equals_the_truth_with_its_type(sb: t.Any) -> None:
    config = tap_config(sb)
    only = ["leads", "program_members", "activities"]
    run = run_tap(config, catalog=catalog_with(config, only=only))
    assert run.error is None, run.error
    truth = sb.truth

    leads = run.records("leads")
    assert typed(leads, lambda r: r["id"]) == typed(truth.leads, lambda r: r["id"])
    member_key = lambda r: (r["leadId"], r["programId"])  # noqa: E731
    assert typed(run.records("program_members"), member_key) == typed(
        truth.program_members, member_key
    )
    guid = lambda r: r["marketoGUID"]  # noqa: E731
    assert typed(run.records("activities"), guid) == typed(truth.activities, guid)

    # CRM ids kept as text byte for byte: 18-char Salesforce ids and digits with leading zeros.
    references = [f["name"] for f in truth.lead_fields if f["dataType"] == "reference"]
    emitted = {r[name] for r in leads for name in references if r[name] is not None}
    assert {"0015000000aBcDeAAA", "001656783185136518"} <= emitted
    assert all(isinstance(v, str) for v in emitted)
    assert any(v.startswith("00") and v.isdigit() for v in emitted)
    assert any(re.fullmatch(r"[0-9A-Za-z]{18}", v) and not v.isdigit() for v in emitted)
    opportunity_ids = {
        r["attributes"]["Opportunity ID"]
        for r in run.records("activities")
        if r["attributes"] and r["attributes"].get("Opportunity ID") is not None
    }
    assert opportunity_ids and all(isinstance(v, str) for v in opportunity_ids)
    contract_ids = [
        r["primaryAttributeValue"]
        for r in run.records("activities")
        if r["activityTypeId"] == 100002
    ]
    assert contract_ids and all(re.fullmatch(r"[0-9A-Za-z]{15,18}", v) for v in contract_ids)

    # Declared types follow the documentation, field by field.
    declared = schemas(run.messages)
    for stream, fields in (("leads", truth.lead_fields), ("program_members", truth.member_fields)):
        properties = declared[stream]["properties"]
        for field in fields:
            if field["dataType"] == "formula":
                assert field["name"] not in properties  # not exportable
                continue
            json_type, fmt = DOCUMENTED_JSON_TYPE[field["dataType"]]
            prop = properties[field["name"]]
            assert prop["type"] == [json_type, "null"], (stream, field)
            assert prop.get("format") == fmt, (stream, field)


def cli_run(
    workdir: Path, name: str, config: dict, catalog: dict, state: dict | None = None
) -> tuple[subprocess.CompletedProcess, list[dict]]:
    args = [sys.executable, "-m", "tap_marketo_bulk"]
    for option, content in (("config", config), ("catalog", catalog), ("state", state)):
        if content is not None:
            path = workdir / f"{name}-{option}.json"
            path.write_text(json.dumps(content))
            args += [f"--{option}", str(path)]
    done = subprocess.run(
        args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    messages = [json.loads(line) for line in done.stdout.split("\n") if line.strip()]
    return done, messages


def records_of(messages: list[dict], stream: str) -> list[dict]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def last_state(messages: list[dict]) -> dict:
    return [m["value"] for m in messages if m["type"] == "STATE"][-1]


def mistyped_catalog(config: dict, column: str, prop: dict) -> dict:
    """The leads catalog as an older discovery (or an admin's later type change) left it."""
    catalog = catalog_with(config, only=["leads"])
    (entry,) = [e for e in catalog["streams"] if e["tap_stream_id"] == "leads"]
    entry["schema"]["properties"][column] = prop
    return catalog


def error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    line = [text for text in done.stderr.splitlines() if text.strip()][-1]
    assert "ERROR" in line
    return line


def test_catalog_saying_integer_for_a_reference_fails_before_exporting_then_override_passes(
    sb: t.Any, tmp_path: Path
) -> None:
    config = tap_config(sb)
    # What an old tap discovered: reference as integer. Digit-only CRM ids would silently lose
    # their zeros under it, so the run refuses to start, naming the fix.
    catalog = mistyped_catalog(config, "salesOwnerId", {"type": ["integer", "null"]})
    jobs_before = len(sb.stats["jobs"])
    failed, messages = cli_run(tmp_path, "first", config, catalog)
    line = error_line(failed)
    assert (
        "leads: column 'salesOwnerId' is integer in the catalog but Marketo describes it as "
        "reference" in line
    )
    assert 'Set type_overrides to {"leads": {"salesOwnerId": "string"}}' in line
    assert records_of(messages, "leads") == []
    assert [j for j in sb.stats["jobs"][jobs_before:] if j["object"] == "leads"] == []

    overridden = {**config, "type_overrides": {"leads": {"salesOwnerId": "string"}}}
    passed, resumed = cli_run(tmp_path, "second", overridden, catalog)
    assert passed.returncode == 0, passed.stderr[-2000:]
    assert typed(records_of(resumed, "leads"), lambda r: r["id"]) == typed(
        sb.truth.leads, lambda r: r["id"]
    )
    assert schemas(resumed)["leads"]["properties"]["salesOwnerId"]["type"] == ["string", "null"]


def test_value_the_catalog_type_cannot_hold_ends_in_one_line_and_override_resumes(
    sb: t.Any, tmp_path: Path
) -> None:
    config = tap_config(sb)
    # engagementPercent is a percent (decimals) that an outdated catalog calls integer.
    catalog = mistyped_catalog(config, "engagementPercent", {"type": ["integer", "null"]})
    failed, messages = cli_run(tmp_path, "first", config, catalog)
    line = error_line(failed)
    assert (
        "leads: column 'engagementPercent' (Marketo dataType percent, catalog type integer) "
        "has the value '" in line
    )
    value = re.search(r"has the value '([^']*)', which is not a valid integer", line)
    assert value and float(value.group(1)) in {lead["engagementPercent"] for lead in sb.truth.leads}
    assert 'Set type_overrides to {"leads": {"engagementPercent": "number"}}' in line
    # No bookmark past a window that was not emitted in full; its export id is kept.
    window = re.search(r"export for (\S+)/(\S+)\)", line)
    assert window
    bookmark = last_state(messages)["bookmarks"]["leads"]
    assert bookmark.get("replication_key_value") is None or (
        bookmark["replication_key_value"] < window.group(1)
    )
    assert f"{window.group(1)}/{window.group(2)}" in bookmark["in_flight"]

    # The same catalog with the setting the line names, resuming from the state left behind.
    jobs_before = len(sb.stats["jobs"])
    overridden = {**config, "type_overrides": {"leads": {"engagementPercent": "number"}}}
    passed, resumed = cli_run(tmp_path, "second", overridden, catalog, state=last_state(messages))
    assert passed.returncode == 0, passed.stderr[-2000:]
    done_before = bookmark.get("replication_key_value") or ""
    expected = [lead for lead in sb.truth.leads if lead["updatedAt"] > done_before]
    assert typed(records_of(resumed, "leads"), lambda r: r["id"]) == typed(
        expected, lambda r: r["id"]
    )
    first_ids = {r["id"] for r in records_of(messages, "leads")}
    assert first_ids | {r["id"] for r in records_of(resumed, "leads")} == {
        lead["id"] for lead in sb.truth.leads
    }
    new_windows = [
        j["filter"].get("updatedAt", {}).get("startAt")
        for j in sb.stats["jobs"][jobs_before:]
        if j["object"] == "leads"
    ]
    assert window.group(1) not in new_windows  # the failed window's export was reused


def test_malformed_in_flight_and_quota_are_dropped_with_a_warning_and_nothing_is_lost(
    sb: t.Any, tmp_path: Path
) -> None:
    config = tap_config(sb)
    catalog = catalog_with(config, only=["leads"])
    state = {
        "bookmarks": {
            "leads": {
                "replication_key": "updatedAt",
                "replication_key_value": "2024-01-31T23:59:59Z",
                "filter": "updatedAt",
                "in_flight": ["ce45a7a1-f19d-4ce2-882c-a3c795940a7d"],
                "quota": "73400320",
            }
        }
    }
    done, messages = cli_run(tmp_path, "bad-entries", config, catalog, state=state)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "state: bookmarks.leads.in_flight is not an object" in done.stderr
    assert "state: bookmarks.leads.quota is not {day, bytes}" in done.stderr
    expected = [lead for lead in sb.truth.leads if lead["updatedAt"] > "2024-01-31T23:59:59Z"]
    assert typed(records_of(messages, "leads"), lambda r: r["id"]) == typed(
        expected, lambda r: r["id"]
    )
    assert (
        last_state(messages)["bookmarks"]["leads"]["replication_key_value"] == (config["end_date"])
    )


def test_a_bookmark_that_is_not_a_datetime_fails_in_one_line(sb: t.Any, tmp_path: Path) -> None:
    config = tap_config(sb)
    catalog = catalog_with(config, only=["leads"])
    state = {"bookmarks": {"leads": {"replication_key_value": 1706745599}}}
    jobs_before = len(sb.stats["jobs"])
    done, messages = cli_run(tmp_path, "bad-bookmark", config, catalog, state=state)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    line = [text for text in done.stderr.splitlines() if text.strip()][-1]
    assert "state: bookmarks.leads.replication_key_value: not an ISO 8601 datetime" in line
    assert messages == [] and len(sb.stats["jobs"]) == jobs_before  # nothing was exported
