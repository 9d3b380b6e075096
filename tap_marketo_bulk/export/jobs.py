"""ExportJob: one bulk export's lifecycle as a small explicit state machine.

    New --create--> Created --enqueue--> Queued --(Marketo)--> Processing --> Completed --> download
                                                         \\--> Failed / Cancelled (terminal)

Each method is one step (at most a few API calls) so the scheduler can drive many jobs from one
thread; `run()` chains the steps for a caller with a single job. Marketo refreshes a job's status
at most once a minute, so `poll()` never calls more often than `poll_interval`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from pathlib import Path

from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.errors import AmbiguousRequestError, ExportJobError, MarketoError
from tap_marketo_bulk.export.download import download_export
from tap_marketo_bulk.export.windows import parse_datetime

NEW = "New"  # not created yet (ours, never Marketo's)
CREATED, QUEUED, PROCESSING = "Created", "Queued", "Processing"
COMPLETED, FAILED, CANCELLED = "Completed", "Failed", "Cancelled"
ACTIVE = frozenset({QUEUED, PROCESSING})  # what occupies Marketo's export queue
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
MAX_CREATE_ATTEMPTS = 3  # creates answered ambiguously, each followed by a reconcile
LIST_PAGE_LIMIT = 50  # job list pages read when reconciling (300 jobs a page)


def normalize_status(status: str) -> str:
    # Real responses spell it "Cancelled"; the documentation also says "Canceled".
    return CANCELLED if status == "Canceled" else status


def _no_ids() -> Collection[str]:
    return ()


class ExportJob:
    """One export job of `object_path` ("leads", "activities", "program/members")."""

    def __init__(
        self,
        client: MarketoClient,
        object_path: str,
        body: dict,
        *,
        label: str = "",
        poll_interval: float = 60.0,
        timeout: float = 10800.0,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        known_export_ids: Callable[[], Collection[str]] = _no_ids,
    ) -> None:
        self.client = client
        self.object_path = object_path
        self.body = body
        self.label = label or object_path
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.logger = logger or logging.getLogger(__name__)
        self.clock = clock
        self.sleep = sleep or client.sleep
        # Export ids the caller knows about (its jobs, ids kept in state): reconcile spares them.
        self.known_export_ids = known_export_ids
        self.export_id: str | None = None
        self.status = NEW
        self.number_of_records: int | None = None
        self.file_size: int | None = None
        self.file_checksum: str | None = None
        self.error_message: str | None = None
        self.polls = 0
        self._began_at = clock()  # for "elapsed" in logs
        self._active_since: float | None = None  # timeout clock: from enqueue (or attach)
        self._last_poll_at: float | None = None

    # ----- paths ----------------------------------------------------------------------------

    @property
    def _base(self) -> str:
        return f"/bulk/v1/{self.object_path}/export"

    def _job_path(self, action: str) -> str:
        return f"{self._base}/{self.export_id}/{action}.json"

    # ----- state ----------------------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def next_poll_at(self) -> float:
        """Earliest clock() at which poll() will ask Marketo again."""
        last = self._last_poll_at if self._last_poll_at is not None else self._active_since
        return (last if last is not None else self.clock()) + self.poll_interval

    @property
    def timed_out(self) -> bool:
        return (
            self.is_active
            and self._active_since is not None
            and self.clock() - self._active_since > self.timeout
        )

    # ----- steps ----------------------------------------------------------------------------

    def create(self) -> str:
        """Create the job; its export id. Never re-sends a create that may have worked.

        After an ambiguous answer (502, timeout, success without result) our unreferenced
        Created jobs are cancelled first: they cost nothing until enqueued, and one of them may
        be the job that answer was about.
        """
        last_error: AmbiguousRequestError | None = None
        for attempt in range(1, MAX_CREATE_ATTEMPTS + 1):
            try:
                envelope = self.client.post(
                    f"{self._base}/create.json", json=self.body, idempotent=False
                )
            except AmbiguousRequestError as exc:
                last_error = exc
                self.logger.warning(
                    "%s: create answered ambiguously (%s); reconciling", self.label, exc
                )
                self.reconcile()
                self.sleep(2.0 * attempt)
                continue
            self._update(envelope["result"][0])
            self.logger.debug("%s: created export %s", self.label, self.export_id)
            assert self.export_id is not None
            return self.export_id
        raise ExportJobError(
            "ambiguous-create",
            f"{self.label}: could not create an export job ({MAX_CREATE_ATTEMPTS} ambiguous "
            f"answers: {last_error.message if last_error else ''})",
            f"{self._base}/create.json",
        )

    def reconcile(self) -> int:
        """Cancel our Created jobs that nobody knows about; how many were cancelled."""
        known = set(self.known_export_ids())
        if self.export_id:
            known.add(self.export_id)
        cancelled = 0
        params: dict = {"status": CREATED, "batchSize": 300}
        for _ in range(LIST_PAGE_LIMIT):
            envelope = self.client.get(f"{self._base}.json", params=params)
            for job in envelope.get("result") or []:
                export_id = job.get("exportId")
                if export_id and export_id not in known and job.get("status", CREATED) == CREATED:
                    self.client.post(f"{self._base}/{export_id}/cancel.json")
                    self.logger.info(
                        "%s: cancelled unreferenced Created export %s", self.label, export_id
                    )
                    cancelled += 1
            token = envelope.get("nextPageToken")
            if not token or not envelope.get("result"):
                break
            params = {**params, "nextPageToken": token}
        return cancelled

    def enqueue(self) -> None:
        """Queue the created job. 1029 raises QueueFullError / QuotaExceededError."""
        envelope = self.client.post(self._job_path("enqueue"))
        if envelope.get("alreadyQueued"):  # 1029 "Job already queued": the first one worked
            self._set_status(QUEUED)
        else:
            self._update((envelope.get("result") or [{"status": QUEUED}])[0])
        if self.status == CREATED:  # an enqueue answer still saying Created: count it queued
            self._set_status(QUEUED)
        self._active_since = self.clock()
        self._last_poll_at = None

    def attach(self, export_id: str) -> bool:
        """Take over an export a previous run started; False when it must be exported again.

        Created (enqueue next), Queued/Processing (poll) and Completed (download) are usable;
        Failed, Cancelled and unknown ids are not.
        """
        self.export_id = export_id
        try:
            found = self._fetch_status()
        except MarketoError as exc:
            if exc.code not in ("610", "HTTP 404") and "not found" not in exc.message.lower():
                raise
            found = False
        if not found or self.status in (FAILED, CANCELLED):
            self.logger.info(
                "%s: export %s from state is %s; exporting again",
                self.label,
                export_id,
                self.status if found else "unknown",
            )
            self.export_id, self.status = None, NEW
            return False
        self.logger.info("%s: resumed export %s (%s)", self.label, export_id, self.status)
        if self.is_active:
            self._active_since = self.clock()
        return True

    def poll(self) -> str:
        """Ask Marketo for the status if poll_interval has passed; the (possibly cached) status.

        A job still Queued/Processing after `timeout` is cancelled and ExportJobError raised.
        """
        if self.clock() >= self.next_poll_at and not self.is_terminal:
            self._fetch_status()
        if self.timed_out:
            assert self._active_since is not None
            waited = self.clock() - self._active_since
            self.cancel_quietly()
            raise ExportJobError(
                "export-timeout",
                f"{self.label}: export {self.export_id} did not complete within "
                f"{self.timeout:.0f} s (still {self.status} after {waited:.0f} s); cancelled it",
                self._job_path("status"),
            )
        return self.status

    def wait(self) -> str:
        """Poll until Completed, Failed or Cancelled (or timeout); the final status."""
        while not self.is_terminal:
            delay = self.next_poll_at - self.clock()
            if delay > 0:
                self.sleep(delay)
            self.poll()
        return self.status

    def cancel(self) -> None:
        envelope = self.client.post(self._job_path("cancel"))
        self._update((envelope.get("result") or [{"status": CANCELLED}])[0])

    def cancel_quietly(self) -> bool:
        """Cancel, logging instead of raising (cleanup paths); whether it worked."""
        try:
            self.cancel()
        except MarketoError as exc:
            self.logger.warning(
                "%s: could not cancel export %s: %s", self.label, self.export_id, exc
            )
            return False
        return True

    def download(self, dest: Path) -> Path | None:
        """Download the Completed job's verified file to `dest`; None when it has 0 records."""
        if self.status != COMPLETED:
            raise ExportJobError(
                "not-completed",
                f"{self.label}: export {self.export_id} is {self.status}, not Completed",
                self._job_path("file"),
            )
        if self.number_of_records == 0:
            self.logger.info(
                "%s: export %s has 0 records; nothing to download", self.label, self.export_id
            )
            return None
        assert self.export_id is not None
        return download_export(
            self.client,
            self.object_path,
            self.export_id,
            dest,
            file_size=self.file_size,
            checksum=self.file_checksum,
            logger=self.logger,
            sleep=self.sleep,
        )

    def run(self, dest: Path) -> Path | None:
        """Create, enqueue, wait and download: the whole lifecycle for one job (blocking)."""
        if self.status == NEW:
            self.create()
        if self.status == CREATED:
            self.enqueue()
        if self.wait() != COMPLETED:
            raise ExportJobError(
                f"export-{self.status.lower()}",
                f"{self.label}: export {self.export_id} {self.status}"
                + (f": {self.error_message}" if self.error_message else ""),
                self._job_path("status"),
            )
        return self.download(dest)

    # ----- status bookkeeping -----------------------------------------------------------------

    def _fetch_status(self) -> bool:
        """One status call; False when Marketo answered without the job."""
        self.polls += 1
        try:
            result = self.client.get(self._job_path("status")).get("result") or []
        finally:
            # Timed from the answer: a call held up (rate limit, retries) must not make the
            # next one follow right behind it.
            self._last_poll_at = self.clock()
        if not result:
            return False
        self.logger.debug(
            "%s: export %s status %s", self.label, self.export_id, result[0].get("status")
        )
        self._update(result[0])
        return True

    def _update(self, job: dict) -> None:
        if job.get("exportId"):
            self.export_id = str(job["exportId"])
        for key, attribute in (("numberOfRecords", "number_of_records"), ("fileSize", "file_size")):
            if job.get(key) is not None:
                setattr(self, attribute, int(job[key]))
        self.file_checksum = job.get("fileChecksum") or self.file_checksum
        self.error_message = job.get("errorMsg") or self.error_message
        self._set_status(normalize_status(str(job.get("status") or self.status)), job)

    def _set_status(self, status: str, job: dict | None = None) -> None:
        if status == self.status:
            return
        previous, self.status = self.status, status
        elapsed = self.clock() - self._began_at
        detail = ""
        if status == COMPLETED:
            detail = (
                f": {self.number_of_records} records, "
                f"{(self.file_size or 0) / 1e6:.2f} MB{_marketo_took(job or {})}"
            )
        elif status == FAILED and self.error_message:
            detail = f": {self.error_message}"
        self.logger.info(
            "%s: export %s %s -> %s after %.0f s%s",
            self.label,
            self.export_id,
            previous,
            status,
            elapsed,
            detail,
        )


def _marketo_took(job: dict) -> str:
    """ ", processing took N s" from startedAt/finishedAt when Marketo gave both."""
    try:
        took = parse_datetime(job["finishedAt"]) - parse_datetime(job["startedAt"])
    except (KeyError, TypeError, ValueError):
        return ""
    return f", processing took {took.total_seconds():.0f} s"
