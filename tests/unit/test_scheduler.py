"""ExportScheduler against a stateful fake Marketo (requests-mock): order, limits, faults, quota."""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import threading
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.errors import ExportJobError, MarketoError
from tap_marketo_bulk.export.quota import QuotaTracker
from tap_marketo_bulk.export.scheduler import (
    ExportReady,
    ExportRequest,
    ExportScheduler,
    JobSubmitted,
    QuotaExhausted,
)
from tap_marketo_bulk.export.windows import Window, plan_windows

BASE = "https://284-RPR-133.mktorest.com"
EXPORT = "(?i)" + re.escape(f"{BASE}/bulk/v1/leads/export")
LOG = logging.getLogger("test.scheduler")
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)
        time.sleep(0)  # let other threads run


def error(code: str, message: str) -> dict:
    return {"requestId": "e#1", "success": False, "errors": [{"code": code, "message": message}]}


class FakeMarketo:
    """Marketo's export queue: eagerly starts queued jobs on free slots (at most 2 Processing),
    completes a Processing job after `work` polls; faults are switched on per test."""

    def __init__(self, requests_mock, clock: FakeClock, work: int = 2) -> None:
        self.clock = clock
        self.work = work
        self.jobs: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.max_processing = 0
        self.max_active = 0
        self.poll_times: dict[str, list[float]] = {}
        self.enqueue_times: list[tuple[str, float]] = []
        self.fail_times: dict[str, int] = {}  # window start -> Failed jobs still to give
        self.zero_records: set[str] = set()
        self.gone_times: dict[str, int] = {}  # window start -> 404s still to give
        self.queue_full: dict[str, int] = {}  # export id -> 1029 queue-full answers to give
        self.create_errors: dict[str, dict] = {}  # window start -> error envelope for create
        self.quota_after_creates: int | None = None
        self.quota_after_enqueues: int | None = None
        self.ambiguous_creates = 0  # creates that make a job but answer 502
        self.never_complete = False
        self.complete_only: set[str] | None = None  # when set, other jobs never complete
        self.enqueued = 0
        mock = requests_mock
        mock.get(f"{BASE}/identity/oauth/token", json={"access_token": "tok", "expires_in": 3600})
        mock.post(re.compile(f"{EXPORT}/create.json"), json=self.create)
        mock.post(re.compile(f"{EXPORT}/[^/]+/enqueue.json"), json=self.enqueue)
        mock.get(re.compile(f"{EXPORT}/[^/]+/status.json"), json=self.status)
        mock.post(re.compile(f"{EXPORT}/[^/]+/cancel.json"), json=self.cancel)
        mock.get(re.compile(f"{EXPORT}/[^/]+/file.json"), content=self.file)
        mock.get(re.compile(f"{EXPORT}.json"), json=self.list_jobs)

    # -- helpers --
    @staticmethod
    def _id(request) -> str:
        return request.path.split("/")[-2]

    def _advance(self) -> None:
        processing = [j for j in self.jobs.values() if j["status"] == "Processing"]
        for job in self.jobs.values():
            if job["status"] == "Queued" and len(processing) < 2:
                job["status"] = "Processing"
                processing.append(job)
        active = [j for j in self.jobs.values() if j["status"] in ("Queued", "Processing")]
        self.max_processing = max(self.max_processing, len(processing))
        self.max_active = max(self.max_active, len(active))

    def _view(self, job: dict) -> dict:
        view = {k: job[k] for k in ("exportId", "status", "format", "createdAt")}
        if job["status"] == "Completed":
            view.update(numberOfRecords=job["records"], fileSize=len(job["data"]),
                        fileChecksum="sha256:" + hashlib.sha256(job["data"]).hexdigest())
        if job["status"] == "Failed":
            view["errorMsg"] = "Export failed (fake)"
        return view

    def ok(self, job: dict) -> dict:
        return {"requestId": "r#1", "success": True, "result": [self._view(job)]}

    def by_start(self, start: str) -> list[dict]:
        return [j for j in self.jobs.values() if j["start"] == start]

    # -- endpoints --
    def create(self, request, context):
        with self.lock:
            if self.quota_after_creates is not None and len(self.jobs) >= self.quota_after_creates:
                return error("1029", "Export daily quota 500MB exceeded.")
            body = request.json()
            start = body["filter"]["createdAt"]["startAt"]
            if start in self.create_errors:
                return self.create_errors[start]
            export_id = f"job-{len(self.jobs) + 1}"
            records = 0 if start in self.zero_records else 1
            data = f"id,start\n{len(self.jobs) + 1},{start}\n".encode() if records else b""
            self.jobs[export_id] = {"exportId": export_id, "status": "Created", "format": "CSV",
                                    "createdAt": "2024-02-01T00:00:00Z", "start": start,
                                    "polls": 0, "records": records, "data": data}
            self._advance()
            if self.ambiguous_creates:
                self.ambiguous_creates -= 1
                context.status_code = 502
                return {"error": "Bad Gateway"}
            return self.ok(self.jobs[export_id])

    def enqueue(self, request, context):
        with self.lock:
            job = self.jobs[self._id(request)]
            self.enqueue_times.append((job["exportId"], self.clock.now))
            if self.queue_full.get(job["exportId"], 0) > 0:
                self.queue_full[job["exportId"]] -= 1
                return error("1029", "Too many jobs in queue")
            if self.quota_after_enqueues is not None and self.enqueued >= self.quota_after_enqueues:
                return error("1029", "Export daily quota 500MB exceeded.")
            if job["status"] != "Created":
                return error("1029", "Job already queued")
            self.enqueued += 1
            job["status"] = "Queued"
            self._advance()
            return self.ok(job)

    def status(self, request, context):
        with self.lock:
            export_id = self._id(request)
            job = self.jobs.get(export_id)
            if job is None:
                return {"requestId": "r#2", "success": True}
            self.poll_times.setdefault(export_id, []).append(self.clock.now)
            self._advance()
            stuck = self.never_complete or (
                self.complete_only is not None and export_id not in self.complete_only
            )
            if job["status"] == "Processing" and not stuck:
                job["polls"] += 1
                if job["polls"] >= self.work:
                    if self.fail_times.get(job["start"], 0) > 0:
                        self.fail_times[job["start"]] -= 1
                        job["status"] = "Failed"
                    else:
                        job["status"] = "Completed"
            self._advance()
            return self.ok(job)

    def cancel(self, request, context):
        with self.lock:
            job = self.jobs[self._id(request)]
            job["status"] = "Cancelled"
            self._advance()
            return self.ok(job)

    def file(self, request, context):
        with self.lock:
            job = self.jobs[self._id(request)]
            if self.gone_times.get(job["start"], 0) > 0 or job["status"] != "Completed":
                if job["status"] == "Completed":
                    self.gone_times[job["start"]] -= 1
                context.status_code = 404
                context.headers["Content-Type"] = "text/plain"
                return b"Not Found"
            context.headers["Content-Type"] = "text/csv;charset=UTF-8"
            return job["data"]

    def list_jobs(self, request, context):
        with self.lock:
            wanted = {s.lower() for s in request.qs.get("status", [""])[0].split(",")}
            result = [self._view(j) for j in self.jobs.values()
                      if not wanted - {""} or j["status"].lower() in wanted]
            return {"requestId": "r#3", "success": True, "result": result}


