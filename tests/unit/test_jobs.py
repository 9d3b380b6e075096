"""ExportJob: create/enqueue/poll/download lifecycle, reconcile after ambiguous create, attach."""

from __future__ import annotations

import hashlib
import itertools
import logging

import pytest

from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.errors import ExportJobError, MarketoError, QueueFullError
from tap_marketo_bulk.export.jobs import ExportJob

BASE = "https://284-RPR-133.mktorest.com"
EXPORT = f"{BASE}/bulk/v1/leads/export"
DATA = b"id,email\n1,a@example.com\n2,b@example.com\n"
BODY = {"fields": ["id", "email"], "format": "CSV",
        "filter": {"createdAt": {"startAt": "2024-01-01T00:00:00Z",
                                 "endAt": "2024-01-31T23:59:59Z"}}}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def envelope(**job) -> dict:
    return {"requestId": "r#1", "success": True, "result": [job]}


def status(export_id: str, state: str, **extra) -> dict:
    return {"json": envelope(exportId=export_id, format="CSV", status=state, **extra)}


def completed(export_id: str, data: bytes = DATA, records: int = 2) -> dict:
    return status(export_id, "Completed", numberOfRecords=records, fileSize=len(data),
                  fileChecksum="sha256:" + hashlib.sha256(data).hexdigest(),
                  startedAt="2024-02-01T10:00:00Z", finishedAt="2024-02-01T10:03:20Z")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(requests_mock, clock) -> MarketoClient:
    requests_mock.get(f"{BASE}/identity/oauth/token",
                      json={"access_token": "tok", "expires_in": 3600})
    return MarketoClient(BASE, "id", "secret", sleep=clock.sleep, clock=clock)


def make_job(client, clock, **kwargs) -> ExportJob:
    kwargs.setdefault("poll_interval", 60.0)
    return ExportJob(client, "leads", BODY, label="leads 2024-01", clock=clock,
                     sleep=clock.sleep, logger=logging.getLogger("test.jobs"), **kwargs)


def mock_create_enqueue(requests_mock, export_id: str = "e1"):
    create = requests_mock.post(f"{EXPORT}/create.json", **status(export_id, "Created"))
    enqueue = requests_mock.post(f"{EXPORT}/{export_id}/enqueue.json",
                                 **status(export_id, "Queued"))
    return create, enqueue


def test_lifecycle_polls_no_faster_than_the_interval(requests_mock, client, clock, tmp_path,
                                                     caplog):
    caplog.set_level(logging.DEBUG, logger="test.jobs")
    create, enqueue = mock_create_enqueue(requests_mock)
    poll_times: list[float] = []
    answers = iter(a["json"] for a in [status("e1", "Queued"), status("e1", "Processing"),
                                       status("e1", "Processing"), completed("e1")])

    def answer(request, context):
        poll_times.append(clock.now)
        return next(answers)

    status_mock = requests_mock.get(f"{EXPORT}/e1/status.json", json=answer)
    requests_mock.get(f"{EXPORT}/e1/file.json", content=DATA, headers={"Content-Type": "text/csv"})
    job = make_job(client, clock)
    path = job.run(tmp_path / "e1.csv")
    assert path is not None and path.read_bytes() == DATA
    assert create.last_request.json() == BODY
    assert enqueue.call_count == 1 and status_mock.call_count == 4
    assert all(b - a >= 60.0 for a, b in itertools.pairwise(poll_times))
    assert job.number_of_records == 2 and job.file_size == len(DATA)
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("Queued -> Processing" in m for m in info)
    completed_line = next(m for m in info if "-> Completed" in m)
    assert "2 records" in completed_line and "MB" in completed_line
    assert "processing took 200 s" in completed_line
    assert any(r.levelno == logging.DEBUG and "status" in r.getMessage() for r in caplog.records)


def test_poll_before_the_interval_makes_no_call(requests_mock, client, clock):
    mock_create_enqueue(requests_mock)
    status_mock = requests_mock.get(f"{EXPORT}/e1/status.json", **status("e1", "Processing"))
    job = make_job(client, clock)
    job.create()
    job.enqueue()
    assert job.poll() == "Queued" and status_mock.call_count == 0
    clock.now += 60
    assert job.poll() == "Processing" and status_mock.call_count == 1
    clock.now += 30
    job.poll()
    assert status_mock.call_count == 1


def test_zero_records_skips_the_download(requests_mock, client, clock, tmp_path):
    mock_create_enqueue(requests_mock)
    requests_mock.get(f"{EXPORT}/e1/status.json", **completed("e1", b"", records=0))
    file_mock = requests_mock.get(f"{EXPORT}/e1/file.json", content=b"")
    assert make_job(client, clock).run(tmp_path / "e1.csv") is None
    assert file_mock.call_count == 0


def test_failed_job_raises_with_marketo_message(requests_mock, client, clock, tmp_path):
    mock_create_enqueue(requests_mock)
    requests_mock.get(f"{EXPORT}/e1/status.json",
                      **status("e1", "Failed", errorMsg="Internal error while exporting"))
    job = make_job(client, clock)
    with pytest.raises(ExportJobError) as caught:
        job.run(tmp_path / "e1.csv")
    assert "Internal error while exporting" in str(caught.value)
    assert job.status == "Failed"


