"""The scheduler's bookkeeping, apart from its control loop.

ExportUnit: what the scheduler knows about one request between steps, and queries over the list of
them. OwnJobs: the jobs it created or attached and has not handed out (close() cancels the unused
ones), and the export ids that reconcile must never cancel.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tap_marketo_bulk.export.events import ExportReady, ExportRequest
from tap_marketo_bulk.export.jobs import ACTIVE, COMPLETED, CREATED, PROCESSING, ExportJob
from tap_marketo_bulk.export.quota import QuotaTracker

FULL_WINDOW = timedelta(days=31)

SUBMIT_ACTIONS = ("attach", "create", "enqueue")


@dataclass(eq=False)
class ExportUnit:
    """The scheduler's view of one request (a split request is replaced by its parts)."""

    request: ExportRequest
    job: ExportJob | None = None
    attached: bool = False  # resume_export_id was looked at
    failures: int = 0  # Failed/Cancelled jobs for this request
    files_gone: int = 0
    waiting_since: float | None = None  # waiting to be enqueued because the queue is full
    ready: ExportReady | None = None
    error: Exception | None = None  # raised once every request before this one is handed out

    def next_action(self) -> str:
        if self.job is None:
            return "attach" if self.request.resume_export_id and not self.attached else "create"
        if self.job.status == CREATED:
            return "enqueue"
        return "download" if self.job.status == COMPLETED else "poll"

    def poll_due(self, clock: Callable[[], float]) -> bool:
        """Its job is Queued/Processing and may be asked for its status again."""
        return (
            self.job is not None and self.job.status in ACTIVE and clock() >= self.job.next_poll_at
        )

    def ready_event(self, path: Path | None, free_slot: Callable[[], None] | None) -> ExportReady:
        job = self.job
        assert job is not None and job.export_id is not None
        return ExportReady(
            self.request,
            job.export_id,
            path,
            job.number_of_records or 0,
            job.file_size or 0,
            _free_slot=free_slot,
        )

    def pending_request(self) -> ExportRequest:
        if self.job is not None and self.job.export_id:
            return dataclasses.replace(self.request, resume_export_id=self.job.export_id)
        if not self.attached:  # its id from state was never looked at: keep it
            return self.request
        return dataclasses.replace(self.request, resume_export_id=None)


def count_active(units: list[ExportUnit]) -> int:
    return sum(u.job is not None and u.job.status in ACTIVE for u in units)


def count_processing(units: list[ExportUnit]) -> int:
    return sum(u.job is not None and u.job.status == PROCESSING for u in units)


def next_wakeup(units: list[ExportUnit], enqueue_not_before: float, now: float) -> float | None:
    """When something is next due (a poll, the end of a queue backoff); None: no timer."""
    due = [u.job.next_poll_at for u in units if u.job is not None and u.job.status in ACTIVE]
    if enqueue_not_before > now and any(u.next_action() in SUBMIT_ACTIONS for u in units):
        due.append(enqueue_not_before)
    return min(due) if due else None


