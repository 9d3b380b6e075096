"""Record shaping of the asset catalogue, program details and api_usage, on requests-mock."""

from __future__ import annotations

import logging
import typing as t

import pytest
import requests_mock

from tap_marketo_bulk.streams.usage import usage_day, usage_rows
from tests.unit.fake_marketo import BASE_URL, FakeMarketo
from tests.unit.tap_runner import TapRun, catalog_with, run_tap
from tests.unit.test_tap import CONFIG

ASSET = f"{BASE_URL}/rest/asset/v1"
NO_ASSETS = {"success": True, "warnings": ["No assets found for the given search criteria."]}


def offset_pages(items: list[dict]) -> t.Callable[..., dict]:
    """An Asset browse: maxReturn/offset pages, then "No assets found"."""

    def answer(request: t.Any, context: t.Any) -> dict:
        size, offset = int(request.qs["maxreturn"][0]), int(request.qs["offset"][0])
        page = items[offset : offset + size]
        return {"success": True, "result": page, "warnings": []} if page else NO_ASSETS

    return answer


def run_with(routes: dict[str, t.Any], streams: list[str], state: dict | None = None,
             ) -> tuple[TapRun, requests_mock.Mocker]:
    with requests_mock.Mocker() as m:
        FakeMarketo(m, lambda body: [])
        for url, answer in routes.items():
            m.get(url, json=answer)
        run = run_tap(CONFIG, state=state, catalog=catalog_with(CONFIG, only=streams))
    return run, m


def test_usage_rows_flatten_days_per_user_sorted_with_the_later_answer_winning() -> None:
    days = [
        {"date": "2024-03-02", "total": 7, "users": [{"userId": "b@x", "count": 5},
                                                      {"userId": "a@x", "count": 2}]},
        {"date": "2024-03-01T00:00:00Z", "total": 1, "users": [{"userId": "a@x", "count": 1}]},
        {"date": "2024-03-03", "total": 0, "users": []},  # a day without calls: no row
        {"date": "2024-03-02", "total": 9, "users": [{"userId": "b@x", "count": 9}]},  # later
    ]
    assert usage_rows(days) == [
        {"date": "2024-03-01", "userId": "a@x", "count": 1},
        {"date": "2024-03-02", "userId": "a@x", "count": 2},
        {"date": "2024-03-02", "userId": "b@x", "count": 9},
    ]
    with pytest.raises(ValueError, match="api_usage: Marketo answered a usage date 'soon'"):
        usage_day("soon")


def test_api_usage_emits_from_the_bookmark_day_on_with_today_from_usage_json() -> None:
    week = {"success": True, "result": [
        {"date": f"2024-03-0{d}", "total": d, "users": [{"userId": "etl@x", "count": d}]}
        for d in range(7, 0, -1)  # newest first
    ]}
    today = {"success": True, "result": [
        {"date": "2024-03-07", "total": 40, "users": [{"userId": "etl@x", "count": 40}]}]}
    state = {"bookmarks": {"api_usage": {"replication_key": "date",
                                         "replication_key_value": "2024-03-05"}}}
    run, _ = run_with({f"{BASE_URL}/rest/v1/stats/usage/last7days.json": week,
                        f"{BASE_URL}/rest/v1/stats/usage.json": today}, ["api_usage"], state)
    assert run.error is None, run.error
    assert run.records("api_usage") == [
        {"date": "2024-03-05", "userId": "etl@x", "count": 5},
        {"date": "2024-03-06", "userId": "etl@x", "count": 6},
        {"date": "2024-03-07", "userId": "etl@x", "count": 40},  # usage.json read last wins
    ]
    assert run.final_state["bookmarks"]["api_usage"]["replication_key_value"] == "2024-03-07"


