"""BulkExportStream: the base of every stream fed by Marketo's Bulk Extract API.

A stream plans its ExportRequests (one per window, or per window and program batch); the run's
ExportPlan (engine.exports) runs every selected bulk stream's requests as one pipeline and hands
this stream its events, and the stream turns each verified file into records, window by window,
writing a STATE message after every finished window and every submitted job. Bookmarks are windows,
not record values: the end of the last window whose every file was emitted.
"""

from __future__ import annotations

import dataclasses
import time
import typing as t
from collections import Counter
from datetime import datetime, timedelta

from singer_sdk import Tap
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_marketo_bulk.errors import ExportFileError, ExportJobError, QuotaExceededError
from tap_marketo_bulk.export.backfill import (
    NEWEST_FIRST,
    OLDEST_FIRST,
    emitted_range,
    is_emitted,
    plan_run_windows,
    record_finished_window,
    resume_parts,
)
from tap_marketo_bulk.export.estimate import record_window
from tap_marketo_bulk.export.scheduler import (
    ExportReady,
    ExportRequest,
    JobSubmitted,
    QuotaExhausted,
)
from tap_marketo_bulk.export.windows import Window, parse_datetime
from tap_marketo_bulk.records.keyset import KeySet
from tap_marketo_bulk.records.parser import CoercionError, CsvRecordParser, MalformedRowError
from tap_marketo_bulk.streams.bulk_forecast import BulkForecastMixin
from tap_marketo_bulk.streams.direct_path import DirectRecordStream
from tap_marketo_bulk.streams.value_errors import check_catalog_types, column_type_error

if t.TYPE_CHECKING:
    from tap_marketo_bulk.engine import MarketoEngine

ONE_SECOND = timedelta(seconds=1)


