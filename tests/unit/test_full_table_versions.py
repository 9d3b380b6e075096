"""Full-table streams end with ACTIVATE_VERSION (their records carry its version); a program,
list or segmentation deleted between its list call and its per-item call is skipped with a
WARNING. On requests-mock."""

from __future__ import annotations

import logging
import typing as t

import pytest
import requests_mock

from tap_marketo_bulk.streams.rest import RestStream
from tests.unit.fake_marketo import BASE_URL, FakeMarketo
from tests.unit.tap_runner import TapRun, catalog_with, run_tap
from tests.unit.test_tap import CONFIG

NO_ASSETS = {"success": True, "warnings": ["No assets found for the given search criteria."]}
GONE = {
    "610": "Requested resource not found",
    "702": "No data found for given search scenario",
    "710": "Parent Folder Not Found",
    "1013": "Object not found",
}


def error(code: str, message: str) -> dict:
    return {"requestId": "r1", "success": False, "errors": [{"code": code, "message": message}]}


def asset_page(items: list[dict]) -> t.Callable[[t.Any, t.Any], dict]:
    """One Asset API listing: the items at offset 0, "No assets found" after."""

    def answer(request: t.Any, context: t.Any) -> dict:
        if int(request.qs.get("offset", ["0"])[0]):
            return NO_ASSETS
        return {"success": True, "result": items} if items else NO_ASSETS

    return answer


PROGRAMS = [
    {"id": i, "name": f"Program {i}", "createdAt": "2024-01-01T00:00:00Z+0000"} for i in (1, 2, 3)
]


def tokens_of(program_id: int) -> dict:
    tokens = [{"name": f"my.token{program_id}", "type": "text", "value": f"v{program_id}"}]
    return {
        "success": True,
        "result": [{"folder": {"type": "Program", "value": program_id}, "tokens": tokens}],
    }


def program_tokens_run(answer_for_2: dict, config: dict | None = None) -> TapRun:
    config = config or CONFIG
    with requests_mock.Mocker() as m:
        FakeMarketo(m, lambda body: [])
        m.get(f"{BASE_URL}/rest/asset/v1/programs.json", json=asset_page(PROGRAMS))
        for program_id in (1, 3):
            m.get(
                f"{BASE_URL}/rest/asset/v1/folder/{program_id}/tokens.json",
                json=tokens_of(program_id),
            )
        m.get(f"{BASE_URL}/rest/asset/v1/folder/2/tokens.json", json=answer_for_2)
        return run_tap(config, catalog=catalog_with(config, only=["program_tokens"]))


