"""activities_by_type: one stream per activity type, fed by the same export jobs as `activities`.

Against the sandbox: the per-type streams together hold exactly the rows of `activities` (and of
the truth), each attribute in a typed column equal to the truth's value; the job count is that of
`activities` alone; selecting two types exports and emits only those; a stream selected later
catches up alone; a SIGKILL mid-run then a rerun from the last STATE stays exact; the setting is
read from the environment and listed by --about.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest

from tap_marketo_bulk.errors import ColumnTypeError
from tests.e2e.harness import catalog_with, duplicates, run_tap, tap_config
from tests.e2e.test_tap_resume import Output, TapProcess, bookmarks_of, in_flight_of, wait_for

if t.TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
SANDBOX: dict[str, t.Any] = {
    "seed": 19,
    "leads": 300,
    "activities": 1200,
    "programs": 2,
    "members_per_program": 5,
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-04-30T23:59:59Z",  # four 31-day windows
}
WINDOWS = 4
# The sandbox's exportable activity types and the table each must get (the naming rule applied by
# hand: snake_case of the name, of the apiName for custom types).
EXPECTED_STREAMS: dict[int, str] = {
    1: "activities_visit_webpage",
    2: "activities_fill_out_form",
    6: "activities_send_email",
    11: "activities_click_email",
    12: "activities_new_lead",
    13: "activities_change_data_value",
    22: "activities_change_score",
    25: "activities_remove_from_list",
    32: "activities_merge_leads",
    104: "activities_change_status_in_progression",
    100001: "activities_attended_trade_show_c",
    100002: "activities_signed_contract_c",
}
COMMON = (
    "marketoGUID",
    "leadId",
    "activityDate",
    "activityTypeId",
    "campaignId",
    "primaryAttributeValueId",
    "primaryAttributeValue",
)
JSON_TYPE = {"integer": int, "number": float, "boolean": bool, "string": str}


@pytest.fixture
def sb(sandbox_factory: t.Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(**SANDBOX)


def activity_jobs(sb: Sandbox, since: int = 0) -> list[dict]:
    return [j for j in sb.client_stats()["jobs"][since:] if j["object"] == "activities"]


def schemas(messages: list[dict]) -> dict[str, dict]:
    return {m["stream"]: m["schema"] for m in messages if m["type"] == "SCHEMA"}


def guid(record: dict) -> str:
    return record["marketoGUID"]


def assert_typed_rows_equal_truth(
    sb: Sandbox, stream: str, records: list[dict], schema: dict
) -> None:
    """Every record equals the truth's activity: common columns, and each attribute column (its
    schema `title` is Marketo's attribute name) holds the truth's value with the column's type."""
    truth = {a["marketoGUID"]: a for a in sb.truth.activities}
    type_id = next(k for k, v in EXPECTED_STREAMS.items() if v == stream)
    declared = next(a for a in sb.truth.activity_types if a["id"] == type_id)
    attribute_of = {
        column: prop["title"]
        for column, prop in schema["properties"].items()
        if column not in COMMON
    }
    # One typed column per attribute types.json declares, and nothing else.
    assert sorted(attribute_of.values()) == sorted(
        a["name"] for a in declared.get("attributes") or []
    ), stream
    for record in records:
        expected = truth[record["marketoGUID"]]
        assert {c: record[c] for c in COMMON} == {c: expected[c] for c in COMMON}
        assert record["activityTypeId"] == type_id
        attributes = expected["attributes"] or {}
        for column, attribute in attribute_of.items():
            value = record[column]
            assert value == attributes.get(attribute), (stream, column, record["marketoGUID"])
            if value is not None:
                json_type = schema["properties"][column]["type"][0]
                assert isinstance(value, JSON_TYPE[json_type]), (stream, column, value)
                assert json_type != "integer" or not isinstance(value, bool)


