"""Answers captured from real Marketo instances (shared/real-marketo/), each through the tap code
that reads that shape: bulk job answers -> export/jobs.py (and download.py for a file's
headers), REST pages -> api/paging.py and the stream's to_record, the token answer -> the client.

Served with requests-mock exactly as captured (status, Content-Type, body).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import typing as t
from datetime import datetime, timezone

import pytest
import requests_mock as rm

from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.api.paging import read_asset_pages, read_token_pages
from tap_marketo_bulk.export.download import download_export
from tap_marketo_bulk.export.jobs import CANCELLED, ExportJob, normalize_status
from tap_marketo_bulk.export.rest_sample import live_lead_share
from tap_marketo_bulk.streams.activities import activities_schema
from tap_marketo_bulk.tap import TapMarketoBulk
from tests.real_marketo import corpus
from tests.unit.fake_marketo import BASE_URL, FakeMarketo
from tests.unit.test_tap import CONFIG

ROOT, WHY_ABSENT = corpus.corpus_dir()
if ROOT is None:
    pytest.skip(WHY_ABSENT, allow_module_level=True)
assert ROOT is not None
FILES = corpus.discover(ROOT)
LOGGER = logging.getLogger("corpus")
BULK = re.compile(r"/bulk/v1/(leads|activities|program/members)/export/(?:([^/]+)/)?(\w+)\.json")
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
NO_ASSETS = {"success": True, "warnings": ["No assets found for the given search criteria."]}


def captures(kind: str) -> list[corpus.Capture]:
    found = []
    for path in FILES:
        try:
            capture = corpus.classify(path)
        except corpus.Unrecognised:
            continue  # test_real_marketo.py fails it, naming the file
        if capture.kind == kind:
            found.append(capture)
    return found


def ids(capture: corpus.Capture) -> str:
    return capture.name


@pytest.fixture
def client(requests_mock: rm.Mocker) -> MarketoClient:
    requests_mock.get(
        f"{BASE_URL}/identity/oauth/token", json={"access_token": "tok", "expires_in": 3600}
    )
    return MarketoClient(BASE_URL, "id", "secret", sleep=lambda _s: None)


@pytest.fixture(scope="module")
def streams() -> dict[str, t.Any]:
    """The tap's streams (to_record / member_row need no network once built)."""
    with rm.Mocker() as mocker:
        FakeMarketo(mocker, lambda *a, **k: [])
        return dict(TapMarketoBulk(config=CONFIG).streams)


def instant(text: str) -> datetime:
    """A captured datetime's instant, read here apart from the tap: `…Z`, the Asset API's
    `…Z+0000` and 2014's `YYYY-MM-DD HH:MM:SS` (UTC)."""
    text = text.replace(" ", "T").removesuffix("+0000").removesuffix("Z")
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


# ----- what the tap makes of REST items -----------------------------------------------------------


def stream_records(streams: dict, items: list[dict]) -> tuple[str, list[dict]]:
    """Items through the stream that reads their shape: (stream, records), or ("", [])."""
    if not items:
        return "", []
    keys = set().union(*items)
    if {"folder", "channel"} <= keys:
        name = "programs"
    elif "active" in keys:
        name = "campaigns"
    elif "workspaceName" in keys and not keys & {"email", "firstName", "membership"}:
        name = "lists"
    elif keys <= {"id", "email", "firstName", "lastName", "createdAt", "updatedAt"}:
        member_row = streams["list_members"].member_row
        return "list_members", [member_row(1, item) for item in items]
    else:
        return "", []  # a shape no stream of the tap reads over REST (custom object records)
    return name, [streams[name].to_record(item, None) for item in items]


def check_records(items: list[dict], stream: str, records: list[dict]) -> None:
    """Datetimes as RFC 3339 UTC of the same instant; every other value as captured."""
    if not stream:
        return  # paged, and no stream turns this shape into records
    for item, record in zip(items, records, strict=True):
        for key, value in record.items():
            captured = item.get("id") if key == "leadId" else item.get(key)
            if key in ("createdAt", "updatedAt") and captured is not None:
                assert RFC3339_UTC.fullmatch(value), (key, captured, value)
                assert instant(value) == instant(captured)
            elif key != "listId":
                assert value == captured, (key, captured, value)


# ----- recorded HTTP exchanges (node-marketo) -----------------------------------------------------


def serve(mocker: rm.Mocker, exchange: corpus.Exchange, method: str | None = None) -> t.Any:
    return mocker.register_uri(
        method or exchange.method,
        BASE_URL + exchange.path,
        status_code=exchange.status,
        headers={"Content-Type": exchange.headers.get("content-type", "application/json")},
        text=json.dumps(exchange.body),
    )