def body_for(window: Window) -> dict:
    return {"fields": ["id"], "format": "CSV", "filter": {"createdAt": window.as_filter()}}


def make_requests(count: int, days: int = 4) -> list[ExportRequest]:
    end = START + timedelta(days=count * days) - timedelta(seconds=1)
    return [ExportRequest("leads", "leads", body_for(w), w, body_for)
            for w in plan_windows(START, end, days)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(requests_mock, clock) -> FakeMarketo:
    return FakeMarketo(requests_mock, clock)


@pytest.fixture
def client(fake, clock) -> MarketoClient:
    return MarketoClient(BASE, "id", "secret", sleep=clock.sleep, clock=clock)


def make_scheduler(client, clock, tmp_path, *, quota=None, **kwargs) -> ExportScheduler:
    settings = {"max_concurrent_jobs": 2, "poll_interval": 5.0, "job_timeout": 100_000.0,
                "queue_backoff": 10.0, **kwargs}
    return ExportScheduler(
        client, quota=quota or QuotaTracker(None, today=lambda: date(2026, 1, 1)), logger=LOG,
        workdir=tmp_path / "work", clock=clock, sleep=clock.sleep, **settings,
    )


def consume(scheduler, requests, *, on_ready=None) -> tuple[list, list[bytes | None]]:
    events, contents = [], []
    for event in scheduler.run(requests):
        events.append(event)
        if isinstance(event, ExportReady):
            contents.append(event.path.read_bytes() if event.path else None)
            if on_ready:
                on_ready(event)
            event.release()
    return events, contents


def ready_events(events) -> list[ExportReady]:
    return [e for e in events if isinstance(e, ExportReady)]


def starts(events) -> list[str]:
    return [e.request.body["filter"]["createdAt"]["startAt"] for e in ready_events(events)]


# ----- order and limits ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_jobs", "max_queued", "max_active"), [(2, 2, 4), (2, 1, 3), (1, 2, 1), (1, 1, 1)]
)
def test_ready_in_order_within_limits(
    fake, client, clock, tmp_path, max_jobs, max_queued, max_active
):
    requests = make_requests(8)
    scheduler = make_scheduler(
        client, clock, tmp_path, max_concurrent_jobs=max_jobs, max_queued_jobs=max_queued
    )
    events, contents = consume(scheduler, requests)
    assert [e.request for e in ready_events(events)] == requests
    for request, content in zip(requests, contents, strict=True):
        assert request.window.as_filter()["startAt"].encode() in content
    assert len([e for e in events if isinstance(e, JobSubmitted)]) == 8
    assert fake.max_active <= max_active
    assert fake.max_processing <= max_jobs
    assert fake.max_active >= max_active - (1 if max_jobs == 1 else 0)  # the pipeline is used
    for times in fake.poll_times.values():
        assert all(b - a >= 5.0 for a, b in itertools.pairwise(times))
    assert scheduler.stats["leads"]["jobs"] == 8 and scheduler.stats["leads"]["windows"] == 8
    assert scheduler.stats["leads"]["records"] == 8
    assert scheduler.max_queued_plus_processing_seen <= max_active
    assert not list((tmp_path / "work").iterdir())  # every file released