def test_per_type_streams_hold_exactly_the_activities_rows(sb: Sandbox) -> None:
    alone = tap_config(sb)
    run_alone = run_tap(alone, catalog=catalog_with(alone, only=["activities"]))
    assert run_alone.error is None
    jobs_alone = len(activity_jobs(sb))

    config = tap_config(sb, activities_by_type=True)
    catalog = catalog_with(config, only=["activities", *EXPECTED_STREAMS.values()])
    discovered = {e["tap_stream_id"] for e in catalog["streams"]}
    assert {n for n in discovered if n.startswith("activities_")} == set(EXPECTED_STREAMS.values())
    before = len(sb.client_stats()["jobs"])
    run = run_tap(config, catalog=catalog)
    assert run.error is None, run.error

    # Zero extra jobs: one per window, as activities alone.
    jobs = activity_jobs(sb, before)
    assert len(jobs) == jobs_alone == WINDOWS
    assert len(sb.client_stats()["jobs"]) - before == WINDOWS

    activities = run.records("activities")
    assert duplicates(activities, guid) == []
    assert sorted(map(guid, activities)) == sorted(map(guid, sb.truth.activities))
    assert activities == run_alone.records("activities")  # activities itself unchanged

    per_type: dict[str, list[dict]] = {n: run.records(n) for n in EXPECTED_STREAMS.values()}
    every = [r for records in per_type.values() for r in records]
    assert duplicates(every, guid) == []
    assert sorted(map(guid, every)) == sorted(map(guid, activities))
    assert all(per_type.values()), "every type has rows in the sandbox"
    written = schemas(run.messages)
    for stream, records in per_type.items():
        assert_typed_rows_equal_truth(sb, stream, records, written[stream])
        assert written[stream]["properties"]["marketoGUID"]["type"] == ["string"]

    # Each stream's bookmark is the end of the run.
    bookmarks = bookmarks_of(run.final_state)
    for stream in ["activities", *EXPECTED_STREAMS.values()]:
        assert bookmarks[stream] == SANDBOX["data_end"], stream
    # Only the carrier (activities) holds export ids; none left in flight.
    assert in_flight_of(run.final_state) == {}


def test_two_types_selected_export_and_emit_only_those(sb: Sandbox) -> None:
    config = tap_config(sb, activities_by_type=True)
    chosen = {2: "activities_fill_out_form", 100001: "activities_attended_trade_show_c"}
    catalog = catalog_with(
        config,
        only=list(chosen.values()),
        deselect={"activities_attended_trade_show_c": ["notes", "campaignId"]},
    )
    run = run_tap(config, catalog=catalog)
    assert run.error is None, run.error

    jobs = activity_jobs(sb)
    assert len(jobs) == WINDOWS
    assert all(sorted(j["filter"]["activityTypeIds"]) == sorted(chosen) for j in jobs)
    assert all("actionResult" not in j["fields"] for j in jobs)

    emitted = {m["stream"] for m in run.messages if m["type"] == "RECORD"}
    assert emitted == set(chosen.values())
    for type_id, stream in chosen.items():
        records = run.records(stream)
        expected = [a for a in sb.truth.activities if a["activityTypeId"] == type_id]
        assert duplicates(records, guid) == []
        assert sorted(map(guid, records)) == sorted(map(guid, expected))
    trade_show = run.records("activities_attended_trade_show_c")
    assert all("notes" not in r and "campaignId" not in r for r in trade_show)
    assert all("booth_visited" in r for r in trade_show)
    form = run.records("activities_fill_out_form")
    assert_typed_rows_equal_truth(
        sb, "activities_fill_out_form", form, schemas(run.messages)["activities_fill_out_form"]
    )


def test_a_stream_selected_later_catches_up_alone(sb: Sandbox) -> None:
    """`activities` is up to date; a per-type stream selected now gets every window, alone: its
    jobs ask only for its type, and `activities` emits nothing again."""
    config = tap_config(sb, activities_by_type=True)
    first = run_tap(config, catalog=catalog_with(config, only=["activities"]))
    assert first.error is None
    assert len(first.records("activities")) == len(sb.truth.activities)
    before = len(sb.client_stats()["jobs"])

    catalog = catalog_with(config, only=["activities", "activities_send_email"])
    second = run_tap(config, state=first.final_state, catalog=catalog)
    assert second.error is None, second.error
    assert second.records("activities") == []
    send_email = second.records("activities_send_email")
    expected = [a for a in sb.truth.activities if a["activityTypeId"] == 6]
    assert sorted(map(guid, send_email)) == sorted(map(guid, expected))
    jobs = activity_jobs(sb, before)
    assert len(jobs) == WINDOWS
    assert all(j["filter"]["activityTypeIds"] == [6] for j in jobs)
    bookmarks = bookmarks_of(second.final_state)
    assert bookmarks["activities"] == bookmarks["activities_send_email"] == SANDBOX["data_end"]