def reads_like_get(exchange: corpus.Exchange) -> bool:
    """A read: GET, or a POST node-marketo sent for one (`_method: GET` in the body, or an
    answer of records rather than a write's `{id, status}` items)."""
    body = exchange.request_body or {}
    if exchange.method == "GET" or (body.get("data") or {}).get("_method") == "GET":
        return True
    items = exchange.body.get("result") or []
    return exchange.method == "POST" and not all(set(i) <= {"id", "status"} for i in items)


@pytest.mark.parametrize("capture", captures(corpus.HTTP_EXCHANGE), ids=ids)
def test_a_recorded_exchange_through_the_tap(
    capture: corpus.Capture, requests_mock: rm.Mocker, client: MarketoClient, streams: dict
) -> None:
    exchange: corpus.Exchange = capture.payload
    assert exchange.status == 200
    result = exchange.body.get("result")
    bulk = BULK.fullmatch(exchange.path)
    if exchange.path == "/identity/oauth/token":
        serve(requests_mock, exchange, "GET")
        serve(requests_mock, exchange, "POST")
        probe = requests_mock.get(f"{BASE_URL}/rest/v1/probe.json", json={"success": True})
        fresh = MarketoClient(BASE_URL, "someId", "secret", sleep=lambda _s: None)
        assert fresh.get("/rest/v1/probe.json") == {"success": True}
        assert probe.last_request.headers["Authorization"] == (
            f"Bearer {exchange.body['access_token']}"
        )
    elif bulk:
        object_path, export_id, action = bulk.groups()
        check_job_answer(requests_mock, client, exchange, object_path, export_id, action)
    elif exchange.path == "/rest/v1/activities/types.json":
        serve(requests_mock, exchange)
        types = client.get(exchange.path)["result"]
        attributes = activities_schema(types)["properties"]["attributes"]["properties"]
        assert set(attributes) == {a["name"] for t_ in result for a in t_.get("attributes", [])}
    elif exchange.path.startswith("/rest/asset/") and reads_like_get(exchange):
        serve(requests_mock, exchange, "GET")
        assert list(read_asset_pages(client, exchange.path)) == [result]
    elif exchange.path.startswith("/rest/v1/") and reads_like_get(exchange):
        serve(requests_mock, exchange, "GET")
        (page,) = read_token_pages(client, exchange.path)
        assert page == result
        check_records(page, *stream_records(streams, page))
    else:  # a write (POST, DELETE) the tap never sends: its envelope still reads as success
        assert exchange.method in ("POST", "DELETE")
        serve(requests_mock, exchange, "POST")
        assert client.post(exchange.path, json={})["result"] == result


def check_job_answer(
    mocker: rm.Mocker,
    client: MarketoClient,
    exchange: corpus.Exchange,
    object_path: str,
    export_id: str | None,
    action: str,
) -> None:
    serve(mocker, exchange)
    (answer,) = exchange.body["result"]
    job = ExportJob(client, object_path, exchange.request_body or {}, logger=LOGGER)
    if action == "create":
        assert job.create() == answer["exportId"]
    elif action == "enqueue":
        job.export_id, job.status = export_id, "Created"
        job.enqueue()
    elif action == "status":
        assert job.attach(str(export_id)) is (normalize_status(answer["status"]) != CANCELLED)
        job.export_id = export_id
    elif action == "cancel":
        job.export_id = export_id
        job.cancel()
        assert job.status == CANCELLED
    else:
        pytest.fail(f"{exchange.path}: a bulk action the tests do not know: {action}")
    assert (job.export_id, job.status) == (answer["exportId"], normalize_status(answer["status"]))


# ----- bulk job run notes (snaplogic) -------------------------------------------------------------


@pytest.mark.parametrize("capture", captures(corpus.JOB_RUN_NOTES), ids=ids)
def test_a_real_job_run_through_the_tap(
    capture: corpus.Capture, requests_mock: rm.Mocker, client: MarketoClient, tmp_path: t.Any
) -> None:
    text: str = capture.payload
    statuses = corpus.json_objects_with(text, "exportId")
    listings = corpus.json_objects_with(text, "nextPageToken")
    file_headers = [h for h in corpus.header_blocks(text) if "content-disposition" in h]
    assert statuses or file_headers, f"{capture.name}: no job answer nor file headers found"
    for answer in statuses:
        route = f"{BASE_URL}/bulk/v1/leads/export/{answer['exportId']}/status.json"
        requests_mock.get(route, json={"success": True, "result": [answer]})
        job = ExportJob(client, "leads", {}, logger=LOGGER)
        assert job.attach(answer["exportId"])
        assert job.status == normalize_status(answer["status"])
        if "fileChecksum" in answer:  # `sha256:<hex>`, kept as the download checks it
            assert job.file_checksum == answer["fileChecksum"]
            assert (job.number_of_records, job.file_size) == (
                answer["numberOfRecords"],
                answer["fileSize"],
            )
    for listing in listings:  # the job list, paged by nextPageToken
        pages = requests_mock.get(
            f"{BASE_URL}/bulk/v1/leads/export.json",
            [{"json": listing}, {"json": {"success": True, "result": []}}],
        )
        job = ExportJob(client, "leads", {}, logger=LOGGER)
        assert job.reconcile() == 0  # Completed jobs are never cancelled
        assert pages.request_history[-1].qs["nextpagetoken"] == [listing["nextPageToken"].lower()]
    for headers in file_headers:
        check_download(requests_mock, client, headers, tmp_path)