def test_downloads_ahead_but_caps_files_on_disk(fake, client, clock, tmp_path):
    requests = make_requests(6)
    scheduler = make_scheduler(client, clock, tmp_path, max_files_on_disk=2)
    seen_on_disk: list[int] = []
    created_while_parsing_first: list[int] = []

    def slow_consumer(event: ExportReady) -> None:
        if not created_while_parsing_first:
            time.sleep(0.3)  # parse slowly: the worker keeps going meanwhile
            created_while_parsing_first.append(len(fake.jobs))
        seen_on_disk.append(len(list((tmp_path / "work").iterdir())))

    events, _ = consume(scheduler, requests, on_ready=slow_consumer)
    assert [e.request for e in ready_events(events)] == requests
    assert created_while_parsing_first[0] >= 3  # jobs i+1, i+2 went on while file i was parsed
    assert max(seen_on_disk) <= 2
    assert created_while_parsing_first[0] <= 1 + scheduler.max_jobs_ahead


def test_zero_records_gives_ready_without_a_file(fake, client, clock, tmp_path):
    requests = make_requests(3)
    fake.zero_records.add(requests[1].window.as_filter()["startAt"])
    events, contents = consume(make_scheduler(client, clock, tmp_path), requests)
    ready = ready_events(events)
    assert [e.request for e in ready] == requests
    assert ready[1].path is None and ready[1].number_of_records == 0 and contents[1] is None


# ----- 1029 queue full ------------------------------------------------------------------------


