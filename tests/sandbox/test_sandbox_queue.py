"""The shared job queue, status snapshots, quota, failures and job visibility."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import pytest

from tap_marketo_bulk.sandbox import Sandbox

from .client import MarketoHttp, error_code, window

JAN = {"createdAt": window("2023-01-01T00:00:00Z", "2023-01-31T23:59:59Z")}
LEADS = {"fields": ["id", "email"], "filter": JAN}


def _statuses(api: MarketoHttp, ids: list[str]) -> list[str]:
    return [api.status("leads", i)["result"][0]["status"] for i in ids]


def test_queue_holds_10_and_processes_2(make_sandbox) -> None:
    sb = make_sandbox(job_seconds=30)
    api = MarketoHttp(sb)
    ids = [api.create_id("leads", LEADS) for _ in range(11)]
    for export_id in ids[:10]:
        assert api.enqueue("leads", export_id)["result"][0]["status"] == "Queued"
    answer = api.enqueue("leads", ids[10])
    assert answer["errors"][0] == {"code": "1029", "message": "Too many jobs in queue"}
    time.sleep(0.1)
    statuses = _statuses(api, ids[:10])
    assert statuses.count("Processing") == 2 and statuses.count("Queued") == 8
    # a job queued again is refused, and a cancelled one frees its slot
    assert error_code(api.enqueue("leads", ids[0])) == "1029"
    cancelled = api.post(f"/bulk/v1/leads/export/{ids[9]}/cancel.json")
    assert cancelled["result"][0]["status"] == "Cancelled"
    assert api.enqueue("leads", ids[10])["success"]
    stats = sb.client_stats()
    assert stats["max_processing_at_once"] == 2
    assert stats["max_queued_plus_processing_at_once"] == 10


def test_foreign_jobs_and_queue_full_fault(make_sandbox) -> None:
    sb = make_sandbox(job_seconds=30)  # jobs stay in the queue
    api = MarketoHttp(sb)
    sb.faults.foreign_queued = 9
    first, second = api.create_id("leads", LEADS), api.create_id("leads", LEADS)
    assert api.enqueue("leads", first)["success"]
    assert api.enqueue("leads", second)["errors"][0]["message"] == "Too many jobs in queue"
    sb.faults.foreign_queued = 0
    sb.faults.queue_full = 1
    assert error_code(api.enqueue("leads", second)) == "1029"
    assert api.enqueue("leads", second)["success"]


def test_foreign_processing_blocks_slots(make_sandbox) -> None:
    sb = make_sandbox()
    sb.faults.foreign_processing = 2
    api = MarketoHttp(sb)
    export_id = api.create_id("leads", LEADS)
    api.enqueue("leads", export_id)
    time.sleep(0.15)
    assert api.status("leads", export_id)["result"][0]["status"] == "Queued"
    sb.faults.foreign_processing = 1
    assert api.wait("leads", export_id)["status"] == "Completed"


def test_daily_quota_1029_on_create_and_enqueue(make_sandbox) -> None:
    sb = make_sandbox(daily_quota_bytes=1024 * 1024)
    api = MarketoHttp(sb)
    waiting = api.create_id("leads", LEADS)
    job, data = api.export("leads", LEADS)
    assert sb.stats["quota_bytes_today"] == len(data) == job["fileSize"]
    sb.faults.quota_bytes = len(data)  # lower the limit: what is exported already exhausts it
    message = {"code": "1029", "message": "Export daily quota 1MB exceeded."}
    assert api.create("leads", LEADS)["errors"][0] == message
    assert api.enqueue("leads", waiting)["errors"][0] == message
    sb.faults.quota_bytes = None
    assert api.enqueue("leads", waiting)["success"]


def test_quota_day_follows_the_sandbox_clock(make_sandbox) -> None:
    """A day later by the instance's clock (tests move it) the quota is fresh; every answer's
    Date header tells that clock."""
    sb = make_sandbox(daily_quota_bytes=1024 * 1024)
    api = MarketoHttp(sb)
    job, data = api.export("leads", LEADS)
    assert sb.stats["quota_bytes_today"] == len(data) == job["fileSize"] > 0
    sb.faults.quota_bytes = len(data)
    assert error_code(api.create("leads", LEADS)) == "1029"
    before = parsedate_to_datetime(api.identity().headers["Date"])
    sb.advance_clock(86400)
    assert sb.stats["quota_bytes_today"] == 0
    assert api.create("leads", LEADS)["success"]
    after = parsedate_to_datetime(api.identity().headers["Date"])
    assert 86400 <= (after - before).total_seconds() < 86400 + 60
    with pytest.raises(ValueError):
        sb.advance_clock(-1)


def test_status_is_a_snapshot_refreshed_every_interval(make_sandbox) -> None:
    sb = make_sandbox(status_refresh_seconds=0.4)
    api = MarketoHttp(sb)
    export_id = api.create_id("leads", LEADS)
    queued = api.enqueue("leads", export_id)["result"][0]
    assert queued["status"] == "Queued" and "startedAt" not in queued
    time.sleep(0.1)  # the job is done by now, but the snapshot is not refreshed yet
    stale = api.status("leads", export_id)["result"][0]
    assert stale == queued
    assert set(stale) == {"exportId", "format", "status", "createdAt", "queuedAt"}
    time.sleep(0.35)
    fresh = api.status("leads", export_id)["result"][0]
    assert fresh["status"] == "Completed"
    assert fresh["fileChecksum"].startswith("sha256:") and fresh["numberOfRecords"] > 0
    assert 0.3 < sb.client_stats()["min_poll_interval_seconds"] < 1.0


def test_processing_takes_job_seconds_plus_records_per_second(make_sandbox) -> None:
    sb = make_sandbox(job_seconds=0.3, records_per_second=1000)
    api = MarketoHttp(sb)
    started = time.monotonic()
    job, _ = api.export("leads", LEADS)
    assert time.monotonic() - started >= 0.3 + job["numberOfRecords"] / 1000


def test_failed_jobs_carry_error_msg(api: MarketoHttp, sb: Sandbox) -> None:
    sb.faults.fail_jobs = 1
    export_id = api.create_id("leads", LEADS)
    api.enqueue("leads", export_id)
    failed = api.wait("leads", export_id)
    assert failed["status"] == "Failed" and failed["errorMsg"]
    assert "fileSize" not in failed and "numberOfRecords" not in failed
    assert api.file("leads", export_id).status_code == 404
    assert error_code(api.enqueue("leads", export_id)) == "1003"  # Failed jobs are re-created
    feb = {"fields": ["id"], "filter": {"createdAt": window("2023-02-01T00:00:00Z",
                                                          "2023-02-28T23:59:59Z")}}
    sb.faults.fail_job_if = lambda obj, f: f["createdAt"]["startAt"].startswith("2023-02")
    feb_id = api.create_id("leads", feb)
    api.enqueue("leads", feb_id)
    assert api.wait("leads", feb_id)["status"] == "Failed"
    assert api.export("leads", LEADS)[0]["status"] == "Completed"


def test_other_client_cannot_see_jobs(api: MarketoHttp, sb: Sandbox) -> None:
    job, _ = api.export("leads", LEADS)
    other = MarketoHttp(sb, sb.other_client_id, sb.other_client_secret)
    export_id = job["exportId"]
    assert error_code(other.status("leads", export_id)) == "1003"
    assert error_code(other.enqueue("leads", export_id)) == "1003"
    assert error_code(other.post(f"/bulk/v1/leads/export/{export_id}/cancel.json")) == "1003"
    response = other.file("leads", export_id)
    assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/plain")
    assert other.get("/bulk/v1/leads/export.json")["result"] == []
    assert [j["exportId"] for j in api.get("/bulk/v1/leads/export.json")["result"]] == [export_id]
    # the job is visible only on its own object's endpoints
    assert error_code(api.status("activities", export_id)) == "1003"


def test_job_list_filters_by_status_and_pages(api: MarketoHttp) -> None:
    done, _ = api.export("leads", LEADS)
    created = api.create_id("leads", LEADS)
    listing = api.get("/bulk/v1/leads/export.json", status="Completed,Failed")
    assert [j["exportId"] for j in listing["result"]] == [done["exportId"]]
    page = api.get("/bulk/v1/leads/export.json", batchSize=1)
    assert len(page["result"]) == 1 and page["nextPageToken"]
    rest = api.get("/bulk/v1/leads/export.json", batchSize=1, nextPageToken=page["nextPageToken"])
    assert rest["result"][0]["exportId"] == created and "nextPageToken" not in rest


def test_stats_record_jobs_and_windows(api: MarketoHttp, sb: Sandbox) -> None:
    job, data = api.export("leads", LEADS)
    api.export("leads", LEADS)
    stats = sb.client_stats()
    assert stats["create_calls"] == 2 and stats["bytes_exported"] == 2 * len(data)
    assert stats["exports_per_window"][("leads", "2023-01-01T00:00:00Z/2023-01-31T23:59:59Z")] == 2
    first = stats["jobs"][0]
    assert first["export_id"] == job["exportId"] and first["status"] == "Completed"
    assert first["fields"] == ["id", "email"] and first["filter"] == JAN
    assert first["created_at"] <= first["queued_at"] <= first["started_at"] <= first["finished_at"]


def test_ambiguous_create_faults(api: MarketoHttp, sb: Sandbox) -> None:
    sb.faults.create_then_502 = 1
    response = api.session.post(sb.base_url + "/bulk/v1/leads/export/create.json", json=LEADS,
                                timeout=5)
    assert response.status_code == 502
    created = api.get("/bulk/v1/leads/export.json", status="Created")["result"]
    assert len(created) == 1  # the job exists although the caller saw a 502
    sb.faults.create_without_result = 1
    empty = api.create("leads", LEADS)
    assert empty["success"] is True and "result" not in empty
    assert len(api.get("/bulk/v1/leads/export.json")["result"]) == 1