def check_download(
    mocker: rm.Mocker, client: MarketoClient, headers: dict[str, str], tmp_path: t.Any
) -> None:
    """A file.json answer with the captured headers downloads and verifies against a
    `sha256:<hex>` fileChecksum (the body is ours: the capture's is mangled)."""
    data = b"firstName,lastName,email\ntest,test,test@gmail.com\n"
    for content_type in (headers["content-type"], "text/csv;charset=UTF-8"):
        mocker.get(
            f"{BASE_URL}/bulk/v1/leads/export/e1/file.json",
            content=data,
            headers={**headers, "content-type": content_type, "content-length": str(len(data))},
        )
        dest = tmp_path / "file.csv"
        download_export(
            client,
            "leads",
            "e1",
            dest,
            file_size=len(data),
            checksum="sha256:" + hashlib.sha256(data).hexdigest(),
            logger=LOGGER,
        )
        assert dest.read_bytes() == data


# ----- REST pages (embulk-input-marketo) ----------------------------------------------------------


def is_asset_answer(pages: list[dict]) -> bool:
    items = [i for p in pages for i in p.get("result", [])]
    return any("folder" in i or str(i.get("createdAt", "")).endswith("+0000") for i in items)


@pytest.mark.parametrize("capture", captures(corpus.REST_PAGES), ids=ids)
def test_rest_pages_through_paging_and_the_stream(
    capture: corpus.Capture, requests_mock: rm.Mocker, client: MarketoClient, streams: dict
) -> None:
    pages: list[dict] = [{"success": True, **p} for p in capture.payload]
    results = [p.get("result", []) for p in pages]
    path = "/rest/v1/captured.json"
    if is_asset_answer(pages):
        answers = [*pages, NO_ASSETS]
        route = requests_mock.get(BASE_URL + path, [{"json": a} for a in answers])
        read = list(read_asset_pages(client, path, page_size=max(len(r) for r in results)))
        assert read == [r for r in results if r]
        offsets = [int(r.qs["offset"][0]) for r in route.request_history]
        assert offsets[: len(results)] == [sum(map(len, results[:i])) for i in range(len(results))]
    else:
        chained = [dict(p) for p in pages]
        for page in chained[:-1]:  # each page but the last leads on
            page.setdefault("nextPageToken", "captured-next")
        route = requests_mock.get(BASE_URL + path, [{"json": p} for p in chained])
        read = list(read_token_pages(client, path))
        assert read == results[: len(read)] and len(read) == len(results)
        sent = [r.qs.get("nextpagetoken", [None])[0] for r in route.request_history]
        assert sent[1:] == [p["nextPageToken"].lower() for p in chained[:-1]]
    for items in results:
        check_records(items, *stream_records(streams, items))


def lead_id_lookups() -> list[corpus.Capture]:
    """Recorded Get Leads by Filter Type calls on ids (what live_lead_share sends)."""
    found = []
    for capture in captures(corpus.HTTP_EXCHANGE):
        exchange: corpus.Exchange = capture.payload
        query = ((exchange.request_body or {}).get("query")) or {}
        if exchange.path == "/rest/v1/leads.json" and query.get("filterType") == "id":
            found.append(capture)
    return found


@pytest.mark.parametrize("capture", lead_id_lookups(), ids=ids)
def test_a_real_lead_id_lookup_gives_the_live_share(
    capture: corpus.Capture, requests_mock: rm.Mocker, client: MarketoClient
) -> None:
    exchange: corpus.Exchange = capture.payload
    asked = [int(v) for v in str(exchange.request_body["query"]["filterValues"]).split(",")]
    found = {int(lead["id"]) for lead in exchange.body["result"]}
    assert asked == list(range(1, len(asked) + 1)), "ids 1..n: what live_lead_share asks"
    route = serve(requests_mock, exchange, "GET")
    share = live_lead_share(client, max(asked))
    assert route.last_request.qs["filtertype"] == ["id"]
    assert share == len(found & set(asked)) / len(asked)