class OwnJobs:
    """Jobs submitted and not handed out, and the ids reconcile spares; thread-safe (the worker
    adds, close() on the main thread cancels)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outstanding: dict[int, ExportJob] = {}  # submitted, not handed out (by id())
        self._known_ids: set[str] = set()  # reconcile never cancels these

    def spare(self, export_ids: Iterable[str]) -> None:
        """Export ids reconcile must never cancel (e.g. the ids kept in state)."""
        with self._lock:
            self._known_ids.update(export_ids)

    def known_export_ids(self) -> set[str]:
        with self._lock:
            return set(self._known_ids)

    def add(self, job: ExportJob, stopping: threading.Event) -> bool:
        """Track a created/attached job for close(); False when the scheduler is stopping."""
        with self._lock:
            if job.export_id:
                self._known_ids.add(job.export_id)
            stopped = stopping.is_set()
            if not stopped:
                self._outstanding[id(job)] = job
        if stopped and job.status == CREATED:
            job.cancel_quietly()  # close() already ran: nobody will record or use this job
        return not stopped

    def forget(self, job: ExportJob) -> None:
        with self._lock:
            self._outstanding.pop(id(job), None)

    def cancel_unused(self, keep: Collection[str], logger: logging.Logger) -> None:
        """Stop tracking; cancel the unfinished jobs never handed out that state does not refer
        to (`keep`: export ids a later run resumes)."""
        with self._lock:
            jobs = list(self._outstanding.values())
            self._outstanding.clear()
        for job in jobs:
            status = job.status
            unused = job.export_id and job.export_id not in keep and status in ACTIVE | {CREATED}
            if unused and job.cancel_quietly():
                logger.info(
                    "%s: cancelled export %s (%s, never used)", job.label, job.export_id, status
                )


class CompletedSizes:
    """File bytes of the jobs completed in this run, per stream: what a job will cost."""

    def __init__(self) -> None:
        self._jobs: Counter[str] = Counter()
        self._bytes: Counter[str] = Counter()

    def add(self, stream: str, nbytes: int) -> None:
        self._jobs[stream] += 1
        self._bytes[stream] += nbytes

    def per_job(self, stream: str) -> float | None:
        """This stream's bytes per job, else every stream's; None before any job completed."""
        if self._jobs[stream]:
            return self._bytes[stream] / self._jobs[stream]
        jobs = sum(self._jobs.values())
        return sum(self._bytes.values()) / jobs if jobs else None


def backfill_to_defer(
    units: list[ExportUnit],
    unit: ExportUnit,
    remaining: int | None,
    per_job: Callable[[str], float | None],
) -> tuple[str, list[ExportUnit]]:
    """Whether to create `unit` now: ("go", []), ("wait", []) or ("defer", the stream's
    requests to leave to a later run).

    A backfill window (newest first): today's quota (`remaining`, by the tap's own count) must
    cover the jobs already under way, this one and the newest windows of the streams after this
    one, each estimated at its stream's bytes per job in this run; a newest window of unknown
    size (a first sync) defers them to the run's second pass; with no size at all yet, one job
    goes first to learn it. Older windows are what may wait: state already says where the
    backfill stands, so a later run goes on from there.

    A paced window with no newest window after it (the last stream's backfill, any window of an
    oldest-first sync) waits while the jobs under way are estimated to spend what is left, so a
    day ends at most about one window past daily_quota_mb. A newest window never waits.
    """
    request = unit.request
    if remaining is None or not (request.backfill or request.paced):
        return "go", []
    under_way = [u for u in units if u.job is not None and u.job.status != COMPLETED]
    if request.backfill:
        index = units.index(unit)
        stream = request.stream
        later_heads = [
            u
            for u in units[index + 1 :]
            if u.request.stream != stream and not u.request.backfill and u.job is None
        ]
        if later_heads:
            own = [u for u in units[index:] if u.request.stream == stream]
            leave = ("defer", own) if all(u.job is None for u in own) else ("go", [])
            if any(u.request.estimated_bytes is None for u in later_heads):
                return leave  # a later newest window of unknown size: the second pass
            if per_job(stream) is None:
                return ("wait", []) if under_way else ("go", [])  # one job first, for a size
            needed = sum(_estimate(u, per_job) for u in [*later_heads, *under_way, unit])
            return ("go", []) if remaining > needed else leave
    if under_way and sum(_estimate(u, per_job) for u in under_way) >= remaining:
        return "wait", []
    return "go", []


def _estimate(unit: ExportUnit, per_job: Callable[[str], float | None]) -> float:
    """A job's file bytes: from its stream's bytes per day so far, else per job this run (a
    window shorter than 31 days in proportion, e.g. the one second new since the last run)."""
    request = unit.request
    if request.estimated_bytes is not None:
        return request.estimated_bytes
    share = 1.0 if request.window is None else min(1.0, request.window.covered / FULL_WINDOW)
    return (per_job(request.stream) or 0.0) * share


def defer_backfill(
    units: list[ExportUnit],
    unit: ExportUnit,
    quota: QuotaTracker,
    per_job: Callable[[str], float | None],
    logger: logging.Logger,
) -> str:
    """Apply backfill_to_defer: drop the deferred requests from `units`. "go": create `unit`
    now; "wait": not yet; "done": `units` changed."""
    decision, deferred = backfill_to_defer(units, unit, quota.remaining, per_job)
    if decision in ("go", "wait"):
        return decision
    for deferred_unit in deferred:
        units.remove(deferred_unit)
    logger.info(
        "%s: %d older windows left for a later run: the rest of today's export quota is "
        "kept for the newest windows of the streams after it",
        unit.request.stream,
        len(deferred),
    )
    return "done"
