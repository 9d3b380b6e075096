"""A value its column's type can't hold: one line naming the fix; type_overrides then lets it in."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import types
import typing as t
from pathlib import Path

import pytest
import requests_mock

from tap_marketo_bulk.errors import ColumnTypeError
from tap_marketo_bulk.records.parser import CoercionError
from tap_marketo_bulk.streams.value_errors import column_type_error
from tests.unit.fake_marketo import BASE_URL, LEAD_FIELDS, FakeMarketo
from tests.unit.tap_runner import catalog_with, run_tap
from tests.unit.test_tap import CONFIG, WINDOW_STARTS

CRM_ID = "0015000000aBcDeAAA"
WINDOW_2 = "2024-02-01T00:00:00Z/2024-03-02T23:59:59Z"
# An admin changed `score` after the catalog was made: to float (decimals from window 2) in one
# test, to reference (CRM ids) in another.
AS_FLOAT = {"score": [5, 6, "12.75", "3.5"]}
AS_REFERENCE = {"score": ["0013", "6", CRM_ID, "001656783185136518"]}
STAMPS = ["2024-01-01T00:00:00Z", "2024-01-31T23:59:59Z", "2024-02-01T00:00:00Z"]
STAMPS.append("2024-03-03T12:00:00Z")


def rows_from(values: dict[str, list]) -> t.Callable[[dict], list[dict]]:
    leads = [
        {"id": i + 1, "updatedAt": stamp, **{k: v[i] for k, v in values.items()}}
        for i, stamp in enumerate(STAMPS)
    ]

    def rows_for(body: dict) -> list[dict]:
        window = body["filter"].get("updatedAt") or body["filter"]["createdAt"]
        rows = [r for r in leads if window["startAt"] <= r["updatedAt"] <= window["endAt"]]
        return [{k: v for k, v in row.items() if k in body["fields"]} for row in rows]

    return rows_for


rows_for = rows_from(AS_FLOAT)


def describe_now(mocker: requests_mock.Mocker, data_type: str) -> None:
    fields = [{**f, "dataType": data_type} if f["name"] == "score" else f for f in LEAD_FIELDS]
    mocker.get(
        f"{BASE_URL}/rest/v1/leads/describe2.json",
        json={"success": True, "result": [{"name": "API Lead", "fields": fields}]},
    )


def lead_properties(catalog: dict) -> dict:
    (entry,) = [e for e in catalog["streams"] if e["tap_stream_id"] == "leads"]
    return entry["schema"]["properties"]


def test_mistyped_value_names_stream_column_type_value_and_setting_then_override_passes() -> None:
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, rows_from(AS_FLOAT))
        catalog = catalog_with(CONFIG, only=["leads"])  # made while score was a score
        assert lead_properties(catalog)["score"]["type"][0] == "integer"
        describe_now(mocker, "float")

        first = run_tap(CONFIG, catalog=catalog)
        assert isinstance(first.error, ColumnTypeError)
        message = str(first.error)
        assert "\n" not in message
        assert message.startswith(
            "leads: column 'score' (Marketo dataType float, catalog type integer) has the "
            "value '12.75', which is not a valid integer"
        )
        assert f"export for {WINDOW_2}" in message
        assert 'Set type_overrides to {"leads": {"score": "number"}}' in message
        # Window 1 is out in full and bookmarked; window 2's export id is kept for the rerun.
        assert sorted(r["id"] for r in first.records("leads")) == [1, 2]
        state = first.final_state
        bookmark = state["bookmarks"]["leads"]
        assert bookmark["replication_key_value"] == "2024-01-31T23:59:59Z"
        assert WINDOW_2 in bookmark["in_flight"]  # (window 3 may be submitted already too)
        assert all(
            s["bookmarks"]["leads"].get("replication_key_value", "") <= "2024-01-31T23:59:59Z"
            for s in first.states()
            if "leads" in s.get("bookmarks", {})
        )

        creates_before = len(fake.lead_creates())
        overrides = {"leads": {"score": "number"}}
        second = run_tap({**CONFIG, "type_overrides": overrides}, state=state, catalog=catalog)
    assert second.error is None, second.error
    assert [(r["id"], r["score"]) for r in second.records("leads")] == [(3, 12.75), (4, 3.5)]
    (schema,) = [m for m in second.messages if m["type"] == "SCHEMA" and m["stream"] == "leads"]
    assert schema["schema"]["properties"]["score"]["type"] == ["number", "null"]
    starts = [b["filter"]["updatedAt"]["startAt"] for b in fake.lead_creates()[creates_before:]]
    assert WINDOW_STARTS[1] not in starts  # window 2's export downloaded again, not redone
    assert second.final_state["bookmarks"]["leads"]["replication_key_value"] == CONFIG["end_date"]


def test_catalog_number_for_a_text_field_fails_before_any_export_unless_overridden() -> None:
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, rows_from(AS_REFERENCE))
        catalog = catalog_with(CONFIG, only=["leads"])
        describe_now(mocker, "reference")

        first = run_tap(CONFIG, catalog=catalog)  # would turn "0013" into 13
        assert isinstance(first.error, ColumnTypeError)
        assert str(first.error).startswith(
            "leads: column 'score' is integer in the catalog but Marketo describes it as "
            "reference (text): values such as '007' would lose their zeros. Set type_overrides "
            'to {"leads": {"score": "string"}}'
        )
        assert [b for b in fake.lead_creates() if b["fields"] != ["id"]] == []
        assert first.records("leads") == []

        text = run_tap(
            {**CONFIG, "type_overrides": {"leads": {"score": "string"}}}, catalog=catalog
        )
        assert text.error is None, text.error
        assert [r["score"] for r in text.records("leads")] == AS_REFERENCE["score"]

        # Overridden as integer on purpose: no check, and a letter still stops the run clearly.
        number = run_tap(
            {**CONFIG, "type_overrides": {"leads": {"score": "integer"}}}, catalog=catalog
        )
        assert isinstance(number.error, ColumnTypeError)
        assert f"has the value {CRM_ID!r}, which is not a valid integer" in str(number.error)


def test_discovery_shows_the_override() -> None:
    with requests_mock.Mocker() as mocker:
        FakeMarketo(mocker, rows_for)
        config = {**CONFIG, "type_overrides": {"leads": {"score": "string", "id": "number"}}}
        catalog = catalog_with(config, only=["leads"])
    properties = lead_properties(catalog)
    assert properties["score"]["type"] == ["string", "null"]
    assert properties["id"]["type"] == ["number", "null"]
    assert properties["revenue"]["type"] == ["number", "null"]  # others as described


def stub_stream(data_types: dict | Exception) -> types.SimpleNamespace:
    def marketo_data_types() -> dict:
        if isinstance(data_types, Exception):
            raise data_types
        return data_types

    return types.SimpleNamespace(
        name="custom_car_c",
        schema={"properties": {"vin": {"type": ["integer", "null"]}}},
        marketo_data_types=marketo_data_types,
        current_export_key="2024-01-01T00:00:00Z/2024-01-31T23:59:59Z",
    )


@pytest.mark.parametrize(
    ("data_types", "words", "suggested"),
    [
        ({"vin": "reference"}, "Marketo dataType reference, catalog type integer", "string"),
        ({"vin": "float"}, "Marketo dataType float, catalog type integer", "number"),
        ({}, "catalog type integer; Marketo dataType unknown", "string"),
        (OSError("describe failed"), "catalog type integer; Marketo dataType unknown", "string"),
    ],
)
def test_the_line_shortens_the_value_and_suggests_the_type_marketo_documents(
    data_types: dict | Exception, words: str, suggested: str
) -> None:
    value = "x\n" * 2500
    error = CoercionError("vin", value, f"not an integer: {value!r}", 7, 9)
    message = str(column_type_error(stub_stream(data_types), error))
    assert "\n" not in message and len(message) < 600
    assert f"custom_car_c: column 'vin' ({words})" in message
    assert "... (5000 characters)" in message
    assert f'{{"custom_car_c": {{"vin": "{suggested}"}}}}' in message


def tap_cli(tmp_path: Path, *args: str, config: dict | None = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "tap_marketo_bulk", *args]
    if config is not None:
        (tmp_path / "config.json").write_text(json.dumps(config))
        argv += ["--config", str(tmp_path / "config.json")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_about_lists_type_overrides(tmp_path: Path) -> None:
    markdown = tap_cli(tmp_path, "--about", "--format=markdown")
    assert markdown.returncode == 0, markdown.stderr
    (row,) = [line for line in markdown.stdout.splitlines() if line.startswith("| type_overrides")]
    assert "string, integer, number, boolean, date, date-time" in row
    about = json.loads(tap_cli(tmp_path, "--about", "--format=json").stdout)
    assert about["settings"]["properties"]["type_overrides"]["type"][0] == "object"


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"leads": {"score": "text"}}, "type_overrides: leads.score: 'text' is not one of string"),
        ({"leads": ["score"]}, "type_overrides: "),
        ("leads.score=string", "type_overrides: "),
    ],
)
def test_bad_type_overrides_end_in_one_line(tmp_path: Path, overrides: object, line: str) -> None:
    done = tap_cli(tmp_path, config={**CONFIG, "type_overrides": overrides})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = [text for text in done.stderr.splitlines() if text.strip()][-1]
    assert f"Invalid config: {line}" in last


def test_overrides_for_a_stream_without_export_columns_are_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = {
        **CONFIG,
        "type_overrides": {"lead": {"score": "string"}, "programs": {"id": "string"}},
    }
    with requests_mock.Mocker() as mocker, caplog.at_level(logging.WARNING):
        FakeMarketo(mocker, rows_for)
        catalog_with(config, only=["leads"])
    assert "type_overrides: 'lead' is not a bulk export stream" in caplog.text
    assert "type_overrides: 'programs' is not a bulk export stream" in caplog.text


def test_a_deselected_mistyped_column_is_not_checked() -> None:
    with requests_mock.Mocker() as mocker:
        FakeMarketo(mocker, rows_from(AS_REFERENCE))
        catalog = catalog_with(CONFIG, deselect={"leads": ["score"]}, only=["leads"])
        describe_now(mocker, "reference")
        run = run_tap(CONFIG, catalog=catalog)
    assert run.error is None, run.error
    assert sorted(r["id"] for r in run.records("leads")) == [1, 2, 3, 4]
    assert all("score" not in r for r in run.records("leads"))