class BulkExportStream(BulkForecastMixin, DirectRecordStream):
    """A stream whose records come from bulk export files."""

    object_path: t.ClassVar[str]  # "leads" | "activities" | "program/members"
    # The tap coerces every value itself, once per column (schema.build_coercer): the SDK's
    # per-record conformance would only cost time.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    is_sorted = False

    def __init__(self, tap: Tap, schema: dict, engine: MarketoEngine) -> None:
        super().__init__(tap, schema=schema)
        # The run's shared engine: client, quota, scheduler, end_date, birth, describes, and
        # `exports`, the plan across bulk streams (see engine.py). Never the tap object.
        self.engine = engine
        self.summary: Counter[str] = Counter()
        self._window_bytes: Counter[str] = Counter()  # file bytes of a window not yet finished
        self._window_rows: Counter[str] = Counter()  # and its rows
        self._created_rows: dict[str, int] = {}  # rows created inside the newest window
        self._max_ids: dict[str, int] = {}  # and its highest id (counts_max_id)
        self._backfill_until: datetime | None = None  # end of this run's newest backfill window

    # ----- what subclasses define -------------------------------------------------------------

    def plan_requests(self, end: datetime) -> list[ExportRequest]:
        """The ExportRequests of this run, in order, ending at `end`."""
        raise NotImplementedError

    def state_key(self, request: ExportRequest) -> str:
        """Where a request's export id is kept in state `in_flight` (stable across runs)."""
        return request.window.key if request.window else "full"

    def window_start(self) -> datetime:
        """First second to export: one second after the bookmark, else start_date; never
        before the instance's birth."""
        bookmark = self.stream_state.get("replication_key_value")
        if bookmark and self.stream_state.get("filter", self.filter_name) == self.filter_name:
            start = parse_datetime(bookmark) + ONE_SECOND
            birth = self.engine.birth
            return start if birth is None else max(start, birth)
        return self.engine.first_record_date

    def prepare_export(self) -> None:
        """Before any job of the run is created: an input catalog must still fit Marketo's
        describe (a column whose dataType changed would fail hours later)."""
        if self._tap.input_catalog is not None:  # a built schema is describe's own
            overrides = (self.config.get("type_overrides") or {}).get(self.name, ())
            check_catalog_types(self, overrides)

    def on_job_submitted(self, event: JobSubmitted) -> None:
        """A job of this stream was created (maybe while another stream syncs): into state."""
        self.stream_state.setdefault("in_flight", {})[self.state_key(event.request)] = (
            event.export_id
        )
        self.summary["jobs"] += 1
        self.checkpoint()

    filter_name: str = "createdAt"

    @property
    def backfill_order(self) -> str:
        return str(self.config.get("backfill_order", NEWEST_FIRST))

    def _estimated_bytes(self, window: Window | None) -> float | None:
        if window is None:
            return None
        return self.exported().bytes_by_day(window.covered.total_seconds() / 86400)

    # ----- helpers for subclasses --------------------------------------------------------------

    def selected_columns(self, always: t.Iterable[str] = ()) -> list[str]:
        """Schema properties selected in the catalog, plus `always` (keys the tap needs)."""
        required = set(always)
        return [
            name
            for name in self.schema["properties"]
            if name in required or self.mask.get(("properties", name), True)
        ]

    def window_requests(
        self,
        windows: t.Iterable[Window],
        body_for: t.Callable[[Window], dict],
    ) -> list[ExportRequest]:
        return [self.request_for(body_for(window), window, body_for) for window in windows]

    def request_for(
        self,
        body: dict,
        window: Window | None,
        rebuild: t.Callable[[Window], dict] | None = None,
    ) -> ExportRequest:
        """An ExportRequest, re-attached to the export id state holds for it, if any."""
        request = ExportRequest(
            stream=self.name,
            object_path=self.object_path,
            body=body,
            window=window,
            rebuild=rebuild,
            backfill=self._is_backfill(window),
            paced=window is not None and self.backfill_order == OLDEST_FIRST,
            estimated_bytes=self._estimated_bytes(window),
        )
        resume = self.stream_state.get("in_flight", {}).get(self.state_key(request))
        return dataclasses.replace(request, resume_export_id=resume) if resume else request

    def _is_backfill(self, window: Window | None) -> bool:
        """An older window of this run's newest-first backfill (ExportRequest.backfill)."""
        until = self._backfill_until
        return window is not None and until is not None and window.end <= until

    def is_paced(self, window: Window | None) -> bool:
        """Is the job of `window` created only while today's quota allows it (a backfill
        window, or any window of an oldest-first sync; scheduler_state.backfill_to_defer)?"""
        return window is not None and (
            self._is_backfill(window) or self.backfill_order == OLDEST_FIRST
        )

    def plan_windows(self, end: datetime) -> list[Window]:
        """This run's windows: what is new since the bookmark, then the backfill (newest first
        by default; export/backfill.py), split where an earlier run split a window."""
        bookmark_valid = self.stream_state.get("filter", self.filter_name) == self.filter_name
        run = plan_run_windows(
            self.stream_state,
            first=lambda: self.engine.first_record_date,
            new_start=self.window_start,
            end=end,
            window_days=int(self.config.get("window_days", 31)),
            order=self.backfill_order,
            bookmark_valid=bookmark_valid,
        )
        # Requests of windows up to here are backfill (see ExportRequest.backfill).
        self._backfill_until = run.backfill[0].end if run.backfill else None
        return self.with_resumed_parts(run.in_order)

    def with_resumed_parts(self, planned: list[Window]) -> list[Window]:
        """`planned`, each window cut where an earlier run split it (its parts' jobs re-attach)."""
        resumable = self._in_flight_windows()
        if not resumable:
            return planned
        return [part for window in planned for part in resume_parts(window, resumable)]

    def _in_flight_windows(self) -> list[Window]:
        """The windows of the export ids state holds (keys "start/end" or "start/end|...")."""
        windows = []
        for key in self.stream_state.get("in_flight") or {}:
            start, _, end = key.split("|")[0].partition("/")
            try:
                windows.append(Window(parse_datetime(start), parse_datetime(end)))
            except ValueError:
                continue  # "full" and other non-window keys
        return windows

    # ----- the sync ---------------------------------------------------------------------------

    def get_records(self, context: dict | None) -> t.Iterable[dict]:
        engine = self.engine
        requests = engine.exports.requests(self.name)
        if not requests:
            self.logger.info("%s: nothing to export (bookmark is at end_date)", self.name)
            return
        remaining = Counter(self._checkpoint_key(r) for r in requests)
        planned = {r.window.key: r.window for r in requests if r.window is not None}
        key_fields = tuple(self.primary_keys)
        # Keys emitted this run, to drop repeats. A set of 1M activity GUIDs takes ~100 MB; a
        # KeySet keeps dense integer ids as bits (~128 KB), exactly (see keyset.py).
        seen = KeySet()
        parser = CsvRecordParser(self.file_properties(), logger=self.logger)
        started = time.monotonic()
        in_flight: dict[str, str] = self.stream_state.setdefault("in_flight", {})
        self.summary.update(windows_planned=len(remaining))
        events = engine.exports.events(self.name)
        try:
            for event in events:
                if isinstance(event, JobSubmitted):
                    self.on_job_submitted(event)
                elif isinstance(event, ExportReady):
                    ckey, last_part = self._planned_window(event.request, planned)
                    records = self._emit_file(event, parser, key_fields, seen)
                    if self._counts_created(event.request):
                        records = self._count_created(records, ckey, event.request.window)
                    yield from records
                    in_flight.pop(self.state_key(event.request), None)
                    self.summary["bytes"] += event.file_size
                    self._window_bytes[ckey] += event.file_size
                    self._window_rows[ckey] += event.number_of_records
                    if last_part:
                        remaining[ckey] -= 1
                        if remaining[ckey] == 0:
                            self.finish_request(event.request, planned.get(ckey))
                    self.checkpoint()
                    self._log_progress(event, started)
                    if not any(remaining.values()):
                        return  # every file of this stream is emitted: the next stream's turn
                elif isinstance(event, QuotaExhausted):
                    self._on_quota_exhausted(event, in_flight)
                    return
        except CoercionError as exc:
            # One line naming the fix (type_overrides); the bookmark stays before this window.
            engine.close_scheduler()
            raise column_type_error(self, exc) from None
        except MalformedRowError as exc:
            engine.close_scheduler()
            where = getattr(self, "current_export_key", "") or "this run"
            raise ExportFileError(
                f"{self.name}: the export file for {where} cannot be read: {exc}. Nothing of "
                "this window was bookmarked; report the row to Marketo support."
            ) from None
        except BaseException:
            # Error exit (or the consumer stopped early): cancel our jobs no state refers to.
            engine.close_scheduler()
            raise
        finally:
            close = getattr(events, "close", None)
            if close:
                close()
            self._log_summary(time.monotonic() - started)

    def file_properties(self) -> dict[str, dict]:
        """The export file's columns, typed (a stream fed by another's file types them so)."""
        return self.schema["properties"]

    def marketo_data_types(self) -> dict[str, str]:
        """Column -> Marketo dataType as the instance describes it now (streams built from a
        describe override this); used only to word the error of a value that does not fit."""
        return {}

    def _emit_file(
        self,
        ready: ExportReady,
        parser: CsvRecordParser,
        key_fields: tuple[str, ...],
        seen: KeySet,
    ) -> t.Iterator[dict]:
        if ready.path is None:
            ready.release()
            return
        if self._record_writer is not None:
            # The direct path stamps time_extracted per file (and per STATE_MSG_FREQUENCY rows):
            # a file may have waited minutes for its export job.
            self._record_writer.refresh_time()
        self.current_export_key = ready.request.key  # named by a value error
        keep = seen.add  # True the first time a key comes
        emitted = duplicates = 0
        single_key = key_fields[0] if len(key_fields) == 1 else None
        try:
            with open(ready.path, "rb") as file:
                records = parser.parse(file)
                if single_key is not None:
                    # The loop runs once per row of every file: kept to the bare minimum.
                    for record in records:
                        if keep(record.get(single_key)):
                            emitted += 1
                            yield record
                        else:
                            # Boundary and daylight-saving edge cases return a record twice.
                            duplicates += 1
                else:
                    for record in records:
                        if keep(tuple(record.get(k) for k in key_fields)):
                            emitted += 1
                            yield record
                        else:
                            duplicates += 1
        finally:
            ready.release()
        self.summary["records"] += emitted
        self.summary["duplicates_dropped"] += duplicates
        if duplicates:
            self.logger.info(
                "%s: dropped %d duplicate rows in %s", self.name, duplicates, ready.request.key
            )

    def _checkpoint_key(self, request: ExportRequest) -> str:
        return request.window.key if request.window else self.state_key(request)

    def _planned_window(
        self, request: ExportRequest, planned: dict[str, Window]
    ) -> tuple[str, bool]:
        """The planned window a finished request belongs to, and whether it ends that window.

        A window split after repeated failures comes back as parts: only its last part finishes it.
        """
        window = request.window
        if window is None or window.key in planned:
            return self._checkpoint_key(request), True
        for key, whole in planned.items():
            if whole.start <= window.start and window.end <= whole.end:
                return key, window.end == whole.end
        return window.key, True

    def finish_request(self, request: ExportRequest, window: Window | None) -> None:
        """Every file of a planned request (of all its requests sharing a window) is emitted."""
        key = window.key if window is not None else self._checkpoint_key(request)
        nbytes = self._window_bytes.pop(key, 0)
        rows = self._window_rows.pop(key, 0)
        self.engine.exports.window_done(self.name, window, nbytes)
        if window is not None:
            created, max_id = self._created_rows.pop(key, None), self._max_ids.pop(key, None)
            bookmark = emitted_range(self.stream_state)[1]
            new = bookmark is not None and window.end > bookmark
            record_window(self.stream_state, window, nbytes, rows, created, max_id, new=new)
        self.finish_window(window)

    def finish_window(self, window: Window | None) -> None:
        """Every file of this window is emitted: move the bookmark to its end."""
        self.summary["windows"] += 1
        if window is None:
            return
        state = self.stream_state
        if state.get("filter", self.filter_name) != self.filter_name:
            # A bookmark made with another filter: this run exports everything again.
            state.pop("replication_key_value", None)
            state.pop("backfilled_from", None)
        record_finished_window(state, window, self.backfill_order)
        # Everything in the emitted range is done: entries of windows inside it are stale
        # (a window split after repeated failures leaves its original job's entry behind).
        in_flight = state.get("in_flight", {})
        done = {w.key for w in self._in_flight_windows() if is_emitted(state, w)}
        for key in [k for k in in_flight if k.split("|")[0] in done]:
            del in_flight[key]
        state["replication_key"] = self.replication_key
        state["filter"] = self.filter_name

    def checkpoint(self) -> None:
        """Write a STATE message now (the SDK would only write one at the end of the stream)."""
        self.stream_state["quota"] = self.engine.quota.to_state()
        self.state_manager.is_flushed = False
        self._write_state_message()

    def _on_quota_exhausted(self, event: QuotaExhausted, in_flight: dict[str, str]) -> None:
        for request in event.pending:
            if request.resume_export_id:
                in_flight[self.state_key(request)] = request.resume_export_id
        self.checkpoint()
        self.logger.warning(
            "%s: %s. Stopped creating export jobs; the state written lets the next run resume "
            "exactly here. Marketo's export quota resets at midnight US Central: %s",
            self.name,
            event.message,
            self.engine.exports.quota_stop_text(),
        )
        if self.config.get("on_quota_exhausted", "stop") == "fail":
            raise QuotaExceededError("1029", event.message, f"stream {self.name}")

    def _log_progress(self, ready: ExportReady, started: float) -> None:
        elapsed = time.monotonic() - started
        self.logger.info(
            "%s: %s done, %d records so far (%.0f/s), %s",
            self.name,
            ready.request.key,
            self.summary["records"],
            self.summary["records"] / elapsed if elapsed > 0 else 0.0,
            self.engine.exports.progress(self.name),
        )

    def _log_summary(self, seconds: float) -> None:
        s = self.summary
        rate = s["records"] / seconds if seconds > 0 else 0.0
        self.logger.info(
            "%s summary: %d records (%.0f/s), %d windows, %d jobs, %.2f MB exported, "
            "%d duplicates dropped; quota used today %.2f MB",
            self.name,
            s["records"],
            rate,
            s["windows"],
            s["jobs"],
            s["bytes"] / 1e6,
            s["duplicates_dropped"],
            self.engine.quota.to_state()["bytes"] / 1e6,
        )


def raise_no_updated_at(stream: str, setting: str) -> t.NoReturn:
    raise ExportJobError(
        "1035",
        f"this Marketo subscription does not support the updatedAt filter; set {setting} to "
        "createdAt (or auto) to export by creation date",
        f"stream {stream}",
    )
