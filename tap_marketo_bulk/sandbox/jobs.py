"""Bulk export jobs and the one queue they share: slots, status snapshots, daily quota.

Jobs of every object type and every client share one queue per instance (at most 2 Processing,
10 Queued + Processing, other integrations' jobs included). Status answers are snapshots
refreshed at most every `status_refresh_seconds`. A job's processing takes
job_seconds + records / records_per_second from the moment a Processing slot frees up.

Another client's job is invisible: status/enqueue/cancel answer 1003 "Job not found" (the same
as an unknown id), file.json answers 404.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clock import SandboxClock
from .config import MIB, Faults, SandboxConfig
from .dataset import Dataset
from .envelope import ApiError
from .exportfile import ExportFile, select_rows, write_export
from .rules import ExportSpec
from .stats import StatsRecorder
from .timeutil import iso, marketo_day

ACTIVE = ("Queued", "Processing")


@dataclass
class Job:
    export_id: str
    client_id: str
    spec: ExportSpec
    created_at: float  # wall clock
    status: str = "Created"
    queued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    file: ExportFile | None = None
    error_msg: str | None = None
    will_fail: bool = False
    due: float | None = None  # monotonic instant processing ends; set once the file is built
    snapshot: dict[str, Any] = field(default_factory=dict)
    snapshot_at: float = 0.0  # monotonic
    last_poll: float | None = None  # monotonic
    polls: int = 0
    min_poll_interval: float | None = None

    def live_status(self) -> dict[str, Any]:
        """The status object as of now; unset fields are absent, never null."""
        body: dict[str, Any] = {"exportId": self.export_id, "format": self.spec.format,
                                "status": self.status, "createdAt": iso(int(self.created_at))}
        for key, stamp in (("queuedAt", self.queued_at), ("startedAt", self.started_at),
                           ("finishedAt", self.finished_at)):
            if stamp is not None:
                body[key] = iso(int(stamp))
        if self.status == "Completed" and self.file is not None:
            body["numberOfRecords"] = self.file.records
            body["fileSize"] = self.file.size
            body["fileChecksum"] = self.file.checksum
        if self.status == "Failed":
            body["errorMsg"] = self.error_msg or "Export failed"
        return body

    def refresh_snapshot(self, now: float) -> None:
        self.snapshot = self.live_status()
        self.snapshot_at = now

    def public(self) -> dict[str, Any]:
        """The job as stats report it."""
        return {
            "export_id": self.export_id, "client_id": self.client_id,
            "object": self.spec.object_path, "filter": self.spec.filter,
            "filter_key": self.spec.filter_key, "fields": list(self.spec.fields),
            "format": self.spec.format, "created_at": self.created_at,
            "queued_at": self.queued_at, "started_at": self.started_at,
            "finished_at": self.finished_at, "status": self.status,
            "records": self.file.records if self.file else None,
            "bytes": self.file.size if self.file and self.status == "Completed" else 0,
            "polls": self.polls, "min_poll_interval": self.min_poll_interval,
        }


class JobQueue:
    def __init__(self, data: Dataset, config: SandboxConfig, faults: Faults,
                 stats: StatsRecorder, workdir: Path, clock: SandboxClock | None = None) -> None:
        self._data, self._config, self._faults, self._stats = data, config, faults, stats
        # The quota's day follows the instance's clock, which tests move forward by days.
        self._clock = clock or SandboxClock()
        self._workdir = workdir
        self._cond = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._queued: deque[Job] = deque()
        self._processing: list[Job] = []
        self._bytes_by_day: dict[str, int] = {}
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sandbox-jobs", daemon=True)

    # --------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    # --------------------------------------------------------------- quota
    # Marketo meters "the size-on-disk of the data retrieved by a bulk extract job", read as
    # "the fileSize attribute from the completed status response" (bulk-extract-overview.txt
    # line 24), up to the "Max Size of Daily Export: 500MB" (line 17) "which resets daily at
    # 12:00AM CST" (Adobe's Bulk Extract page, Limits; api-notes.md line 96): the file bytes of
    # each Completed job, summed per US Central day of its completion (_finish_due).
    def quota_used_today(self) -> int:
        with self._cond:
            return self._bytes_by_day.get(marketo_day(self._clock.now()), 0)

    def _quota_check(self) -> None:
        limit = self._faults.effective_quota(self._config.daily_quota_bytes)
        if self._bytes_by_day.get(marketo_day(self._clock.now()), 0) >= limit:
            # the message names the subscription's quota even when a test lowered the limit
            megabytes = self._config.daily_quota_bytes / MIB
            raise ApiError("1029", f"Export daily quota {megabytes:g}MB exceeded.")

    # --------------------------------------------------------------- API operations
    def _own(self, client_id: str, object_path: str, export_id: str) -> Job:
        job = self._jobs.get(export_id)
        if job is None or job.client_id != client_id or job.spec.object_path != object_path:
            raise ApiError("1003", f"Job not found: {export_id}")
        return job

    def create(self, client_id: str, spec: ExportSpec) -> dict[str, Any]:
        with self._cond:
            self._quota_check()
            job = Job(str(uuid.uuid4()), client_id, spec, time.time())
            job.refresh_snapshot(time.monotonic())
            self._jobs[job.export_id] = job
            # create answers only exportId, format, status, createdAt
            return dict(job.snapshot)

    def enqueue(self, client_id: str, object_path: str, export_id: str) -> dict[str, Any]:
        with self._cond:
            job = self._own(client_id, object_path, export_id)
            if job.status in ACTIVE:
                raise ApiError("1029", "Job already queued")
            if job.status != "Created":
                raise ApiError("1003", f"Job status is '{job.status}', only a Created job can "
                                       "be enqueued")
            self._quota_check()
            faults = self._faults
            occupied = (len(self._queued) + len(self._processing)
                        + faults.foreign_queued + faults.foreign_processing)
            if faults.take("queue_full") or occupied >= self._config.max_queued_jobs:
                raise ApiError("1029", "Too many jobs in queue")
            job.status, job.queued_at = "Queued", time.time()
            self._queued.append(job)
            job.refresh_snapshot(time.monotonic())
            self._record_levels()
            self._cond.notify_all()
            return dict(job.snapshot)

    def status(self, client_id: str, object_path: str, export_id: str) -> dict[str, Any]:
        now = time.monotonic()
        with self._cond:
            job = self._own(client_id, object_path, export_id)
            job.polls += 1
            if job.last_poll is not None:
                interval = now - job.last_poll
                if job.min_poll_interval is None or interval < job.min_poll_interval:
                    job.min_poll_interval = interval
                self._stats.poll_interval(client_id, interval)
            job.last_poll = now
            if now - job.snapshot_at >= self._config.status_refresh_seconds:
                job.refresh_snapshot(now)
            return dict(job.snapshot)

    def cancel(self, client_id: str, object_path: str, export_id: str) -> dict[str, Any]:
        with self._cond:
            job = self._own(client_id, object_path, export_id)
            if job.status not in ("Created", *ACTIVE):
                raise ApiError("1003", f"Job status is '{job.status}', it cannot be cancelled")
            if job in self._queued:
                self._queued.remove(job)
            if job in self._processing:
                self._processing.remove(job)
            job.status = "Cancelled"
            job.refresh_snapshot(time.monotonic())
            self._record_levels()
            self._cond.notify_all()
            return dict(job.snapshot)

    def list_jobs(self, client_id: str, object_path: str, statuses: set[str] | None,
                  ) -> list[dict[str, Any]]:
        """The caller's jobs of one object type (all are younger than 7 days), oldest first."""
        now = time.monotonic()
        with self._cond:
            found = []
            for job in self._jobs.values():
                if job.client_id != client_id or job.spec.object_path != object_path:
                    continue
                if now - job.snapshot_at >= self._config.status_refresh_seconds:
                    job.refresh_snapshot(now)
                if statuses is None or job.snapshot["status"] in statuses:
                    found.append(dict(job.snapshot))
            return found

    def completed_file(self, client_id: str, object_path: str, export_id: str) -> ExportFile:
        """The file of a Completed job of the caller; KeyError (-> 404) otherwise."""
        with self._cond:
            job = self._jobs.get(export_id)
            if (job is None or job.client_id != client_id or job.spec.object_path != object_path
                    or job.status != "Completed" or job.file is None):
                raise KeyError(export_id)
            return job.file

    def jobs_public(self) -> list[dict[str, Any]]:
        with self._cond:
            return [job.public() for job in self._jobs.values()]

    # --------------------------------------------------------------- processing
    def _record_levels(self) -> None:
        levels: dict[str, tuple[int, int]] = {}
        for job in self._processing:
            processing, active = levels.get(job.client_id, (0, 0))
            levels[job.client_id] = (processing + 1, active + 1)
        for job in self._queued:
            processing, active = levels.get(job.client_id, (0, 0))
            levels[job.client_id] = (processing, active + 1)
        self._stats.queue_levels(levels)

    def _run(self) -> None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                self._finish_due(now)
                self._start_queued(now)
                dues = [j.due for j in self._processing if j.due is not None]
                timeout = max(0.0, min(dues) - now) if dues else 0.25
                self._cond.wait(timeout=min(timeout, 0.25))

    def _finish_due(self, now: float) -> None:
        finished = [j for j in self._processing if j.due is not None and j.due <= now]
        for job in finished:
            self._processing.remove(job)
            job.finished_at = time.time()
            if job.will_fail:
                job.status = "Failed"
                job.error_msg = job.error_msg or self._faults.fail_message
            else:
                job.status = "Completed"
                size = job.file.size if job.file else 0
                day = marketo_day(self._clock.now())  # the day it completed
                self._bytes_by_day[day] = self._bytes_by_day.get(day, 0) + size
                self._stats.count(job.client_id, "bytes_exported", size)
        if finished:
            self._record_levels()

    def _start_queued(self, now: float) -> None:
        slots = self._config.max_processing_jobs - self._faults.foreign_processing
        while self._queued and len(self._processing) < slots:
            job = self._queued.popleft()
            job.status, job.started_at = "Processing", time.time()
            self._processing.append(job)
            job.will_fail = self._faults.should_fail(job.spec.object_path, job.spec.filter)
            if job.will_fail:
                job.due = now + self._config.job_seconds  # no file is written for a failure
            else:
                threading.Thread(target=self._build, args=(job, now), daemon=True,
                                 name=f"sandbox-export-{job.export_id[:8]}").start()
            self._record_levels()

    def _unescaped_quote_counter(self, job: Job) -> Callable[[], None] | None:
        """Fault `unescaped_quotes`: the counter a lead file's writer calls per unescaped value."""
        if job.spec.object_path != "leads" or not self._faults.take("unescaped_quotes"):
            return None
        faults = self._faults

        def count() -> None:
            with faults._lock:
                faults.unescaped_quotes_written += 1

        return count

    def _build(self, job: Job, started: float) -> None:
        path = self._workdir / f"{job.export_id}.{job.spec.format.lower()}"
        try:
            with self._data.lock:  # a consistent view even if mutate() is called meanwhile
                rows = select_rows(job.spec, self._data)
                export = write_export(job.spec, self._data, rows, path,
                                      digit_booleans=self._config.legacy_member_booleans,
                                      on_unescaped_quote=self._unescaped_quote_counter(job))
        except Exception as exc:  # e.g. the sandbox stopped and removed its workdir
            with self._cond:
                job.will_fail = True
                job.error_msg = f"Export failed: {exc}"
                job.due = time.monotonic()
                self._cond.notify_all()
            return
        speed = self._config.records_per_second
        duration = self._config.job_seconds + (export.records / speed if speed > 0 else 0.0)
        with self._cond:
            if job.status != "Processing":  # cancelled while building
                path.unlink(missing_ok=True)
                return
            job.file = export
            job.due = max(started + duration, time.monotonic())
            self._cond.notify_all()
