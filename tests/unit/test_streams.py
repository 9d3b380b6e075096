"""Program batching, REST paging and the 1035 fallbacks of the other streams, on requests-mock."""

from __future__ import annotations

import logging
import re

import pytest
import requests_mock

from tap_marketo_bulk.streams.program_members import batched
from tap_marketo_bulk.streams.reference import normalize_asset_timestamp
from tests.unit.fake_marketo import BASE_URL, FakeMarketo
from tests.unit.tap_runner import catalog_with, run_tap
from tests.unit.test_tap import CONFIG


def test_batched_keeps_order_drops_duplicates_and_caps_at_ten() -> None:
    ids = [*range(1, 24), 5, 7]
    batches = batched(ids)
    assert [len(b) for b in batches] == [10, 10, 3]
    assert [i for b in batches for i in b] == list(range(1, 24))
    assert batched([]) == []


def test_asset_timestamps_become_rfc3339_utc() -> None:
    assert normalize_asset_timestamp("2010-03-27T18:27:45Z+0000") == "2010-03-27T18:27:45Z"
    assert normalize_asset_timestamp("2010-03-27T18:27:45-0500") == "2010-03-27T23:27:45Z"
    assert normalize_asset_timestamp(None) is None


def programs_page(request: requests_mock.request._RequestObjectProxy, total: int) -> dict:
    offset, size = int(request.qs["offset"][0]), int(request.qs["maxreturn"][0])
    ids = list(range(offset + 1, min(offset + size, total) + 1))
    if not ids:
        return {"success": True, "warnings": ["No assets found for the given search criteria."]}
    return {
        "success": True,
        "result": [
            {
                "id": i,
                "name": f"P{i}",
                "createdAt": "2020-01-01T00:00:00Z+0000",
                "updatedAt": "2020-01-02T00:00:00Z+0000",
                "folder": {"type": "Folder", "value": 1},
            }
            for i in ids
        ],
    }


@pytest.mark.parametrize("total", [450, 400, 0])
def test_programs_are_paged_by_offset_to_the_no_assets_warning(total: int) -> None:
    with requests_mock.Mocker() as mocker:
        FakeMarketo(mocker, lambda body: [])
        pages = mocker.get(
            f"{BASE_URL}/rest/asset/v1/programs.json",
            json=lambda request, context: programs_page(request, total),
        )
        run = run_tap(CONFIG, catalog=catalog_with(CONFIG, only=["programs"]))
    assert run.error is None, run.error
    records = run.records("programs")
    assert [r["id"] for r in records] == list(range(1, total + 1))
    assert all(r["createdAt"] == "2020-01-01T00:00:00Z" for r in records)
    offsets = [int(r.qs["offset"][0]) for r in pages.request_history]
    assert offsets == list(range(0, total + 1, 200))[: total // 200 + 1]


def test_deleted_leads_read_every_page_until_more_result_is_false() -> None:
    pages = [
        {
            "result": [
                {
                    "id": 1,
                    "leadId": 10,
                    "activityDate": "2024-01-02T00:00:00Z",
                    "activityTypeId": 37,
                    "attributes": [],
                }
            ],
            "nextPageToken": "t2",
            "moreResult": True,
        },
        {"result": [], "nextPageToken": "t3", "moreResult": True},  # short pages still go on
        {
            "result": [
                {
                    "id": 2,
                    "leadId": 11,
                    "activityDate": "2024-01-03T00:00:00Z",
                    "activityTypeId": 37,
                    "attributes": [],
                }
            ],
            "nextPageToken": "t4",
            "moreResult": False,
        },
    ]
    with requests_mock.Mocker() as mocker:
        FakeMarketo(mocker, lambda body: [])
        token = mocker.get(
            f"{BASE_URL}/rest/v1/activities/pagingtoken.json",
            json={"success": True, "nextPageToken": "t1"},
        )
        deleted = mocker.get(
            f"{BASE_URL}/rest/v1/activities/deletedleads.json",
            [{"json": {"success": True, **page}} for page in pages],
        )
        run = run_tap(CONFIG, catalog=catalog_with(CONFIG, only=["deleted_leads"]))
    assert run.error is None, run.error
    assert [r["id"] for r in run.records("deleted_leads")] == [1, 2]
    assert token.last_request.qs["sincedatetime"] == ["2024-01-01t00:00:00z"]
    assert [r.qs["nextpagetoken"][0] for r in deleted.request_history] == ["t1", "t2", "t3"]
    state = run.final_state["bookmarks"]["deleted_leads"]
    assert state["replication_key_value"] == "2024-01-03T00:00:00Z"


def member_rows(body: dict) -> list[dict]:
    programs = body["filter"].get("programIds") or [body["filter"]["programId"]]
    return [{"programId": p, "leadId": p * 100, "statusName": "Member"} for p in programs]


def member_exports(fake: FakeMarketo) -> list[dict]:
    return [b["filter"] for b in fake.creates if "programIds" in b["filter"]]


def test_program_members_export_in_full_per_batch_when_updated_at_is_unsupported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = {**CONFIG, "program_ids": list(range(1, 13))}
    full_batches = [{"programIds": list(range(1, 11))}, {"programIds": [11, 12]}]
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, member_rows, updated_at_supported=False)
        catalog = catalog_with(config, only=["program_members"])
        first = run_tap(config, catalog=catalog)
        assert first.error is None, first.error
        assert member_exports(fake) == full_batches  # a first sync is in full anyway
        fake.creates.clear()
        with caplog.at_level(logging.WARNING):
            second = run_tap(config, state=first.final_state, catalog=catalog)
    assert second.error is None, second.error
    # No updatedAt filter on this subscription: in full again, every run.
    assert member_exports(fake) == full_batches
    assert sorted(r["programId"] for r in second.records("program_members")) == list(range(1, 13))
    assert "full on each run" in caplog.text