@pytest.mark.parametrize("code", sorted(GONE))
def test_a_program_deleted_before_its_tokens_call_is_skipped_with_a_warning(
    code: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        run = program_tokens_run(error(code, GONE[code]))
    assert run.error is None, run.error
    assert [(r["programId"], r["name"]) for r in run.records("program_tokens")] == [
        (1, "my.token1"),
        (3, "my.token3"),
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    named = [w for w in warnings if "program_tokens" in w and "program 2 ('Program 2')" in w]
    assert len(named) == 1, warnings
    assert code in named[0]


def test_another_error_on_a_tokens_call_still_fails_the_run() -> None:
    run = program_tokens_run(error("603", "Access denied"))
    assert run.error is not None and "603" in str(run.error)
    # No ACTIVATE_VERSION after a failed stream: the tokens loaded before stay current.
    assert not [m for m in run.messages if m["type"] == "ACTIVATE_VERSION"]


def test_full_table_records_carry_the_version_activate_version_names_after_them() -> None:
    run = program_tokens_run(tokens_of(2))
    assert run.error is None, run.error
    ours = [m for m in run.messages if m.get("stream") == "program_tokens"]
    kinds = [m["type"] for m in ours if m["type"] != "STATE"]
    # SCHEMA, the records, then ACTIVATE_VERSION once every record of the version is written.
    assert kinds == ["SCHEMA", "RECORD", "RECORD", "RECORD", "ACTIVATE_VERSION"], kinds
    version = ours[-1]["version"]
    assert isinstance(version, int) and version > 1_600_000_000
    assert {m["version"] for m in ours if m["type"] == "RECORD"} == {version}


@pytest.mark.parametrize("value", [False, "false"])
def test_emit_activate_version_messages_false_emits_none(value: t.Any) -> None:
    run = program_tokens_run(tokens_of(2), {**CONFIG, "emit_activate_version_messages": value})
    assert run.error is None, run.error
    assert len(run.records("program_tokens")) == 3
    assert not [m for m in run.messages if m["type"] == "ACTIVATE_VERSION"]
    assert all("version" not in m for m in run.messages if m["type"] == "RECORD")


def test_incremental_streams_emit_no_activate_version() -> None:
    with requests_mock.Mocker() as m:
        FakeMarketo(m, lambda body: [])
        m.get(
            f"{BASE_URL}/rest/v1/activities/pagingtoken.json",
            json={"success": True, "nextPageToken": "T0"},
        )
        m.get(
            f"{BASE_URL}/rest/v1/activities/deletedleads.json",
            json={
                "success": True,
                "moreResult": False,
                "nextPageToken": "T1",
                "result": [{"id": 9, "leadId": 4, "activityDate": "2024-01-05T00:00:00Z"}],
            },
        )
        run = run_tap(CONFIG, catalog=catalog_with(CONFIG, only=["deleted_leads"]))
    assert run.error is None, run.error
    assert len(run.records("deleted_leads")) == 1
    assert not [m for m in run.messages if m["type"] == "ACTIVATE_VERSION"]


def test_emails_are_full_table_and_version_comes_out_as_email_version() -> None:
    email = {
        "id": 7,
        "name": "Welcome",
        "createdAt": "2024-01-01T00:00:00Z+0000",
        "updatedAt": "2024-01-02T00:00:00Z+0000",
        "version": 2,
    }
    state = {"bookmarks": {"emails": {"replication_key": "updatedAt",
                                      "replication_key_value": "2024-06-01T00:00:00Z"}}}
    with requests_mock.Mocker() as m:
        FakeMarketo(m, lambda body: [])
        route = m.get(f"{BASE_URL}/rest/asset/v1/emails.json", json=asset_page([email]))
        catalog = catalog_with(CONFIG, only=["emails"])
        run = run_tap(CONFIG, state=state, catalog=catalog)
    assert run.error is None, run.error
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "emails")
    assert "version" not in entry["schema"]["properties"]
    assert entry["schema"]["properties"]["emailVersion"]["type"] == ["integer", "null"]
    # Every email, whatever an old bookmark says: no earliestUpdatedAt filter any more.
    assert all("earliestupdatedat" not in r.qs for r in route.request_history)
    [record] = run.records("emails")
    assert record["emailVersion"] == 2 and "version" not in record
    assert record["updatedAt"] == "2024-01-02T00:00:00Z"
    assert [m["type"] for m in run.messages if m.get("stream") == "emails"][-1] == (
        "ACTIVATE_VERSION"
    )


SEGMENTATIONS = [{"id": 5, "name": "Industry"}, {"id": 6, "name": "Region"}]


@pytest.mark.parametrize("code", ["702", "610"])
def test_a_segmentation_deleted_before_its_segments_call_is_skipped_with_a_warning(
    code: str, caplog: pytest.LogCaptureFixture
) -> None:
    segments = [{"id": 51, "segmentationId": 5, "name": "Default"}]
    with requests_mock.Mocker() as m:
        FakeMarketo(m, lambda body: [])
        m.get(f"{BASE_URL}/rest/asset/v1/segmentation.json", json=asset_page(SEGMENTATIONS))
        m.get(f"{BASE_URL}/rest/asset/v1/segmentation/5/segments.json", json=asset_page(segments))
        m.get(
            f"{BASE_URL}/rest/asset/v1/segmentation/6/segments.json", json=error(code, GONE[code])
        )
        with caplog.at_level(logging.WARNING):
            run = run_tap(CONFIG, catalog=catalog_with(CONFIG, only=["segments"]))
    assert run.error is None, run.error
    assert [r["id"] for r in run.records("segments")] == [51]
    assert "segments: segmentation 6 ('Region')" in caplog.text


def list_members_run(list_11: t.Any) -> TapRun:
    """Lists 10 and 11; list 11's member pages answer `list_11` (a callable or a JSON body)."""

    def members(request: t.Any, context: t.Any) -> dict:
        list_id = int(request.path.split("/")[4])
        if list_id == 11:
            return list_11(request) if callable(list_11) else list_11
        return {"success": True, "result": [{"id": 1, "email": "a@x.com"}]}

    with requests_mock.Mocker() as m:
        FakeMarketo(m, lambda body: [])
        m.get(
            f"{BASE_URL}/rest/v1/lists.json",
            json={"success": True, "result": [{"id": 10, "name": "Ten"}, {"id": 11, "name": "X"}]},
        )
        m.get(
            requests_mock.ANY,
            json=members,
            additional_matcher=lambda r: r.path.startswith("/rest/v1/lists/"),
        )
        return run_tap(CONFIG, catalog=catalog_with(CONFIG, only=["list_members"]))


def test_a_list_deleted_before_its_members_call_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        run = list_members_run(error("1013", "Static list not found"))
    assert run.error is None, run.error
    assert [(r["listId"], r["leadId"]) for r in run.records("list_members")] == [(10, 1)]
    assert "list_members: list 11 ('X')" in caplog.text


def test_a_list_deleted_between_two_member_pages_emits_none_of_its_members() -> None:
    def pages(request: t.Any) -> dict:
        if "nextpagetoken" not in request.qs:
            return {"success": True, "result": [{"id": 2}], "nextPageToken": "P1"}
        return error("1013", "Static list not found")

    run = list_members_run(pages)
    assert run.error is None, run.error
    # Its first page is not emitted: the list is gone, its rows must not look current.
    assert [(r["listId"], r["leadId"]) for r in run.records("list_members")] == [(10, 1)]


def test_list_members_exported_in_bulk_carry_the_table_version() -> None:
    def list_leads(request: t.Any, context: t.Any) -> dict:
        if request.path.split("/")[4] == "10":
            return {"success": True, "result": [{"id": 1}]}
        page = int(request.qs.get("nextpagetoken", ["p0"])[0][1:])
        return {"success": True, "result": [{"id": 5 + page}], "nextPageToken": f"P{page + 1}"}

    config = {**CONFIG, "list_members_rest_page_limit": 1}
    with requests_mock.Mocker() as m:
        fake = FakeMarketo(m, lambda body: [{"id": i, "email": None} for i in (5, 6, 7)])
        m.get(
            f"{BASE_URL}/rest/v1/lists.json",
            json={"success": True, "result": [{"id": 10}, {"id": 20}]},
        )
        m.get(
            requests_mock.ANY,
            json=list_leads,
            additional_matcher=lambda r: r.path.startswith("/rest/v1/lists/"),
        )
        run = run_tap(config, catalog=catalog_with(config, only=["list_members"]))
    assert run.error is None, run.error
    assert [b["filter"] for b in fake.creates] == [{"staticListId": 20}]
    records = [m for m in run.messages if m["type"] == "RECORD"]
    assert sorted((m["record"]["listId"], m["record"]["leadId"]) for m in records) == [
        (10, 1), (20, 5), (20, 6), (20, 7)
    ]
    [activate] = [m for m in run.messages if m["type"] == "ACTIVATE_VERSION"]
    assert {m["version"] for m in records} == {activate["version"]}
    assert run.messages.index(activate) > max(run.messages.index(m) for m in records)


def test_no_rest_stream_declares_a_column_target_postgres_cannot_activate() -> None:
    """target-postgres 0.8.1's soft delete binds a parameter named `version`: every REST stream
    (they all may end with ACTIVATE_VERSION) emits such a field under another column."""
    from tap_marketo_bulk.tap import TapMarketoBulk

    with requests_mock.Mocker() as m:
        FakeMarketo(m, lambda body: [])
        tap = TapMarketoBulk(config=CONFIG)
        rest = [s for s in tap.streams.values() if isinstance(s, RestStream)]
    assert len(rest) > 20  # every REST stream the tap declares
    offenders = [s.name for s in rest if "version" in s.schema["properties"]]
    assert offenders == []
    renamed = {s.name: s.renamed_fields for s in rest if s.renamed_fields}
    assert renamed == {"emails": {"version": "emailVersion"},
                       "email_templates": {"version": "templateVersion"}}
