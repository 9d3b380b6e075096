"""ExportScheduler: pipelines ExportRequests through Marketo's shared export queue.

One worker thread creates, enqueues and polls jobs and downloads finished files ahead of the
consumer (the stream, on the main thread), which gets events in request order from `run()`: while
it parses file i, jobs i+1 and i+2 are processing and file i+1 may be downloading. Marketo allows 2
Processing and 10 Queued+Processing per instance, shared with other integrations: we keep at most
`max_concurrent_jobs` Processing, `max_queued_jobs` (1 or 2) more Queued, and only a few jobs
ahead of the consumer. Bookkeeping: scheduler_state.py; queue limits and 1029 backoff: quota.py.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path

from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.errors import (
    ExportFileGoneError,
    ExportJobError,
    QueueFullError,
    QuotaExceededError,
)
from tap_marketo_bulk.export.download import DownloadDir
from tap_marketo_bulk.export.event_channel import EventChannel
from tap_marketo_bulk.export.events import (
    Event,
    ExportReady,
    ExportRequest,
    JobSubmitted,
    QuotaExhausted,
)
from tap_marketo_bulk.export.jobs import CANCELLED, COMPLETED, FAILED, ExportJob
from tap_marketo_bulk.export.quota import QueueBackoff, QuotaTracker, max_active_jobs
from tap_marketo_bulk.export.scheduler_state import (
    SUBMIT_ACTIONS,
    CompletedSizes,
    ExportUnit,
    OwnJobs,
    count_active,
    count_processing,
    defer_backfill,
    next_wakeup,
)

__all__ = ["ExportReady", "ExportRequest", "ExportScheduler", "JobSubmitted", "QuotaExhausted"]

MAX_FILE_GONE = 2  # expired files (404) re-exported per request; one more is fatal
WORKER_JOIN_SECONDS = 10.0
IDLE_CHECK_SECONDS = 1.0  # re-check when only the consumer can unblock us


class ExportScheduler:
    """Runs ExportRequests as Marketo bulk jobs within Marketo's (and our) limits."""

    def __init__(
        self,
        client: MarketoClient,
        *,
        max_concurrent_jobs: int = 2,
        max_queued_jobs: int = 2,
        poll_interval: float = 60.0,
        job_timeout: float = 10800.0,
        queue_backoff: float = 60.0,
        quota: QuotaTracker,
        logger: logging.Logger,
        workdir: Path | None = None,
        max_files_on_disk: int = 2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if max_concurrent_jobs < 1:
            raise ValueError("max_concurrent_jobs must be at least 1")
        if max_queued_jobs not in (1, 2):
            raise ValueError("max_queued_jobs must be 1 or 2")
        self.client = client
        self.max_concurrent_jobs = max_concurrent_jobs
        # Queued + Processing: plus max_queued_jobs waiting when max_concurrent_jobs is 2
        self.max_active_jobs = max_active_jobs(max_concurrent_jobs, max_queued_jobs)
        self._wake = threading.Event()
        # Files downloaded and not yet done with by the consumer (it holds one while parsing).
        self.files = DownloadDir(workdir, max_files_on_disk, on_free=self._wake.set)
        # Jobs created and not handed out: a slow consumer must not run the whole history ahead.
        self.max_jobs_ahead = self.max_active_jobs + self.files.max_files
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.queue_backoff = queue_backoff
        self.quota = quota
        self.logger = logger
        self.stats: dict[str, dict[str, int]] = {}  # per stream: jobs, bytes, records, windows
        self.max_processing_seen = 0
        self.max_queued_plus_processing_seen = 0
        self._clock = clock
        self._sleep = sleep  # None: idle on an event that release() and close() set
        self._stopping = threading.Event()
        self._own_jobs = OwnJobs()
        self._enqueue_backoff = QueueBackoff(clock=clock)
        self._worker: threading.Thread | None = None
        self._left_behind: threading.Thread | None = None  # still busy after a join timed out
        self._sizes = CompletedSizes()  # bytes per job (backfill windows weigh the quota)

    # ----- consumer side (main thread) ------------------------------------------------------

    def run(self, requests: Iterable[ExportRequest]) -> Iterator[Event]:
        """JobSubmitted as jobs are created, ExportReady in request order, QuotaExhausted last if
        the day's quota ran out. Errors of the worker are raised here."""
        if self._worker is not None and self._worker.is_alive():
            raise RuntimeError("ExportScheduler.run() is already in progress")
        units = [ExportUnit(request) for request in requests]
        self._own_jobs.spare(
            u.request.resume_export_id for u in units if u.request.resume_export_id
        )
        self._stopping.clear()
        events = EventChannel()
        worker = threading.Thread(
            target=events.produce,
            args=(functools.partial(self._drive, units),),
            daemon=True,
            name="marketo-export-scheduler",
        )
        self._worker = worker
        worker.start()
        try:
            for event in events.receive(worker, IDLE_CHECK_SECONDS):
                assert isinstance(event, JobSubmitted | ExportReady | QuotaExhausted)
                yield event
                if isinstance(event, ExportReady):
                    event._settle()  # asking for more means done with this file
        finally:
            self._stop_worker()
            if not worker.is_alive():  # every file handed out is done with: drop the temp dir
                self.files.cleanup()

    def close(self, keep: Collection[str] = ()) -> None:
        """Stop the worker; cancel our unfinished jobs never handed out that state does not
        refer to (`keep`: export ids a later run resumes); remove the temporary files."""
        self._stop_worker()
        self._own_jobs.cancel_unused(keep, self.logger)
        self.files.cleanup()

    def _stop_worker(self) -> None:
        self._stopping.set()
        self._wake.set()
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            if worker is self._left_behind:
                return  # waited for once already (SIGTERM, then the stream's error exit)
            worker.join(WORKER_JOIN_SECONDS)
            if worker.is_alive():
                self.logger.warning("export scheduler worker still busy; leaving it behind")
                self._left_behind = worker

    # ----- worker ---------------------------------------------------------------------------

    def _drive(self, units: list[ExportUnit], events: EventChannel) -> bool:
        """The control loop; True when every request was handed out (or the quota ran out)."""
        while not self._stopping.is_set():
            self._wake.clear()
            while units and units[0].ready is not None:
                self._hand_out(units.pop(0), events)
            if not units:
                return True
            # After an error only the requests before it are worked on: what can still be handed
            # out in order is, then the error is raised.
            upto = next((i for i, u in enumerate(units) if u.error is not None), len(units))
            error = units[upto].error if upto < len(units) else None
            if error is not None and upto == 0:
                raise error
            quota_message = self.quota.exhausted_message
            if quota_message and units[0].next_action() in ("create", "enqueue"):
                if error is not None:
                    raise error  # never swallowed, not even by the end of the quota
                # Everything submitted in order before this request is handed out.
                pending = [u.pending_request() for u in units]
                self.logger.warning(
                    "no more export jobs today (%s); %d requests left for a later run",
                    quota_message,
                    len(pending),
                )
                events.put(QuotaExhausted(quota_message, pending))
                return True
            progressed = self._submit_next(units, upto, events, blocked=bool(quota_message))
            progressed = self._poll_due(units, upto) or progressed
            progressed = self._download_next(units) or progressed
            if not progressed:
                self._idle(next_wakeup(units, self._enqueue_backoff.not_before, self._clock()))
        return False

    def _submit_next(
        self, units: list[ExportUnit], upto: int, events: EventChannel, *, blocked: bool
    ) -> bool:
        """Attach, create or enqueue the first request that needs it (strictly in order)."""
        unit = next((u for u in units[:upto] if u.next_action() in SUBMIT_ACTIONS), None)
        if unit is None:
            return False
        try:
            return self._submit(unit, units, events, blocked=blocked)
        except Exception as exc:  # raised to the consumer when this request's turn comes
            unit.error = exc
            return True

    def _submit(
        self, unit: ExportUnit, units: list[ExportUnit], events: EventChannel, *, blocked: bool
    ) -> bool:
        action = unit.next_action()
        if action == "attach":
            self._attach(unit)
            return True
        now = self._clock()
        if (
            blocked
            or now < self._enqueue_backoff.not_before
            or count_active(units) >= self.max_active_jobs
            or (action == "create" and sum(u.job is not None for u in units) >= self.max_jobs_ahead)
        ):
            return False
        if unit.waiting_since is not None and now - unit.waiting_since > self.job_timeout:
            raise ExportJobError(
                "queue-timeout",
                f"{unit.request.label}: Marketo's export queue stayed full for "
                f"{now - unit.waiting_since:.0f} s",
                f"/bulk/v1/{unit.request.object_path}/export",
            )
        if unit.job is None:  # a backfill window waits until today's quota is known to fit it
            decision = defer_backfill(units, unit, self.quota, self._sizes.per_job, self.logger)
            if decision != "go":
                return decision == "done"
        try:
            if unit.job is None:
                job = self._new_job(unit.request)
                export_id = job.create()
                if not self._own_jobs.add(job, self._stopping):
                    return True  # closed meanwhile
                unit.job = job
                self._count(unit.request, "jobs")
                events.put(JobSubmitted(unit.request, export_id))
            unit.job.enqueue()
        except QueueFullError as exc:
            unit.waiting_since = now if unit.waiting_since is None else unit.waiting_since
            delay = self._enqueue_backoff.queue_full(self.queue_backoff)
            self.logger.warning(
                "%s: %s; trying again in %.0f s", unit.request.label, exc.message, delay
            )
            return True
        except QuotaExceededError as exc:
            self.quota.mark_exhausted(f"Marketo: {exc.message}")
            return True
        self._enqueue_backoff.succeeded()
        unit.waiting_since = None
        self._note_peaks(units)
        return True

    def _attach(self, unit: ExportUnit) -> None:
        unit.attached = True
        assert unit.request.resume_export_id is not None
        job = self._new_job(unit.request)
        if job.attach(unit.request.resume_export_id) and self._own_jobs.add(job, self._stopping):
            unit.job = job
            if job.status == COMPLETED:
                self._on_completed(unit)

    def _poll_due(self, units: list[ExportUnit], upto: int) -> bool:
        due = [u for u in units[:upto] if u.poll_due(self._clock)]
        for unit in due:
            assert unit.job is not None
            try:
                status = unit.job.poll()  # on timeout: cancels the job, raises ExportJobError
                if status == COMPLETED:
                    self._on_completed(unit)
                elif status in (FAILED, CANCELLED):
                    self._on_failed(unit, units)
            except Exception as exc:  # raised to the consumer when this request's turn comes
                unit.error = exc
        self._note_peaks(units)
        return bool(due)

    def _download_next(self, units: list[ExportUnit]) -> bool:
        """Download the next file in request order once Completed, within the disk cap."""
        unit, job = units[0], units[0].job
        if job is None or job.status != COMPLETED or job.export_id is None:
            return False
        if job.number_of_records == 0:
            unit.ready = unit.ready_event(None, None)
            return True
        if not self.files.reserve():
            return False
        dest = self.files.path_for(unit.request.stream, job.export_id)
        try:
            path = job.download(dest)
        except BaseException as exc:
            self.files.free()
            dest.unlink(missing_ok=True)
            unit.files_gone += isinstance(exc, ExportFileGoneError)
            if not isinstance(exc, ExportFileGoneError) or unit.files_gone > MAX_FILE_GONE:
                raise
            self.logger.warning(
                "%s: the file of Completed export %s is gone (expired?); "
                "exporting the window again",
                unit.request.label,
                job.export_id,
            )
            self._forget(unit)
            return True
        if path is None:  # numberOfRecords was missing: download() found nothing to fetch
            self.files.free()
        unit.ready = unit.ready_event(path, self.files.free if path is not None else None)
        return True

    def _hand_out(self, unit: ExportUnit, events: EventChannel) -> None:
        assert unit.ready is not None
        self._forget(unit)
        self._count(unit.request, "windows")
        events.put(unit.ready)

    # ----- transitions ----------------------------------------------------------------------

    def _on_completed(self, unit: ExportUnit) -> None:
        job = unit.job
        assert job is not None
        self._sizes.add(unit.request.stream, job.file_size or 0)
        self.quota.add(job.file_size or 0)  # Marketo meters the file size of completed jobs
        self._count(unit.request, "bytes", job.file_size or 0)
        self._count(unit.request, "records", job.number_of_records or 0)

    def _on_failed(self, unit: ExportUnit, units: list[ExportUnit]) -> None:
        """Create a Failed (or foreign-Cancelled) export once more; then split its window."""
        job = unit.job
        assert job is not None
        unit.failures += 1
        reason = job.error_message or job.status
        self._forget(unit)
        if unit.failures < 2:
            self.logger.warning(
                "%s: export %s %s (%s); creating it again",
                unit.request.label,
                job.export_id,
                job.status,
                reason,
            )
            return
        parts = unit.request.split()
        if parts is None:
            raise ExportJobError(
                "export-failed",
                f"{unit.request.label}: Marketo failed this export twice ({reason}); the window "
                "is one day or less (or cannot be split), so the tap stops here",
                f"/bulk/v1/{unit.request.object_path}/export/{job.export_id}/status.json",
            )
        self.logger.warning(
            "%s: export failed twice (%s); splitting the window into %s and %s",
            unit.request.label,
            reason,
            parts[0].key,
            parts[1].key,
        )
        self._count(unit.request, "splits")
        index = units.index(unit)
        units[index : index + 1] = [ExportUnit(part, attached=True) for part in parts]

    def _forget(self, unit: ExportUnit) -> None:
        """Stop tracking the unit's job (handed out, failed or file gone)."""
        if unit.job is not None:
            self._own_jobs.forget(unit.job)
        if unit.ready is None:
            unit.job = None
            unit.attached = True

    # ----- helpers --------------------------------------------------------------------------

    def _new_job(self, request: ExportRequest) -> ExportJob:
        return ExportJob(
            self.client,
            request.object_path,
            request.body,
            label=request.label,
            poll_interval=self.poll_interval,
            timeout=self.job_timeout,
            logger=self.logger,
            clock=self._clock,
            sleep=self._sleep,
            known_export_ids=self._own_jobs.known_export_ids,
        )

    def _note_peaks(self, units: list[ExportUnit]) -> None:
        self.max_processing_seen = max(self.max_processing_seen, count_processing(units))
        self.max_queued_plus_processing_seen = max(
            self.max_queued_plus_processing_seen, count_active(units)
        )

    def _count(self, request: ExportRequest, name: str, amount: int = 1) -> None:
        stream = self.stats.setdefault(
            request.stream, {"jobs": 0, "bytes": 0, "records": 0, "windows": 0, "splits": 0}
        )
        stream[name] += amount

    def _idle(self, until: float | None) -> None:
        if until is not None and self._sleep is not None:
            self._sleep(max(0.0, until - self._clock()))
            return
        delay = IDLE_CHECK_SECONDS if until is None else until - self._clock()
        self._wake.wait(max(0.0, min(delay, 60.0)))