def test_stream_maps_on_a_per_type_stream_take_the_sdks_path(sb: Sandbox) -> None:
    config = tap_config(
        sb,
        activities_by_type=True,
        stream_maps={"activities_new_lead": {"__alias__": "new_leads", "form_name": "__NULL__"}},
    )
    catalog = catalog_with(config, only=["activities", "activities_new_lead"])
    run = run_tap(config, catalog=catalog)
    assert run.error is None, run.error
    records = run.records("new_leads")
    expected = [a for a in sb.truth.activities if a["activityTypeId"] == 12]
    assert sorted(map(guid, records)) == sorted(map(guid, expected))
    assert records and all("form_name" not in r and "lead_source" in r for r in records)
    assert run.records("activities_new_lead") == []


def test_sigkill_mid_run_then_rerun_stays_exact(
    sandbox_factory: t.Callable[..., Sandbox], tmp_path: Path
) -> None:
    sb = sandbox_factory(**{**SANDBOX, "job_seconds": 0.3})
    config = tap_config(sb, activities_by_type=True, poll_interval_seconds=0.1)
    streams = ["activities", *EXPECTED_STREAMS.values()]
    catalog = catalog_with(config, only=streams)

    def one_window_done_and_one_in_flight(output: Output, message: dict) -> bool:
        if message["type"] != "STATE":
            return False
        state = message["value"]
        return bool(bookmarks_of(state)) and bool(in_flight_of(state))

    first = TapProcess(tmp_path, config, catalog, None, "first")
    reached = first.read_until(one_window_done_and_one_in_flight)
    first.process.send_signal(signal.SIGKILL)
    killed_at = time.time()
    code = first.finish()
    assert reached, f"the run ended before a window was done:\n{first.stderr_tail()}"
    assert code == -signal.SIGKILL
    state = first.output.last_state
    bookmarks = bookmarks_of(state)
    # Every stream's bookmark moved with the window, in the same STATE.
    assert set(bookmarks) == set(streams)
    assert len(set(bookmarks.values())) == 1
    # Killed mid-run: the emitted range ([backfilled_from, bookmark]; newest first by default)
    # is not yet the whole span.
    carrier = state["bookmarks"]["activities"]
    reached = carrier.get("backfilled_from", SANDBOX["data_start"])
    assert reached > SANDBOX["data_start"] or carrier["replication_key_value"] < SANDBOX[
        "data_end"], "killed too late"
    in_flight = in_flight_of(state)
    assert {stream for stream, _ in in_flight} == {"activities"}  # only the carrier's

    ids = set(in_flight.values())
    wait_for(
        lambda: all(
            j["status"] in ("Completed", "Created")
            for j in sb.client_stats()["jobs"]
            if j["export_id"] in ids
        )
    )
    second = TapProcess(tmp_path, config, catalog, state, "second")
    assert second.finish() == 0, second.stderr_tail()

    truth = sb.truth.activities
    for stream in streams:
        type_id = next((k for k, v in EXPECTED_STREAMS.items() if v == stream), None)
        expected = {a["marketoGUID"] for a in truth if type_id in (None, a["activityTypeId"])}
        assert duplicates(first.output.records(stream), guid) == [], stream
        assert duplicates(second.output.records(stream), guid) == [], stream
        union = {guid(r): r for r in first.output.records(stream)}
        for record in second.output.records(stream):
            assert union.setdefault(guid(record), record) == record
        assert set(union) == expected, stream
    # Windows finished before the kill were exported once; in-flight jobs were re-attached.
    jobs = activity_jobs(sb)
    finished = [
        j for j in jobs if j["filter_key"].split("|")[0].split("/")[1] <= min(bookmarks.values())
    ]
    assert finished and all(j["created_at"] < killed_at for j in finished)
    windows = [j["filter_key"].split("|")[0] for j in jobs if j["status"] == "Completed"]
    assert len(windows) == len(set(windows)) == WINDOWS
    assert not any(j["export_id"] in ids and j["created_at"] >= killed_at for j in jobs)
    assert bookmarks_of(second.output.last_state) == dict.fromkeys(streams, SANDBOX["data_end"])


