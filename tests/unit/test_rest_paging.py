"""The two REST paging styles (rest.py) and the list-membership REST/bulk rule, on requests-mock."""

from __future__ import annotations

import typing as t

import pytest
import requests_mock

from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.streams.rest import read_asset_pages, read_token_pages
from tests.unit.fake_marketo import (
    BASE_URL,
    FakeMarketo,
    identity_mocker,
    sleepless_client,
)
from tests.unit.tap_runner import catalog_with, run_tap
from tests.unit.test_tap import CONFIG

NO_ASSETS = {"success": True, "warnings": ["No assets found for the given search criteria."]}


@pytest.fixture
def mocker() -> t.Iterator[requests_mock.Mocker]:
    with identity_mocker() as m:
        yield m


@pytest.fixture
def client() -> MarketoClient:
    return sleepless_client()


def token_pages(pages: list[dict]) -> t.Callable[..., dict]:
    """Answers page i for the token "T{i}" (no token: page 0)."""

    def answer(request: t.Any, context: t.Any) -> dict:
        token = request.qs.get("nextpagetoken", ["t0"])[0]
        return pages[int(token[1:])]

    return answer


def test_token_paging_follows_next_page_token_until_a_page_has_none(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    route = mocker.get(
        f"{BASE_URL}/rest/v1/campaigns.json",
        json=token_pages(
            [
                {"success": True, "result": [{"id": 1}, {"id": 2}], "nextPageToken": "T1"},
                {"success": True, "result": [{"id": 3}], "nextPageToken": "T2"},
                {"success": True, "result": [{"id": 4}]},
            ]
        ),
    )
    pages = list(read_token_pages(client, "/rest/v1/campaigns.json", {"id": "1,2"}))
    assert pages == [[{"id": 1}, {"id": 2}], [{"id": 3}], [{"id": 4}]]
    sent = [r.qs for r in route.request_history]
    assert [q.get("nextpagetoken") for q in sent] == [None, ["t1"], ["t2"]]
    assert all(q["batchsize"] == ["300"] and q["id"] == ["1,2"] for q in sent)


def test_token_paging_stops_on_an_empty_result_that_still_carries_a_token(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    route = mocker.get(
        f"{BASE_URL}/rest/v1/lists.json",
        json=token_pages(
            [
                {"success": True, "result": [{"id": 1}], "nextPageToken": "T1"},
                {"success": True, "nextPageToken": "T2"},  # no result: the end
                {"success": True, "result": [{"id": 99}]},
            ]
        ),
    )
    assert list(read_token_pages(client, "/rest/v1/lists.json")) == [[{"id": 1}], []]
    assert route.call_count == 2


def test_token_paging_with_more_result_reads_through_empty_and_short_pages(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    mocker.get(
        f"{BASE_URL}/rest/v1/activities/deletedleads.json",
        json=token_pages(
            [
                {"success": True, "nextPageToken": "T1", "moreResult": True},
                {"success": True, "result": [{"id": 1}], "nextPageToken": "T2", "moreResult": True},
                {
                    "success": True,
                    "result": [{"id": 2}],
                    "nextPageToken": "T3",
                    "moreResult": False,
                },
                {"success": True, "result": [{"id": 99}]},
            ]
        ),
    )
    pages = read_token_pages(client, "/rest/v1/activities/deletedleads.json", first_token="T0")
    assert list(pages) == [[], [{"id": 1}], [{"id": 2}]]


@pytest.mark.parametrize(("total", "calls"), [(450, 3), (400, 3), (0, 1), (199, 1)])
def test_asset_paging_reads_by_offset_to_a_short_page_or_no_assets(
    mocker: requests_mock.Mocker, client: MarketoClient, total: int, calls: int
) -> None:
    def answer(request: t.Any, context: t.Any) -> dict:
        offset, size = int(request.qs["offset"][0]), int(request.qs["maxreturn"][0])
        ids = list(range(offset, min(offset + size, total)))
        return {"success": True, "result": [{"id": i} for i in ids]} if ids else NO_ASSETS

    route = mocker.get(f"{BASE_URL}/rest/asset/v1/emails.json", json=answer)
    pages = list(read_asset_pages(client, "/rest/asset/v1/emails.json", {"status": "approved"}))
    assert [item["id"] for page in pages for item in page] == list(range(total))
    assert all(page for page in pages)  # "No assets found" is not a page
    assert route.call_count == calls
    offsets = [int(r.qs["offset"][0]) for r in route.request_history]
    assert offsets == [200 * i for i in range(calls)]
    assert {r.qs["status"][0] for r in route.request_history} == {"approved"}


def list_members_run(page_limit: int) -> tuple[t.Any, FakeMarketo, requests_mock.Mocker]:
    """Two lists: 10 has one page of members, 20 has three pages (bulk rows from FakeMarketo)."""
    members = {10: [[{"id": 1, "email": "a@x.com"}]], 20: [[{"id": i}] for i in (5, 6, 7)]}

    def list_leads(request: t.Any, context: t.Any) -> dict:
        pages = members[int(request.path.split("/")[4])]
        index = int(request.qs.get("nextpagetoken", ["p0"])[0][1:])
        body: dict = {"success": True, "result": pages[index]}
        if index + 1 < len(pages):
            body["nextPageToken"] = f"P{index + 1}"
        return body

    def bulk_rows(body: dict) -> list[dict]:
        assert body["filter"] == {"staticListId": 20}
        return [{"id": i, "email": None} for i in (5, 6, 7)]

    config = {**CONFIG, "list_members_rest_page_limit": page_limit}
    with requests_mock.Mocker() as m:
        fake = FakeMarketo(m, bulk_rows)
        m.get(
            f"{BASE_URL}/rest/v1/lists.json",
            json={"success": True, "result": [{"id": 10}, {"id": 20}]},
        )
        m.get(requests_mock.ANY, json=list_leads, additional_matcher=_is_list_leads)
        run = run_tap(config, catalog=catalog_with(config, only=["list_members"]))
    return run, fake, m


def _is_list_leads(request: t.Any) -> bool:
    return "/rest/v1/lists/" in request.path and request.path.endswith("/leads.json")


@pytest.mark.parametrize(("page_limit", "bulk_jobs"), [(3, 0), (2, 1)])
def test_a_list_needing_more_rest_pages_than_the_limit_is_exported_by_one_bulk_job(
    page_limit: int, bulk_jobs: int
) -> None:
    run, fake, mocker = list_members_run(page_limit)
    assert run.error is None, run.error
    rows = sorted((r["listId"], r["leadId"]) for r in run.records("list_members"))
    assert rows == [(10, 1), (20, 5), (20, 6), (20, 7)]
    creates = [b for b in fake.creates if "staticListId" in b.get("filter", {})]
    assert len(creates) == bulk_jobs
    list_calls = [r for r in mocker.request_history if _is_list_leads(r)]
    # REST: 1 call for list 10, then 3 pages (or the limit plus the one page that overflows it).
    assert len(list_calls) == 1 + min(3, page_limit + 1)
