"""The `program_members` stream: the members of every program, 10 programs per job.

A first sync exports every program in full (no date filter: one job per 10 programs instead of one
per window and 10 programs); later runs take updatedAt windows from the time those exports
started, and export in full once each program new to the export. A reconcile (reconcile.py; the
first sync is one) is such a full export under a new table version: removed members are then
marked deleted by the loader.
"""

from __future__ import annotations

import typing as t
from datetime import datetime

from tap_marketo_bulk.export.scheduler import ExportRequest
from tap_marketo_bulk.export.windows import Window, format_datetime, parse_datetime
from tap_marketo_bulk.streams.bulk import ONE_SECOND
from tap_marketo_bulk.streams.leads import probe_filter
from tap_marketo_bulk.streams.reconcile import ReconcilingStream

MAX_PROGRAMS_PER_JOB = 10  # Marketo's limit on the programIds filter


def batched(ids: list[int], size: int = MAX_PROGRAMS_PER_JOB) -> list[list[int]]:
    """Program ids in batches of at most `size`, order kept, duplicates dropped."""
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + size] for i in range(0, len(unique), size)]


class ProgramMembersStream(ReconcilingStream):
    name = "program_members"
    object_path = "program/members"
    primary_keys: t.ClassVar[list[str]] = ["leadId", "programId"]
    replication_key = "updatedAt"

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._incremental: bool | None = None

    @property
    def filter_name(self) -> str:  # type: ignore[override]
        return "updatedAt"

    def program_ids(self) -> list[int]:
        configured = self.config.get("program_ids")
        if configured:
            return [int(i) for i in configured]
        return [int(program["id"]) for program in self.engine.programs()]

    def marketo_data_types(self) -> dict[str, str]:
        return self.engine.program_member_data_types()

    def state_key(self, request: ExportRequest) -> str:
        programs = ",".join(str(i) for i in request.body["filter"]["programIds"])
        window = request.window.key if request.window else "all"
        return f"{window}|{programs}"

    def incremental(self, first_program: int) -> bool:
        """Probe once per run whether the updatedAt filter is available (1035 when it is not)."""
        if self._incremental is None:
            supported = probe_filter(
                self.engine,
                self.object_path,
                {"fields": ["leadId"], "format": "CSV", "filter": {"programId": first_program}},
                lambda window: {"updatedAt": window.as_filter()},
                self.logger,
            )
            # None (quota spent, no job runs today): keep windows, the bookmark stays valid.
            self._incremental = supported is not False
            if not self._incremental:
                self.logger.warning(
                    "program_members: this Marketo subscription does not support the updatedAt "
                    "filter (1035); exporting every member of every program in full on each run."
                )
        return self._incremental

    def _reconcile_reason(self) -> str | None:
        reason = super()._reconcile_reason()
        if reason is None and self.stream_state.get("replication_key_value"):
            programs = self.program_ids()
            if programs and not self.incremental(programs[0]):
                # No updatedAt filter: every run exports every member, so each is a reconcile.
                return "every run exports every member (no updatedAt filter)"
        return reason

    def reconcile_costs_nothing_extra(self) -> bool:
        return super().reconcile_costs_nothing_extra() or self._incremental is False

    def plan_requests(self, end: datetime) -> list[ExportRequest]:
        programs = list(dict.fromkeys(self.program_ids()))
        if not programs:
            self.logger.info("program_members: no programs to export")
            return self.count_reconcile_requests([])
        # With programIds, Marketo puts a programId column first by itself: don't ask twice.
        fields = [name for name in self.selected_columns(always=("leadId",)) if name != "programId"]

        def full_requests(ids: list[int]) -> list[ExportRequest]:
            return [
                self.request_for(
                    {"fields": fields, "format": "CSV", "filter": {"programIds": batch}}, None
                )
                for batch in batched(ids)
            ]

        state = self.stream_state
        reconcile = self.reconcile
        if reconcile is not None:
            # A reconcile (a first sync too): every program in full, no date filter, one job per
            # 10 programs. The reconcile keeps which programs are done, so a crash between them
            # resumes with the rest only; the bookmark becomes the time it started.
            done = set(reconcile.setdefault("programs", []))
            return self.count_reconcile_requests(
                full_requests([p for p in programs if p not in done])
            )
        if not self.incremental(programs[0]):
            return full_requests(programs)
        if "full_export" not in state:
            # A bookmark from before full exports were recorded: its windows covered these.
            state["full_export"] = {"programs": sorted(programs)}
        done = set(state["full_export"].setdefault("programs", []))
        new = [p for p in programs if p not in done]
        if new:
            self.logger.info(
                "program_members: %d programs new to the export, exported in full once: %s",
                len(new),
                ", ".join(map(str, new)),
            )

        def body_for(batch: list[int]) -> t.Callable[[Window], dict]:
            def build(window: Window) -> dict:
                return {
                    "fields": fields,
                    "format": "CSV",
                    "filter": {"programIds": batch, "updatedAt": window.as_filter()},
                }

            return build

        # Window by window; within a window every batch, so a window's bookmark moves only once
        # all its batches are emitted.
        requests = full_requests(new)
        builders = [body_for(batch) for batch in batched([p for p in programs if p in done])]
        for window in self.plan_windows(end):
            requests.extend(self.request_for(build(window), window, build) for build in builders)
        return requests

    def finish_request(self, request: ExportRequest, window: Window | None) -> None:
        super().finish_request(request, window)
        if request.window is not None:
            return
        reconcile = self.reconcile
        full = self.stream_state.setdefault("full_export", {})
        done = (reconcile if reconcile is not None else full).setdefault("programs", [])
        done.extend(p for p in request.body["filter"]["programIds"] if p not in done)
        done.sort()

    def finish_reconcile(self, reconcile: dict) -> None:
        """Every program is exported in full: later runs take updatedAt windows from the time
        the reconcile started."""
        self.stream_state["full_export"] = {
            "started_at": reconcile["started_at"],
            "programs": sorted(reconcile.get("programs", [])),
        }
        self._set_bookmark(reconcile["started_at"])

    def _set_bookmark(self, started_at: str) -> None:
        state = self.stream_state
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = format_datetime(parse_datetime(started_at) - ONE_SECOND)
        state["filter"] = self.filter_name