def test_queue_full_backoff_doubles_to_4x_then_resets(fake, client, clock, tmp_path):
    fake.queue_full = {"job-1": 4, "job-2": 1}  # job-2's comes after job-1's success
    requests = make_requests(2)
    scheduler = make_scheduler(client, clock, tmp_path, queue_backoff=10.0)
    events, _ = consume(scheduler, requests)
    first = [t for export_id, t in fake.enqueue_times if export_id == "job-1"]
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(first)]
    assert gaps == [10.0, 20.0, 40.0, 40.0]
    second = [t for export_id, t in fake.enqueue_times if export_id == "job-2"]
    assert [round(b - a, 3) for a, b in itertools.pairwise(second)] == [10.0]
    assert [e.request for e in ready_events(events)] == requests


# ----- ambiguous create -----------------------------------------------------------------------


def test_create_502_reconciles_and_cancels_the_orphan(fake, client, clock, tmp_path):
    fake.ambiguous_creates = 1
    requests = make_requests(2)
    events, _ = consume(make_scheduler(client, clock, tmp_path), requests)
    assert [e.request for e in ready_events(events)] == requests
    assert fake.jobs["job-1"]["status"] == "Cancelled"  # created by the 502'd call: cancelled
    per_window = {r.window.as_filter()["startAt"]: 0 for r in requests}
    for job in fake.jobs.values():
        if job["status"] != "Cancelled":
            per_window[job["start"]] += 1
    assert set(per_window.values()) == {1}  # never two live jobs for one window


# ----- failures, split, timeout, expired file ---------------------------------------------------


def test_failed_job_is_created_again_once(fake, client, clock, tmp_path):
    requests = make_requests(2)
    fake.fail_times[requests[0].window.as_filter()["startAt"]] = 1
    events, _ = consume(make_scheduler(client, clock, tmp_path), requests)
    assert [e.request for e in ready_events(events)] == requests
    submitted = [e.request for e in events if isinstance(e, JobSubmitted)]
    assert submitted.count(requests[0]) == 2


def test_failing_twice_splits_the_window_in_order(fake, client, clock, tmp_path):
    requests = make_requests(2)
    fake.fail_times[requests[0].window.as_filter()["startAt"]] = 2
    scheduler = make_scheduler(client, clock, tmp_path)
    events, _ = consume(scheduler, requests)
    ready = [e.request.window for e in ready_events(events)]
    first_half, second_half = requests[0].window.split()
    assert ready == [first_half, second_half, requests[1].window]
    assert ready_events(events)[0].request.body == body_for(first_half)
    assert scheduler.stats["leads"]["splits"] == 1


def test_one_day_window_failing_twice_is_fatal(fake, client, clock, tmp_path):
    requests = make_requests(2, days=1)
    fake.fail_times[requests[1].window.as_filter()["startAt"]] = 2
    scheduler = make_scheduler(client, clock, tmp_path)
    with pytest.raises(ExportJobError) as caught:
        consume(scheduler, requests)
    message = str(caught.value)
    assert "leads" in message and requests[1].window.key in message and "twice" in message


def test_job_timeout_cancels_and_names_stream_and_window(fake, client, clock, tmp_path):
    fake.never_complete = True
    requests = make_requests(1)
    scheduler = make_scheduler(client, clock, tmp_path, job_timeout=60.0)
    with pytest.raises(ExportJobError) as caught:
        consume(scheduler, requests)
    assert fake.jobs["job-1"]["status"] == "Cancelled"
    assert "leads" in str(caught.value) and requests[0].window.key in str(caught.value)


def test_expired_file_exports_the_window_again(fake, client, clock, tmp_path):
    requests = make_requests(2)
    fake.gone_times[requests[0].window.as_filter()["startAt"]] = 1
    events, _contents = consume(make_scheduler(client, clock, tmp_path), requests)
    assert [e.request for e in ready_events(events)] == requests
    assert len(fake.by_start(requests[0].window.as_filter()["startAt"])) == 2


