"""merged_leads: Merge Leads activities (type 32) over REST become one row per merged lead."""

from __future__ import annotations

import logging

import pytest
import requests_mock

from tap_marketo_bulk.streams.merged_leads import merged_ids
from tests.unit.fake_marketo import BASE_URL, FakeMarketo
from tests.unit.tap_runner import catalog_with, run_tap
from tests.unit.test_tap import CONFIG


def merge(activity_id: int, winner: int, when: str, ids: object) -> dict:
    attributes = [{"name": "Merge Source", "value": "Web service API"}]
    if ids is not None:
        attributes.append({"name": "Merge IDs", "value": ids})
    return {"id": activity_id, "marketoGUID": str(activity_id), "leadId": winner,
            "activityDate": when, "activityTypeId": 32, "attributes": attributes}


PAGES = [
    {"result": [merge(1, 10, "2024-01-02T00:00:00Z", "[11]")], "nextPageToken": "t2",
     "moreResult": True},
    {"result": [], "nextPageToken": "t3", "moreResult": True},  # short pages still go on
    {"result": [merge(2, 20, "2024-01-03T00:00:00Z", "[21,22]"),
                merge(3, 30, "2024-01-03T00:00:00Z", None)],
     "nextPageToken": "t4", "moreResult": False},
]


def run_merged(pages: list[dict], state: dict | None = None) -> tuple:
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, lambda body: [])
        token = mocker.get(f"{BASE_URL}/rest/v1/activities/pagingtoken.json",
                           json={"success": True, "nextPageToken": "t1"})
        activities = mocker.get(f"{BASE_URL}/rest/v1/activities.json",
                                [{"json": {"success": True, **page}} for page in pages])
        run = run_tap(CONFIG, state=state, catalog=catalog_with(CONFIG, only=["merged_leads"]))
    assert fake.creates == []  # no bulk export job, ever
    return run, token, activities


def test_one_row_per_merged_id_from_every_page(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        run, token, activities = run_merged(PAGES)
    assert run.error is None, run.error
    assert run.records("merged_leads") == [
        {"leadId": 10, "mergedLeadId": 11, "mergedAt": "2024-01-02T00:00:00Z"},
        {"leadId": 20, "mergedLeadId": 21, "mergedAt": "2024-01-03T00:00:00Z"},
        {"leadId": 20, "mergedLeadId": 22, "mergedAt": "2024-01-03T00:00:00Z"},
    ]
    assert token.last_request.qs["sincedatetime"] == ["2024-01-01t00:00:00z"]
    assert [r.qs["nextpagetoken"][0] for r in activities.request_history] == ["t1", "t2", "t3"]
    assert all(r.qs["activitytypeids"] == ["32"] for r in activities.request_history)
    assert "1 Merge Leads activities name no merged lead id" in caplog.text
    bookmark = run.final_state["bookmarks"]["merged_leads"]
    assert bookmark["replication_key_value"] == "2024-01-03T00:00:00Z"
    assert bookmark["ids_at_bookmark"] == [2, 3]


def test_rerun_from_state_skips_activities_at_the_bookmark_second() -> None:
    first, _, _ = run_merged(PAGES)
    state = {"bookmarks": {"merged_leads": first.final_state["bookmarks"]["merged_leads"]}}
    again = [{"result": [merge(2, 20, "2024-01-03T00:00:00Z", "[21,22]"),
                         merge(4, 40, "2024-01-03T00:00:00Z", "[41]")],
              "nextPageToken": "t9", "moreResult": False}]
    second, token, _ = run_merged(again, state=state)
    assert second.error is None, second.error
    assert token.last_request.qs["sincedatetime"] == ["2024-01-03t00:00:00z"]
    assert [r["mergedLeadId"] for r in second.records("merged_leads")] == [41]


def test_merge_ids_in_the_shapes_marketo_writes_them() -> None:
    assert merged_ids("[12,34]") == [12, 34]
    assert merged_ids("12,34") == [12, 34]
    assert merged_ids([12]) == [12]
    assert merged_ids(12) == [12]
    assert merged_ids("") is None
    assert merged_ids(None) is None
    assert merged_ids("abc") is None
