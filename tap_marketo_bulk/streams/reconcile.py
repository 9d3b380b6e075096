"""ReconcilingStream: a bulk stream whose rows can vanish, re-exported in full now and then.

Date windows never show a removal (a member removed from a program, a deleted custom object
record). Every RECORD of such a stream carries the stream's table `version`; a reconcile
re-exports every row under a NEW version and, after its last record, emits ACTIVATE_VERSION: the
loader (target-postgres) then marks every row of an older (or no) version `_sdc_deleted_at`. A
full re-export carries every column of every live row, so no live row is ever blanked; a row
re-emitted under the new version is live again (its `_sdc_deleted_at` is set from the record,
i.e. cleared).

A reconcile runs on the first sync (program_members; a custom object's first sync goes newest
first instead, custom_objects.py), when the last one is at least `reconcile_every_days` old
(UTC calendar days of the runs' end_date), and when state has no version (a state written before
reconciles existed). Its quota cost (the bytes of the last one) is logged before it starts; one
that would not fit in today's `daily_quota_mb` waits for a day it fits (the incremental windows
still run). State keeps a reconcile in progress, so a kill resumes it under the same version.

Stream state keys (beside the bookmark):
    "version": 1733300000            table version of the live rows (every RECORD carries it)
    "reconciled_at": "<datetime>"    end_date of the run that finished the last reconcile
    "reconcile_bytes": 123456        bytes the last reconcile exported: the next one's estimate
    "reconcile": {"version", "started_at", "bytes", ...}   one in progress (subclasses add
                                     their progress: program_members "programs", custom objects
                                     "through")
"""

from __future__ import annotations

import time
import typing as t

from tap_marketo_bulk.export.windows import format_datetime, parse_datetime
from tap_marketo_bulk.streams.bulk import BulkExportStream

if t.TYPE_CHECKING:
    from tap_marketo_bulk.export.scheduler import ExportReady, ExportRequest

MIB = 1024 * 1024
DEFAULT_EVERY_DAYS = 7


def new_version(previous: int | None, now: float | None = None) -> int:
    """A table version above every earlier one: epoch seconds (as the SDK's full-table
    versions), and never at or below the previous version (ACTIVATE_VERSION(v) marks rows of
    versions < v: an equal one would mark nothing)."""
    stamp = int(now if now is not None else time.time())
    return stamp if previous is None else max(stamp, previous + 1)


