"""The vocabulary around export jobs: ExportRequest (what to export) and the events the scheduler
reports about requests (JobSubmitted, ExportReady, QuotaExhausted).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tap_marketo_bulk.export.windows import Window


@dataclass(frozen=True)
class ExportRequest:
    """One export to run: a create.json body, usually for one date window."""

    stream: str  # stream name (logs, stats)
    object_path: str  # "leads" | "activities" | "program/members" | "customobjects/<apiName>"
    body: dict  # create.json body (fields, format, filter)
    window: Window | None = None  # the window the body's filter covers
    rebuild: Callable[[Window], dict] | None = None  # body for a sub-window (split on failure)
    resume_export_id: str | None = None  # from state: re-attach instead of creating
    # An older window of a newest-first backfill: the scheduler may leave it to a later run so
    # that today's quota still covers the newest windows of the streams after this one.
    backfill: bool = False
    # Created only while the jobs under way leave some of today's quota (by estimate): backfill
    # windows, and every window of an oldest-first sync (no newest window to hurry there).
    paced: bool = False
    estimated_bytes: float | None = None  # its stream's bytes per day so far x the window's days

    @property
    def key(self) -> str:
        if self.window is not None:
            return self.window.key
        canonical = json.dumps(self.body, sort_keys=True, default=str)
        return "body-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        return f"{self.stream} {self.key}"

    def split(self) -> tuple[ExportRequest, ExportRequest] | None:
        """Two requests for the window's halves; None when it cannot be split (<= 1 day)."""
        if self.window is None or self.rebuild is None:
            return None
        halves = self.window.split()
        if halves is None:
            return None
        first, second = (
            dataclasses.replace(self, window=w, body=self.rebuild(w), resume_export_id=None)
            for w in halves
        )
        return first, second


@dataclass
class JobSubmitted:
    """A job was created: write its id into state so a restart re-attaches instead of creating."""

    request: ExportRequest
    export_id: str


@dataclass
class ExportReady:
    """The verified file of `request` (None when 0 records); call release() once parsed."""

    request: ExportRequest
    export_id: str
    path: Path | None
    number_of_records: int
    file_size: int
    _free_slot: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def release(self) -> None:
        """Delete the file and let the scheduler download the next one."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        self._settle()

    def _settle(self) -> None:
        free, self._free_slot = self._free_slot, None
        if free is not None:
            free()


@dataclass
class QuotaExhausted:
    """Last event of a run: no more jobs today.

    `pending`: the unfinished requests, with resume_export_id set where a job exists.
    """

    message: str
    pending: list[ExportRequest]


Event = JobSubmitted | ExportReady | QuotaExhausted
