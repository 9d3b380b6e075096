"""The `leads` stream: every lead, by updatedAt (or createdAt) windows, or one list's members."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta

from tap_marketo_bulk.errors import QuotaExceededError, UnsupportedFilterError
from tap_marketo_bulk.export.backfill import emitted_range
from tap_marketo_bulk.export.jobs import ExportJob
from tap_marketo_bulk.export.rest_sample import live_lead_share_or_none
from tap_marketo_bulk.export.scheduler import ExportRequest
from tap_marketo_bulk.export.windows import Window
from tap_marketo_bulk.streams.bulk import BulkExportStream, raise_no_updated_at

if t.TYPE_CHECKING:
    from tap_marketo_bulk.engine import MarketoEngine


class LeadsStream(BulkExportStream):
    name = "leads"
    object_path = "leads"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = "updatedAt"
    counts_max_id = True

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._filter: str | None = None
        self._live_share: float | bool | None = False  # False: not sampled yet this run

    def forecast_bytes(self, windows: t.Sequence[Window]) -> float | None:
        """During a newest-first backfill: the highest lead id of the newest window times the
        share of ids still live (one REST call a run, export/rest_sample.py), less the rows
        exported; else as any updatedAt stream."""
        exported = self.exported()
        reached, bookmark = emitted_range(self.stream_state)
        backfilling = reached is not None and reached > self.engine.first_record_date
        if self.filter_name == "updatedAt" and backfilling and exported.max_id:
            if self._live_share is False:
                self._live_share = live_lead_share_or_none(
                    self.engine.client, exported.max_id, self.logger
                )
            if isinstance(self._live_share, float) and reached and bookmark is not None:
                older = exported.bytes_by_live_ids(self._live_share)
                if older is not None:
                    return self._backfill_and_new(older, windows, reached, bookmark)
        return super().forecast_bytes(windows)

    @property
    def list_filter(self) -> dict | None:
        """The static/smart list filter when the tap exports one list instead of date windows."""
        for setting, kind in (
            ("leads_static_list", "staticList"),
            ("leads_smart_list", "smartList"),
        ):
            value = self.config.get(setting)
            if value:
                value = str(value)
                return {f"{kind}Id": int(value)} if value.isdigit() else {f"{kind}Name": value}
        return None

    @property
    def filter_name(self) -> str:  # type: ignore[override]
        if self._filter is None:
            self._filter = self._choose_filter()
        return self._filter

    def fields(self) -> list[str]:
        return self.selected_columns(always=("id", "updatedAt"))

    def marketo_data_types(self) -> dict[str, str]:
        return self.engine.lead_data_types()

    def plan_requests(self, end: datetime) -> list[ExportRequest]:
        list_filter = self.list_filter
        if list_filter is not None:
            if {"smartListId", "smartListName"} & list_filter.keys():
                self._check_smart_lists(list_filter)
            # A list's membership has no dates: the whole list, every run.
            return [
                self.request_for(
                    {"fields": self.fields(), "format": "CSV", "filter": list_filter}, None
                )
            ]
        fields = self.fields()
        filter_name = self.filter_name

        def body_for(window: Window) -> dict:
            return {"fields": fields, "format": "CSV", "filter": {filter_name: window.as_filter()}}

        return self.window_requests(self.plan_windows(end), body_for)

    def _check_smart_lists(self, list_filter: dict) -> None:
        supported = probe_filter(
            self.engine,
            "leads",
            {"fields": ["id"], "format": "CSV"},
            lambda _window: list_filter,
            self.logger,
        )
        if supported is False:
            raise UnsupportedFilterError(
                "1035",
                "this Marketo subscription does not support smart list exports; use "
                "leads_static_list, or ask Marketo Support to enable smart list filters",
                "stream leads (setting leads_smart_list)",
            )

    def _choose_filter(self) -> str:
        setting = self.config.get("leads_filter", "auto")
        if setting == "createdAt":
            return "createdAt"
        supported = probe_filter(
            self.engine,
            "leads",
            {"fields": ["id"], "format": "CSV"},
            lambda window: {"updatedAt": window.as_filter()},
            self.logger,
        )
        if supported is None:
            # The quota is spent: no job runs today; keep the filter the bookmark was made with.
            return str(self.stream_state.get("filter") or "updatedAt")
        if supported:
            return "updatedAt"
        if setting == "updatedAt":
            raise_no_updated_at(self.name, "leads_filter")
        self.logger.warning(
            "leads: this Marketo subscription does not support the updatedAt filter (1035); "
            "exporting by createdAt windows instead. Updates to leads created before the bookmark "
            "will be missed: schedule a periodic full refresh (clear the leads state) "
            "to catch them."
        )
        return "createdAt"


def probe_filter(
    engine: MarketoEngine,
    object_path: str,
    base_body: dict,
    filter_for: t.Callable[[Window], dict],
    logger: t.Any,
) -> bool | None:
    """Does the instance accept this filter? Creates a one-second job and cancels it at once.

    Created jobs cost no quota and no queue slot. The create goes through ExportJob, which
    reconciles instead of re-sending after an ambiguous answer. None: no telling today (the
    daily export quota is spent, so no job will be created anyway).
    """
    if engine.quota.exhausted:
        return None
    now = engine.end_date.replace(microsecond=0)
    window = Window(now - timedelta(seconds=1), now)
    body = {**base_body, "filter": {**base_body.get("filter", {}), **filter_for(window)}}
    job = ExportJob(
        engine.client,
        object_path,
        body,
        label=f"{object_path} filter check",
        logger=logger,
        known_export_ids=engine.in_flight_export_ids,
    )
    try:
        job.create()
    except UnsupportedFilterError:
        return False
    except QuotaExceededError as exc:
        engine.quota.mark_exhausted(f"Marketo: {exc.message}")
        return None
    job.cancel_quietly()
    return True
