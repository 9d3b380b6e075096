"""file.json: whole files, ranges, checksums, damaged downloads; contents equal the truth."""

from __future__ import annotations

import hashlib
import http.client
import json
from urllib.parse import urlsplit

from tap_marketo_bulk.sandbox import Sandbox
from tap_marketo_bulk.sandbox.timeutil import iso, parse_utc

from .client import MarketoHttp, parse_csv, window

JAN = window("2023-01-01T00:00:00Z", "2023-01-31T23:59:59Z")
WINDOW_SECONDS = 31 * 86400 - 1


def _completed(api: MarketoHttp) -> tuple[dict, bytes]:
    body = {"fields": ["id", "email", "comments"], "filter": {"createdAt": JAN}}
    return api.export("leads", body)


def test_whole_file_checksum_and_headers(api: MarketoHttp) -> None:
    job, data = _completed(api)
    response = api.file("leads", job["exportId"])
    assert response.headers["Content-Type"] == "text/csv;charset=UTF-8"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert int(response.headers["Content-Length"]) == len(data) == job["fileSize"]
    assert job["fileChecksum"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert data.count(b"\n") >= job["numberOfRecords"] + 1


def test_ranges_206_and_416(api: MarketoHttp) -> None:
    job, data = _completed(api)
    size = len(data)
    part = api.file("leads", job["exportId"], Range="bytes=0-99")
    assert part.status_code == 206 and part.content == data[:100]
    assert part.headers["Content-Range"] == f"bytes 0-99/{size}"
    assert part.headers["Content-Length"] == "100" and part.headers["Accept-Ranges"] == "bytes"
    tail = api.file("leads", job["exportId"], Range="bytes=100-")
    assert tail.status_code == 206 and part.content + tail.content == data
    assert tail.headers["Content-Range"] == f"bytes 100-{size - 1}/{size}"
    beyond = api.file("leads", job["exportId"], Range=f"bytes={size}-")
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"


def test_404_for_unknown_and_unfinished_jobs(make_sandbox) -> None:
    sb = make_sandbox(job_seconds=30)
    api = MarketoHttp(sb)
    unknown = api.file("leads", "00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404 and unknown.headers["Content-Type"].startswith("text/plain")
    export_id = api.create_id("leads", {"fields": ["id"], "filter": {"createdAt": JAN}})
    assert api.file("leads", export_id).status_code == 404
    api.enqueue("leads", export_id)
    assert api.file("leads", export_id).status_code == 404


def _raw_get(sb: Sandbox, api: MarketoHttp, path: str, **headers: str) -> tuple[int, bytes, int]:
    """(status, bytes received, Content-Length) without failing on a cut connection."""
    url = urlsplit(sb.base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    connection.request("GET", path, headers={"Authorization": api.session.headers["Authorization"],
                                             **headers})
    response = connection.getresponse()
    try:
        body = response.read()
    except http.client.IncompleteRead as cut:
        body = cut.partial
    connection.close()
    return response.status, body, int(response.getheader("Content-Length"))


def test_dropped_download_can_resume_with_range(api: MarketoHttp, sb: Sandbox) -> None:
    job, data = _completed(api)
    path = f"/bulk/v1/leads/export/{job['exportId']}/file.json"
    sb.faults.drop_download = 1
    status, partial, length = _raw_get(sb, api, path)
    assert status == 200 and length == len(data) and len(partial) == len(data) // 2
    status, rest, _ = _raw_get(sb, api, path, Range=f"bytes={len(partial)}-")
    assert status == 206
    assert "sha256:" + hashlib.sha256(partial + rest).hexdigest() == job["fileChecksum"]


def test_corrupt_download_fails_the_checksum_only(api: MarketoHttp, sb: Sandbox) -> None:
    job, data = _completed(api)
    sb.faults.corrupt_download = 1
    damaged = api.file("leads", job["exportId"]).content
    assert len(damaged) == len(data) and damaged != data
    assert "sha256:" + hashlib.sha256(damaged).hexdigest() != job["fileChecksum"]
    damaged.decode("utf-8")  # still valid text: only the checksum tells
    assert api.file("leads", job["exportId"]).content == data


def test_json_error_and_expired_file_faults(api: MarketoHttp, sb: Sandbox) -> None:
    job, data = _completed(api)
    sb.faults.json_error_file = 1
    sb.faults.expired_file = 1
    envelope = api.file("leads", job["exportId"])
    assert envelope.status_code == 200
    assert envelope.headers["Content-Type"].startswith("application/json")
    assert envelope.json()["success"] is False
    assert api.file("leads", job["exportId"]).status_code == 404  # Completed, yet expired
    assert api.status("leads", job["exportId"])["result"][0]["status"] == "Completed"
    assert api.file("leads", job["exportId"]).content == data


def test_lead_file_values_equal_truth(api: MarketoHttp, sb: Sandbox) -> None:
    fields = [f for f in sb.truth.lead_fields if f["dataType"] != "formula"]
    types = {f["name"]: f["dataType"] for f in fields}
    _, data = api.export("leads", {"fields": list(types), "filter": {"createdAt": JAN}})
    expected = sb.truth.leads_between(JAN["startAt"], JAN["endAt"])
    assert expected and parse_csv(data, types) == expected


def test_activity_file_values_equal_truth(api: MarketoHttp, sb: Sandbox) -> None:
    types = {"leadId": "integer", "activityTypeId": "integer", "campaignId": "integer",
             "primaryAttributeValueId": "integer", "attributes": "json"}
    fields = ["marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId",
              "primaryAttributeValueId", "primaryAttributeValue", "attributes", "actionResult"]
    _, data = api.export("activities", {"fields": fields, "filter": {"createdAt": JAN}})
    expected = sb.truth.activities_between(JAN["startAt"], JAN["endAt"])
    assert expected and parse_csv(data, types) == expected
    _, only_visits = api.export("activities", {"filter": {"createdAt": JAN,
                                                          "activityTypeIds": [1, 104]}})
    rows = parse_csv(only_visits, types)
    assert len(rows) == sum(1 for r in expected if r["activityTypeId"] in (1, 104))


def test_program_member_file_values_equal_truth(api: MarketoHttp, sb: Sandbox) -> None:
    types = {f["name"]: f["dataType"] for f in sb.truth.member_fields}
    _, data = api.export("program/members", {"fields": list(types), "filter": {"programId": 1002}})
    rows = sorted(parse_csv(data, types), key=lambda r: r["leadId"])
    assert rows == [m for m in sb.truth.program_members if m["programId"] == 1002]
    member = sb.truth.program_members[0]
    updated = parse_utc(member["updatedAt"])
    narrow = {"fields": ["leadId", "email"], "filter": {
        "programId": member["programId"], "updatedAt": window(iso(updated), iso(updated))}}
    rows = parse_csv(api.export("program/members", narrow)[1], {"leadId": "integer"})
    assert member["leadId"] in [r["leadId"] for r in rows]
    assert all(r["email"] is None or str(r["leadId"]) in r["email"] for r in rows)


def test_truth_counts_match_all_windows(make_sandbox) -> None:
    sb = make_sandbox(max_calls_per_20s=100000)
    api = MarketoHttp(sb)
    start, end = parse_utc("2023-01-01T00:00:00Z"), parse_utc("2024-12-31T23:59:59Z")
    totals = {"leads": 0, "activities": 0}
    empty_windows = 0
    while start <= end:
        span = window(iso(start), iso(min(start + WINDOW_SECONDS, end)))
        for obj in totals:
            body = {"fields": ["id"]} if obj == "leads" else {}
            job, data = api.export(obj, {**body, "filter": {"createdAt": span}})
            totals[obj] += job["numberOfRecords"]
            assert data.count(b"\n") == job["numberOfRecords"] + 1
            empty_windows += job["numberOfRecords"] == 0
        start += WINDOW_SECONDS + 1
    assert totals == {"leads": len(sb.truth.leads), "activities": len(sb.truth.activities)}
    assert empty_windows >= 2  # the quiet stretch gives a 0-record job for both objects
    assert sb.client_stats()["max_processing_at_once"] <= 2
    assert json.dumps(sb.stats["jobs"])  # stats jobs are plain JSON