def test_form_fields_skip_a_form_gone_since_the_browse_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # form 1 listed twice (approved and draft): its fields are read and emitted once
    forms = [{"id": 1, "name": "Kept"}, {"id": 1, "name": "Kept"}, {"id": 2, "name": "Gone"}]
    fields = {"success": True, "result": [
        {"id": "Email", "label": "Email:", "required": True,
         "validationMessage": {"en": "Must be valid email."}},  # an object, as swagger types it
    ]}
    gone = {"success": False, "errors": [{"code": "702", "message": "Form not found"}]}
    with caplog.at_level(logging.WARNING):
        run, _ = run_with({f"{ASSET}/forms.json": offset_pages(forms),
                           f"{ASSET}/form/1/fields.json": fields,
                           f"{ASSET}/form/2/fields.json": gone}, ["form_fields"])
    assert run.error is None, run.error
    (record,) = run.records("form_fields")
    assert (record["formId"], record["id"], record["label"], record["required"]) == (
        1, "Email", "Email:", True)
    assert record["validationMessage"] == '{"en": "Must be valid email."}'  # kept as JSON text
    assert any("form_fields: form 2 ('Gone') was deleted after it was listed: skipped"
               " (Marketo 702" in r.getMessage() for r in caplog.records)


def test_form_fields_stop_on_any_other_error() -> None:
    denied = {"success": False, "errors": [{"code": "603", "message": "Access denied"}]}
    run, _ = run_with({f"{ASSET}/forms.json": offset_pages([{"id": 1}]),
                       f"{ASSET}/form/1/fields.json": denied}, ["form_fields"])
    assert run.error is not None and "603" in str(run.error)


def test_program_tags_and_costs_come_from_program_by_id_read_once() -> None:
    programs = [{"id": 1001, "name": "A"}, {"id": 1002, "name": "B"}]
    detail = {"success": True, "result": [{
        "id": 1001,
        "tags": [{"tagType": "Region", "tagValue": "EMEA"}],
        "costs": [{"startDate": "2024-01-01", "cost": 200, "note": None},
                  {"startDate": "2024-02-01T00:00:00Z+0000", "cost": 200, "note": "Booth"}],
    }]}
    bare = {"success": True, "result": [{"id": 1002, "tags": None, "costs": None}]}
    run, mocker = run_with({f"{ASSET}/programs.json": offset_pages(programs),
                            f"{ASSET}/program/1001.json": detail,
                            f"{ASSET}/program/1002.json": bare},
                           ["program_tags", "program_costs"])
    assert run.error is None, run.error
    assert run.records("program_tags") == [
        {"programId": 1001, "tagType": "Region", "tagValue": "EMEA"}]
    assert run.records("program_costs") == [
        {"programId": 1001, "seq": 0, "startDate": "2024-01-01T00:00:00Z", "cost": 200,
         "note": None},
        {"programId": 1001, "seq": 1, "startDate": "2024-02-01T00:00:00Z", "cost": 200,
         "note": "Booth"},
    ]
    by_id = [r for r in mocker.request_history if r.path.endswith("/program/1001.json")]
    assert len(by_id) == 1  # both streams share the run's cached answer


def test_smart_campaigns_normalise_nested_times_and_read_all_whatever_a_bookmark_says() -> None:
    campaign = {"id": 7, "name": "C", "createdAt": "2024-01-02T03:04:05Z+0000",
                "updatedAt": "2024-01-03T00:00:00Z+0000",
                "recurrence": {"startAt": "2024-01-05T10:00:00Z+0000", "endAt": None,
                               "intervalType": "Daily", "interval": 1}}
    state = {"bookmarks": {"smart_campaigns": {"replication_key": "updatedAt",
                                               "replication_key_value": "2024-01-02T00:00:00Z"}}}
    run, mocker = run_with({f"{ASSET}/smartCampaigns.json": offset_pages([campaign])},
                           ["smart_campaigns"], state)
    assert run.error is None, run.error
    (record,) = run.records("smart_campaigns")
    assert (record["createdAt"], record["updatedAt"]) == (
        "2024-01-02T03:04:05Z", "2024-01-03T00:00:00Z")
    assert record["recurrence"] == {"startAt": "2024-01-05T10:00:00Z", "endAt": None,
                                    "intervalType": "Daily", "interval": 1}
    # Full table (a deleted campaign must reach the loader): an old bookmark filters nothing.
    sent = [r.qs for r in mocker.request_history if r.path.endswith("/smartcampaigns.json")]
    assert sent and all("earliestupdatedat" not in q for q in sent)
    assert [m["type"] for m in run.messages if m.get("stream") == "smart_campaigns"][-1] == (
        "ACTIVATE_VERSION")