def test_program_members_first_sync_in_full_then_updated_at_windows() -> None:
    # No reconcile in between (tests/unit/test_reconcile.py): incremental windows only.
    config = {**CONFIG, "program_ids": [7], "reconcile_every_days": 365}
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, member_rows)
        catalog = catalog_with(config, only=["program_members"])
        first = run_tap(config, catalog=catalog)
        assert first.error is None, first.error
        # No bookmark: one job for the program, no date filter, and no filter probe either.
        assert member_exports(fake) == [{"programIds": [7]}]
        state = first.final_state["bookmarks"]["program_members"]
        # Bookmarked at the time the full export started (the run's end_date here).
        assert state["replication_key_value"] == "2024-03-03T23:59:58Z"
        assert state["full_export"]["programs"] == [7]
        fake.creates.clear()
        second = run_tap(
            {**config, "end_date": "2024-05-10T00:00:00Z"}, state=first.final_state, catalog=catalog
        )
    assert second.error is None, second.error
    windows = [f["updatedAt"] for f in member_exports(fake)]
    assert all(f["programIds"] == [7] for f in member_exports(fake))
    assert [w["startAt"] for w in windows] == [
        "2024-03-03T23:59:59Z",
        "2024-04-03T23:59:59Z",
        "2024-05-04T23:59:59Z",
    ]
    # Marketo adds the programId column itself with programIds: the tap doesn't ask for it.
    assert all("programId" not in b["fields"] for b in fake.creates)
    final = second.final_state["bookmarks"]["program_members"]
    assert final["replication_key_value"] == "2024-05-10T00:00:00Z"


def test_program_members_new_programs_are_exported_in_full_once() -> None:
    # No reconcile in between (tests/unit/test_reconcile.py): incremental windows only.
    config = {**CONFIG, "program_ids": [7], "reconcile_every_days": 365}
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, member_rows)
        catalog = catalog_with(config, only=["program_members"])
        first = run_tap(config, catalog=catalog)
        fake.creates.clear()
        later = {**config, "program_ids": [7, 8, 9], "end_date": "2024-03-20T00:00:00Z"}
        second = run_tap(later, state=first.final_state, catalog=catalog)
        assert second.error is None, second.error
        assert member_exports(fake) == [
            {"programIds": [8, 9]},  # new: every member, once
            {
                "programIds": [7],
                "updatedAt": {"startAt": "2024-03-03T23:59:59Z", "endAt": "2024-03-20T00:00:00Z"},
            },
        ]
        assert second.final_state["bookmarks"]["program_members"]["full_export"]["programs"] == [
            7,
            8,
            9,
        ]
        fake.creates.clear()
        third = run_tap(
            {**later, "end_date": "2024-03-25T00:00:00Z"}, state=second.final_state, catalog=catalog
        )
    assert third.error is None, third.error
    assert [f["programIds"] for f in member_exports(fake)] == [[7, 8, 9]]


def test_activities_default_to_every_type_but_delete_lead() -> None:
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, lambda body: [])
        run = run_tap(CONFIG, catalog=catalog_with(CONFIG, only=["activities"]))
    assert run.error is None, run.error
    assert fake.creates
    assert all(b["filter"]["activityTypeIds"] == [1] for b in fake.creates)
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b["filter"]["createdAt"]["endAt"])
        for b in fake.creates
    )