def test_an_error_is_raised_after_the_requests_before_it(fake, client, clock, tmp_path):
    requests = make_requests(4)
    fake.create_errors[requests[2].window.as_filter()["startAt"]] = error("1003", "Bad filter")
    handed_out: list[ExportRequest] = []
    with pytest.raises(MarketoError) as caught:
        consume(make_scheduler(client, clock, tmp_path), requests,
                on_ready=lambda ready: handed_out.append(ready.request))
    assert caught.value.code == "1003"
    assert handed_out == requests[:2]
    assert all(job["start"] != requests[3].window.as_filter()["startAt"]
               for job in fake.jobs.values())  # nothing created after the failing request


def test_worker_errors_are_raised_to_the_consumer(requests_mock, fake, client, clock, tmp_path):
    requests_mock.get(re.compile(f"{EXPORT}/[^/]+/status.json"),
                      json=error("603", "Access denied"))
    with pytest.raises(MarketoError) as caught:
        consume(make_scheduler(client, clock, tmp_path), make_requests(2))
    assert caught.value.code == "603"


# ----- quota --------------------------------------------------------------------------------------


def test_quota_1029_on_create_finishes_submitted_jobs_then_stops(fake, client, clock, tmp_path):
    fake.quota_after_creates = 3
    requests = make_requests(6)
    quota = QuotaTracker(None, today=lambda: date(2026, 1, 1))
    events, _ = consume(make_scheduler(client, clock, tmp_path, quota=quota), requests)
    assert [e.request for e in ready_events(events)] == requests[:3]
    last = events[-1]
    assert isinstance(last, QuotaExhausted) and "quota" in last.message
    assert [p.window for p in last.pending] == [r.window for r in requests[3:]]
    assert all(p.resume_export_id is None for p in last.pending)
    assert quota.exhausted


def test_quota_1029_on_enqueue_keeps_the_created_job_for_later(fake, client, clock, tmp_path):
    fake.quota_after_enqueues = 2
    requests = make_requests(4)
    events, _ = consume(make_scheduler(client, clock, tmp_path), requests)
    assert [e.request for e in ready_events(events)] == requests[:2]
    last = events[-1]
    assert isinstance(last, QuotaExhausted)
    assert last.pending[0].window == requests[2].window
    assert last.pending[0].resume_export_id == "job-3"  # Created: the next run enqueues it
    assert fake.jobs["job-3"]["status"] == "Created"


def test_own_byte_count_stops_before_creating(fake, client, clock, tmp_path):
    requests = make_requests(5)
    one_file = len(b"id,start\n1,2024-01-01T00:00:00Z\n")
    quota = QuotaTracker(2 * one_file, today=lambda: date(2026, 1, 1))
    scheduler = make_scheduler(client, clock, tmp_path, quota=quota, max_concurrent_jobs=1)
    events, _ = consume(scheduler, requests)
    ready = ready_events(events)
    assert [e.request for e in ready] == requests[: len(ready)]
    assert 2 <= len(ready) < 5
    last = events[-1]
    assert isinstance(last, QuotaExhausted) and "this tap's count" in last.message
    assert [p.window for p in last.pending] == [r.window for r in requests[len(ready):]]
    assert len(fake.jobs) == len(ready) + sum(1 for p in last.pending if p.resume_export_id)


# ----- restart and close --------------------------------------------------------------------------


def test_resume_attaches_instead_of_creating(fake, client, clock, tmp_path):
    requests = make_requests(3)
    # A previous run created job-1 for window 0 and it completed; window 1's id is unknown.
    scheduler = make_scheduler(client, clock, tmp_path)
    consume(scheduler, requests[:1])
    resumed = [
        ExportRequest(**{**r.__dict__, "resume_export_id": rid})
        for r, rid in zip(requests, ["job-1", "job-404", None], strict=True)
    ]
    events, _contents = consume(make_scheduler(client, clock, tmp_path), resumed)
    assert [e.request.window for e in ready_events(events)] == [r.window for r in requests]
    assert ready_events(events)[0].export_id == "job-1"
    submitted = [e.request.window for e in events if isinstance(e, JobSubmitted)]
    assert submitted == [requests[1].window, requests[2].window]


