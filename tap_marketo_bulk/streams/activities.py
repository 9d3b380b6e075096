"""The `activities` stream: every activity, by createdAt (activityDate) windows, a job a window."""

from __future__ import annotations

import typing as t
from datetime import datetime

from tap_marketo_bulk.errors import ConfigError
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

        return self.window_requests(self.plan_windows(end), body_for)