def test_setting_from_the_environment_and_in_about(sb: Sandbox, tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MARKETO_BULK_")}
    about = subprocess.run(
        [sys.executable, "-m", "tap_marketo_bulk", "--about", "--format=json"],
        env=clean,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    setting = json.loads(about.stdout)["settings"]["properties"]["activities_by_type"]
    assert setting["type"] == ["boolean", "null"] or "boolean" in setting["type"]
    assert setting["default"] is False

    env = {
        **clean,
        "TAP_MARKETO_BULK_CLIENT_ID": sb.client_id,
        "TAP_MARKETO_BULK_CLIENT_SECRET": sb.client_secret,
        "TAP_MARKETO_BULK_BASE_URL": sb.base_url,
        "TAP_MARKETO_BULK_START_DATE": SANDBOX["data_start"],
    }

    def discovered(value: str) -> set[str]:
        done = subprocess.run(
            [sys.executable, "-m", "tap_marketo_bulk", "--config=ENV", "--discover"],
            env={**env, "TAP_MARKETO_BULK_ACTIVITIES_BY_TYPE": value},
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        )
        return {s["tap_stream_id"] for s in json.loads(done.stdout)["streams"]}

    assert set(EXPECTED_STREAMS.values()) <= discovered("true")
    assert not any(n.startswith("activities_") for n in discovered("false"))


def test_catalog_calling_a_text_attribute_integer_stops_before_any_job(sb: Sandbox) -> None:
    config = tap_config(sb, activities_by_type=True)
    catalog = catalog_with(config, only=["activities_signed_contract_c"])
    entry = next(
        e for e in catalog["streams"] if e["tap_stream_id"] == "activities_signed_contract_c"
    )
    # A catalog made when "Account ID" was an integer; Marketo describes it as reference now.
    entry["schema"]["properties"]["account_id"]["type"] = ["integer", "null"]
    run = run_tap(config, catalog=catalog)
    assert isinstance(run.error, ColumnTypeError)
    message = str(run.error)
    assert "activities_signed_contract_c" in message and "'account_id'" in message
    assert '{"activities_signed_contract_c": {"account_id": "string"}}' in message
    assert activity_jobs(sb) == []


def test_attribute_value_that_does_not_fit_ends_in_one_line(sb: Sandbox) -> None:
    config = tap_config(
        sb,
        activities_by_type=True,
        type_overrides={"activities_attended_trade_show_c": {"notes": "integer"}},
    )
    run = run_tap(config, catalog=catalog_with(config, only=["activities_attended_trade_show_c"]))
    assert isinstance(run.error, ColumnTypeError)
    message = str(run.error)
    assert message.startswith("activities_attended_trade_show_c: column 'notes'")
    assert "type_overrides" in message
    # Every "notes" value is text, so the first window fails: no bookmark was ever written.
    assert all("activities_attended_trade_show_c" not in bookmarks_of(s) for s in run.states())


def test_an_attribute_the_catalog_lacks_is_named_in_a_warning(
    sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    config = tap_config(sb, activities_by_type=True)
    catalog = catalog_with(config, only=["activities_send_email"])
    entry = next(e for e in catalog["streams"] if e["tap_stream_id"] == "activities_send_email")
    # A catalog made before Marketo added "Step ID" to Send Email.
    del entry["schema"]["properties"]["step_id"]
    entry["metadata"] = [m for m in entry["metadata"] if m["breadcrumb"][-1:] != ["step_id"]]
    with caplog.at_level("WARNING"):
        run = run_tap(config, catalog=catalog)
    assert run.error is None, run.error
    records = run.records("activities_send_email")
    assert records and all("step_id" not in r and "choice_number" in r for r in records)
    warnings = [r.getMessage() for r in caplog.records if "have no column" in r.getMessage()]
    assert len(warnings) == 1  # once per run, not per row
    assert warnings[0].startswith("activities_send_email: attributes 'Step ID' of activity type 6")


def test_activity_type_ids_limit_the_per_type_streams(sb: Sandbox) -> None:
    config = tap_config(sb, activities_by_type=True, activity_type_ids=[6, 100002])
    streams = {e["tap_stream_id"] for e in catalog_with(config)["streams"]}
    assert {s for s in streams if s.startswith("activities_")} == {
        "activities_send_email",
        "activities_signed_contract_c",
    }