class ReconcilingStream(BulkExportStream):
    """A bulk stream whose RECORDs carry a table version, reconciled by a full re-export."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._reconciling: bool | None = None  # decided once per run (_decide)
        self._reconcile_windows_left: int | None = None  # planned windows of this run's reconcile

    # ----- what subclasses define -------------------------------------------------------------

    def finish_reconcile(self, reconcile: dict) -> None:
        """Every row is re-exported under the new version: set the bookmark for the next run."""
        raise NotImplementedError

    def reconcile_estimate(self) -> float | None:
        """Export bytes the next reconcile may cost: what the last one exported, if recorded."""
        estimate = self.stream_state.get("reconcile_bytes")
        return None if estimate is None else float(estimate)

    def reconcile_costs_nothing_extra(self) -> bool:
        """This run exports every row anyway (a first sync): no quota check for the reconcile."""
        return not self.stream_state.get("replication_key_value")

    # ----- the decision -----------------------------------------------------------------------

    @property
    def reconcile(self) -> dict | None:
        """The reconcile in progress (state), or None."""
        return self.stream_state.get("reconcile") if self._reconciling_now() else None

    def _reconciling_now(self) -> bool:
        if self._reconciling is None:
            self._reconciling = self._decide()
        return self._reconciling

    def table_version(self) -> int | None:
        """The version this run's RECORDs carry: the reconcile's, else the live rows'."""
        if self._reconciling_now():
            return int(self.stream_state["reconcile"]["version"])
        version = self.stream_state.get("version")
        return int(version) if version is not None else None

    def _decide(self) -> bool:
        state = self.stream_state
        if state.get("reconcile"):
            self.logger.info(
                "%s: resuming the reconcile under table version %s (interrupted earlier)",
                self.name,
                state["reconcile"]["version"],
            )
            return True
        reason = self._reconcile_reason()
        if reason is None:
            return False
        estimate = self.reconcile_estimate()
        remaining = self.engine.quota.remaining
        cost = "unknown (none recorded)" if estimate is None else f"{estimate / MIB:.1f} MiB"
        left = "no daily_quota_mb" if remaining is None else f"{remaining / MIB:.1f} MiB left today"
        fits = estimate is None or remaining is None or estimate <= remaining
        if not self.reconcile_costs_nothing_extra() and not fits:
            self.logger.warning(
                "%s: reconcile due (%s) but its estimated export quota cost %s does not fit "
                "(%s of daily_quota_mb): it waits for a day it fits; removed rows stay live in "
                "the warehouse until then. The incremental windows run.",
                self.name,
                reason,
                cost,
                left,
            )
            return False
        version = new_version(state.get("version"))
        state["reconcile"] = {
            "version": version,
            "started_at": format_datetime(self.engine.end_date),
            "bytes": 0,
        }
        self.logger.info(
            "%s: reconcile (%s): every row exported again under table version %d, then "
            "ACTIVATE_VERSION marks rows Marketo no longer has; estimated export quota cost %s "
            "(%s)",
            self.name,
            reason,
            version,
            cost,
            left,
        )
        return True

    def _reconcile_reason(self) -> str | None:
        state = self.stream_state
        if not state.get("replication_key_value"):
            return "first sync"
        if state.get("version") is None or not state.get("reconciled_at"):
            return "no table version in state yet (state of an earlier tap version)"
        every = int(self.config.get("reconcile_every_days", DEFAULT_EVERY_DAYS))
        last = parse_datetime(state["reconciled_at"])
        age = (self.engine.end_date.date() - last.date()).days
        if age >= every:
            days = "1 day" if age == 1 else f"{age} days"
            return f"the last one, {state['reconciled_at']}, is {days} old"
        return None

    # ----- the sync ---------------------------------------------------------------------------

    def _sync_records(
        self, context: dict | None = None, *, write_messages: bool = True
    ) -> t.Generator[dict, t.Any, t.Any]:
        # Before the record writer is built: it stamps every RECORD with the stream's version.
        self._stream_version = self.table_version()
        yield from super()._sync_records(context, write_messages=write_messages)

    def count_reconcile_requests(self, requests: list[ExportRequest]) -> list[ExportRequest]:
        """Note how many planned windows this run's reconcile has (the last one activates)."""
        if self._reconciling_now():
            self._reconcile_windows_left = len({self._checkpoint_key(r) for r in requests})
            self.logger.info(
                "%s: reconcile: %d export jobs",
                self.name,
                self._reconcile_windows_left,
            )
        return requests

    def get_records(self, context: dict | None) -> t.Iterable[dict]:
        yield from super().get_records(context)
        # Only once every planned window of the reconcile is emitted (not after a quota stop).
        if self._reconciling_now() and self._reconcile_windows_left == 0:
            self._activate()

    def finish_request(self, request: ExportRequest, window: t.Any) -> None:
        super().finish_request(request, window)
        if self._reconcile_windows_left:
            self._reconcile_windows_left -= 1

    def _emit_file(self, ready: ExportReady, *args: t.Any) -> t.Iterator[dict]:
        yield from super()._emit_file(ready, *args)
        reconcile = self.reconcile
        if reconcile is not None:
            reconcile["bytes"] = int(reconcile.get("bytes", 0)) + int(ready.file_size or 0)

    def _activate(self) -> None:
        """Every record of the new version is out: the loader may mark the older rows."""
        state = self.stream_state
        reconcile = state["reconcile"]
        version = int(reconcile["version"])
        if self.config.get("emit_activate_version_messages") is False:
            # Turned off for a loader that can't take it: the versions still go on the records.
            self.logger.info("%s: ACTIVATE_VERSION %d not sent (turned off)", self.name, version)
        else:
            # The direct path's pending records are written before this message (output.py).
            self._write_activate_version_message(version)
        self.finish_reconcile(reconcile)
        del state["reconcile"]
        state["version"] = version
        state["reconciled_at"] = format_datetime(self.engine.end_date)
        state["reconcile_bytes"] = int(reconcile.get("bytes", 0))
        self._reconciling = False
        self.checkpoint()
        self.logger.info(
            "%s: reconcile done: ACTIVATE_VERSION %d (%.1f MiB exported); the loader marks "
            "rows of older versions _sdc_deleted_at",
            self.name,
            version,
            state["reconcile_bytes"] / MIB,
        )