def test_canceled_spelling_is_accepted(requests_mock, client, clock):
    mock_create_enqueue(requests_mock)
    requests_mock.get(f"{EXPORT}/e1/status.json", **status("e1", "Canceled"))
    job = make_job(client, clock)
    job.create()
    job.enqueue()
    assert job.wait() == "Cancelled"


def test_timeout_cancels_the_job_and_names_it(requests_mock, client, clock, tmp_path):
    mock_create_enqueue(requests_mock)
    requests_mock.get(f"{EXPORT}/e1/status.json", **status("e1", "Processing"))
    cancel = requests_mock.post(f"{EXPORT}/e1/cancel.json", **status("e1", "Cancelled"))
    job = make_job(client, clock, timeout=600.0)
    with pytest.raises(ExportJobError) as caught:
        job.run(tmp_path / "e1.csv")
    assert cancel.call_count == 1
    assert caught.value.code == "export-timeout"
    assert "leads 2024-01" in str(caught.value) and "e1" in str(caught.value)


def test_ambiguous_create_reconciles_instead_of_resending_blindly(requests_mock, client, clock):
    create = requests_mock.post(f"{EXPORT}/create.json", [
        {"status_code": 502, "text": "Bad Gateway"},
        status("e-new", "Created"),
    ])
    job_list = requests_mock.get(f"{EXPORT}.json", json={"success": True, "result": [
        {"exportId": "e-known", "status": "Created"},
        {"exportId": "e-orphan", "status": "Created"},
    ]})
    cancel_orphan = requests_mock.post(f"{EXPORT}/e-orphan/cancel.json",
                                       **status("e-orphan", "Cancelled"))
    cancel_known = requests_mock.post(f"{EXPORT}/e-known/cancel.json",
                                      **status("e-known", "Cancelled"))
    job = make_job(client, clock, known_export_ids=lambda: {"e-known"})
    assert job.create() == "e-new"
    assert create.call_count == 2
    assert job_list.last_request.qs["status"] == ["created"]
    assert cancel_orphan.call_count == 1 and cancel_known.call_count == 0
    order = [r.path for r in requests_mock.request_history if "identity" not in r.path]
    assert order == ["/bulk/v1/leads/export/create.json", "/bulk/v1/leads/export.json",
                     "/bulk/v1/leads/export/e-orphan/cancel.json",
                     "/bulk/v1/leads/export/create.json"]


def test_create_gives_up_after_repeated_ambiguity(requests_mock, client, clock):
    requests_mock.post(f"{EXPORT}/create.json", status_code=502, text="Bad Gateway")
    requests_mock.get(f"{EXPORT}.json", json={"success": True, "result": []})
    with pytest.raises(ExportJobError) as caught:
        make_job(client, clock).create()
    assert "ambiguous" in str(caught.value)


def test_enqueue_queue_full_and_already_queued(requests_mock, client, clock):
    requests_mock.post(f"{EXPORT}/create.json", **status("e1", "Created"))
    requests_mock.post(f"{EXPORT}/e1/enqueue.json", [
        {"json": {"success": False, "errors": [{"code": "1029",
                                                "message": "Too many jobs in queue"}]}},
        {"json": {"success": False, "errors": [{"code": "1029",
                                                "message": "Job already queued"}]}},
    ])
    job = make_job(client, clock)
    job.create()
    with pytest.raises(QueueFullError):
        job.enqueue()
    assert job.status == "Created"
    job.enqueue()
    assert job.status == "Queued" and job.is_active


@pytest.mark.parametrize(
    ("answer", "usable", "state"),
    [(status("e9", "Created"), True, "Created"),
     (status("e9", "Queued"), True, "Queued"),
     (status("e9", "Processing"), True, "Processing"),
     (completed("e9"), True, "Completed"),
     (status("e9", "Failed"), False, "New"),
     (status("e9", "Cancelled"), False, "New"),
     ({"json": {"success": True, "result": []}}, False, "New"),
     ({"json": {"success": False, "errors": [{"code": "610",
                                              "message": "Requested resource not found"}]}},
      False, "New")],
)
def test_attach(requests_mock, client, clock, answer, usable, state):
    requests_mock.get(f"{EXPORT}/e9/status.json", **answer)
    job = make_job(client, clock)
    assert job.attach("e9") is usable
    assert job.status == state
    assert job.export_id == ("e9" if usable else None)


def test_attach_other_errors_propagate(requests_mock, client, clock):
    requests_mock.get(f"{EXPORT}/e9/status.json",
                      json={"success": False, "errors": [{"code": "603", "message": "Denied"}]})
    with pytest.raises(MarketoError):
        make_job(client, clock).attach("e9")


def test_attached_completed_job_downloads(requests_mock, client, clock, tmp_path):
    requests_mock.get(f"{EXPORT}/e9/status.json", **completed("e9"))
    requests_mock.get(f"{EXPORT}/e9/file.json", content=DATA, headers={"Content-Type": "text/csv"})
    job = make_job(client, clock)
    assert job.attach("e9")
    assert job.download(tmp_path / "e9.csv").read_bytes() == DATA