def test_close_cancels_unused_jobs_but_keeps_those_in_state(fake, client, clock, tmp_path):
    requests = make_requests(5)
    scheduler = ExportScheduler(
        client, max_concurrent_jobs=2, poll_interval=5.0, job_timeout=100_000.0,
        queue_backoff=10.0, quota=QuotaTracker(None, today=lambda: date(2026, 1, 1)),
        logger=LOG, clock=clock, sleep=clock.sleep,
    )
    fake.complete_only = {"job-1"}
    events = scheduler.run(requests)
    submitted: list[str] = []
    for event in events:
        if isinstance(event, JobSubmitted):
            submitted.append(event.export_id)
        if isinstance(event, ExportReady):
            workdir = event.path.parent
            break
    time.sleep(0.2)  # let the worker submit more
    live_before = {i for i, j in fake.jobs.items() if j["status"] in ("Created", "Queued",
                                                                       "Processing")}
    scheduler.close(keep={"job-2"})
    events.close()
    assert live_before >= {"job-2", "job-3"}, "the worker should have submitted jobs ahead"
    for export_id in live_before - {"job-2"}:
        assert fake.jobs[export_id]["status"] == "Cancelled"
    assert fake.jobs["job-2"]["status"] in ("Queued", "Processing")  # state refers to it
    assert fake.jobs["job-1"]["status"] == "Completed"  # handed out: never cancelled
    assert not workdir.exists()


def test_temporary_workdir_is_removed_after_the_run(fake, client, clock):
    scheduler = ExportScheduler(
        client, poll_interval=5.0, quota=QuotaTracker(None, today=lambda: date(2026, 1, 1)),
        logger=LOG, clock=clock, sleep=clock.sleep,
    )
    dirs: set = set()
    events, _ = consume(scheduler, make_requests(2),
                        on_ready=lambda ready: dirs.add(ready.path.parent))
    assert len(ready_events(events)) == 2 and len(dirs) == 1
    assert not next(iter(dirs)).exists()


def test_a_run_abandoned_with_files_held_leaves_no_slot_taken_for_the_next(
    fake, client, clock, tmp_path
):
    # The SDK's dry run stops a stream after one record: the consumer walks away holding a file
    # while the worker has downloaded ahead. The next stream's run must still get every slot.
    scheduler = make_scheduler(client, clock, tmp_path, max_files_on_disk=2)
    events = scheduler.run(make_requests(6))
    for event in events:
        if isinstance(event, ExportReady):
            deadline = time.monotonic() + 5
            while scheduler.files.held < 2 and time.monotonic() < deadline:
                time.sleep(0.01)  # let the worker fill the download slots
            break
    assert scheduler.files.held == 2
    scheduler.close()
    events.close()
    assert scheduler.files.held == 0
    requests = make_requests(3)
    again, _ = consume(scheduler, requests)
    assert [e.request for e in ready_events(again)] == requests


class StuckWorker:
    """A worker thread that never ends (e.g. waiting on the call limit): joins are counted."""

    def __init__(self) -> None:
        self.joins: list[float | None] = []

    def join(self, timeout: float | None = None) -> None:
        self.joins.append(timeout)

    def is_alive(self) -> bool:
        return True


def test_a_worker_left_behind_is_waited_for_once(client, clock, tmp_path, caplog) -> None:
    # SIGTERM closes the scheduler, then the stream's error exit closes it again: the second
    # close must not wait the join timeout a second time.
    scheduler = make_scheduler(client, clock, tmp_path)
    worker = StuckWorker()
    scheduler._worker = worker  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING):
        scheduler.close()
        scheduler.close()
    assert len(worker.joins) == 1
    assert caplog.text.count("leaving it behind") == 1
    # And no second pipeline starts while it still runs.
    with pytest.raises(RuntimeError, match="already in progress"):
        next(iter(scheduler.run([])))
