"""The `activities` stream: every activity, by createdAt (activityDate) windows, a job a window."""

from __future__ import annotations

import typing as t
from datetime import datetime

from tap_marketo_bulk.errors import ConfigError
from tap_marketo_bulk.export.backfill import OLDEST_FIRST
from tap_marketo_bulk.export.rest_sample import sample_rows_or_none
from tap_marketo_bulk.export.scheduler import ExportRequest
from tap_marketo_bulk.export.windows import Window
from tap_marketo_bulk.records.schema import json_schema_for
from tap_marketo_bulk.streams.bulk import BulkExportStream

DELETE_LEAD = 37  # not available in bulk (use the deleted_leads stream)

# The columns a bulk activity file can hold (Marketo's Bulk Activity Extract reference), typed.
# `attributes` holds the type-specific values as a JSON object; its keys come from types.json.
ACTIVITY_COLUMNS: dict[str, dict] = {
    "marketoGUID": {"type": ["string"]},
    "leadId": {"type": ["integer", "null"]},
    "activityDate": {"type": ["string", "null"], "format": "date-time"},
    "activityTypeId": {"type": ["integer", "null"]},
    "campaignId": {"type": ["integer", "null"]},
    "primaryAttributeValueId": {"type": ["integer", "null"]},
    "primaryAttributeValue": {"type": ["string", "null"]},
    "attributes": {"type": ["object", "null"]},
    "actionResult": {"type": ["string", "null"]},
}


def activities_schema(activity_types: list[dict]) -> dict:
    """The activities schema; `attributes` lists every attribute the instance's types report."""
    attribute_props: dict[str, dict] = {}
    for activity_type in activity_types:
        for attribute in activity_type.get("attributes") or []:
            prop = json_schema_for(str(attribute.get("dataType", "string"))) or {
                "type": ["string", "null"]
            }
            existing = attribute_props.get(attribute["name"])
            # One name can carry different types across activity types: then accept any.
            attribute_props[attribute["name"]] = prop if existing in (None, prop) else {}
    properties = {name: dict(schema) for name, schema in ACTIVITY_COLUMNS.items()}
    properties["attributes"] = {
        "type": ["object", "null"],
        "properties": attribute_props,
        "additionalProperties": True,
    }
    return {"type": "object", "properties": properties}


class ActivitiesStream(BulkExportStream):
    name = "activities"
    object_path = "activities"
    primary_keys: t.ClassVar[list[str]] = ["marketoGUID"]
    replication_key = "activityDate"
    filter_name = "createdAt"
    # Activities per window left, sampled over REST; None once Marketo refused the sample.
    _sampled_rows: dict[str, float] | None

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._sampled_rows = {}

    def activity_type_ids(self) -> list[int]:
        configured = self.config.get("activity_type_ids")
        if configured:
            ids = [int(i) for i in configured]
            if DELETE_LEAD in ids:
                raise ConfigError(
                    "activity_type_ids: 37 (Delete Lead) is not available in bulk; "
                    "use the deleted_leads stream"
                )
            return ids
        return [
            int(activity_type["id"])
            for activity_type in self.engine.activity_types()
            if int(activity_type["id"]) != DELETE_LEAD
        ]

    def forecast_bytes(self, windows: t.Sequence[Window]) -> float | None:
        """Activities come in bursts: the windows left are sampled over REST (once per run)
        and weighed at the bytes per row so far (export/rest_sample.py). A single window (a
        daily run) goes by bytes per day: no calls where the forecast says "ends today"."""
        if len(windows) < 2:
            return None
        sampled = self._sampled(windows)
        if sampled is None:
            return None
        return self.exported().bytes_of_rows(sum(sampled[w.key] for w in windows))

    def _estimated_bytes(self, window: Window | None) -> float | None:
        """A backfill window's job is weighed against today's quota by its sample, if any."""
        rows = (self._sampled_rows or {}).get(window.key) if window is not None else None
        estimate = None if rows is None else self.exported().bytes_of_rows(rows)
        return super()._estimated_bytes(window) if estimate is None else estimate

    def _sampled(self, windows: t.Sequence[Window]) -> dict[str, float] | None:
        """Activities per window (by key), every one of `windows` sampled; None: refused."""
        sampled_rows = self._sampled_rows
        if sampled_rows is None:
            return None
        missing = [w for w in windows if w.key not in sampled_rows]
        if missing:
            sampled = sample_rows_or_none(
                self.engine.client, missing, self.activity_type_ids(), self.logger
            )
            if sampled is None:
                self._sampled_rows = None  # refused: bytes per day for the rest of the run
                return None
            sampled_rows.update(sampled)
        return sampled_rows

    def plan_requests(self, end: datetime) -> list[ExportRequest]:
        fields = self.selected_columns(always=("marketoGUID", "activityDate"))
        type_ids = self.activity_type_ids()

        def body_for(window: Window) -> dict:
            # All types in one job per window: one job per type would multiply jobs and quota calls.
            return {
                "fields": fields,
                "format": "CSV",
                "filter": {"createdAt": window.as_filter(), "activityTypeIds": type_ids},
            }

        windows = self.plan_windows(end)
        paced = [w for w in windows if self.is_paced(w)]
        if self.backfill_order == OLDEST_FIRST and len(windows) < 2:
            paced = []  # a daily run's one window: by bytes per day, no sample calls
        if paced and self.exported().rows:
            # Each paced job is weighed against today's quota (by its sample) before it is created.
            self._sampled(paced)
        return self.window_requests(windows, body_for)
