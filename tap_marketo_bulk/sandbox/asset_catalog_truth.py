"""Ground truth of the asset catalogue and the usage log: what a correct tap emits."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .timeutil import iso, parse_utc

# Asset datetimes (`...Z+0000`) a tap normalises to RFC 3339, per table.
ASSET_DATETIMES: dict[str, tuple[str, ...]] = {
    "forms": ("createdAt", "updatedAt"),
    "landing_pages": ("createdAt", "updatedAt"),
    "email_templates": ("createdAt", "updatedAt"),
    "snippets": ("createdAt", "updatedAt"),
    "files": ("createdAt", "updatedAt"),
    "smart_lists": ("createdAt", "updatedAt"),
    "smart_campaigns": ("createdAt", "updatedAt"),
    "channels": ("createdAt", "updatedAt"),
}


def rfc3339(value: str | None) -> str | None:
    """`2017-09-25T21:51:20Z+0000` as `2017-09-25T21:51:20Z`."""
    return None if value is None else iso(parse_utc(value.removesuffix("+0000")))


def _normalised(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = copy.deepcopy(rows)
    for row in rows:
        for key in keys:
            row[key] = rfc3339(row.get(key))
        recurrence = row.get("recurrence")
        if recurrence:
            recurrence["startAt"] = rfc3339(recurrence.get("startAt"))
            recurrence["endAt"] = rfc3339(recurrence.get("endAt"))
    return rows


class AssetCatalogTruth:
    """Mixed into GroundTruth (which provides `_data` and `_cached`)."""

    _data: Any
    _cached: Callable[[str, Callable[[], Any]], Any]

    def _table(self, name: str) -> list[dict[str, Any]]:
        return self._cached(
            name, lambda: _normalised(getattr(self._data, name), ASSET_DATETIMES[name])
        )

    forms = property(lambda self: self._table("forms"))
    landing_pages = property(lambda self: self._table("landing_pages"))
    email_templates = property(lambda self: self._table("email_templates"))
    snippets = property(lambda self: self._table("snippets"))
    files = property(lambda self: self._table("files"))
    smart_lists = property(lambda self: self._table("smart_lists"))
    smart_campaigns = property(lambda self: self._table("smart_campaigns"))
    channels = property(lambda self: self._table("channels"))

    @property
    def form_fields(self) -> list[dict[str, Any]]:
        """One row per (formId, id): the field as form/{id}/fields.json returns it, plus formId."""
        return self._cached(
            "form_fields",
            lambda: [
                {"formId": form_id, **copy.deepcopy(field)}
                for form_id, fields in self._data.form_fields.items()
                if form_id not in self._data.missing_forms
                for field in fields
            ],
        )

    @property
    def tag_types(self) -> list[dict[str, Any]]:
        return self._cached("tag_types", lambda: copy.deepcopy(self._data.tag_types))

    @property
    def program_tags(self) -> list[dict[str, Any]]:
        """One row per (programId, tagType): {programId, tagType, tagValue}."""
        return self._cached(
            "program_tags",
            lambda: [
                {"programId": program_id, **tag}
                for program_id, details in self._data.program_details.items()
                if program_id not in self._data.missing_programs
                for tag in details["tags"] or []
            ],
        )

    @property
    def program_costs(self) -> list[dict[str, Any]]:
        """One row per cost: {programId, seq (its place in the program's costs), startDate
        (RFC 3339), cost, note}."""
        return self._cached(
            "program_costs",
            lambda: [
                {"programId": program_id, "seq": seq, **cost,
                 "startDate": rfc3339(cost["startDate"])}
                for program_id, details in self._data.program_details.items()
                if program_id not in self._data.missing_programs
                for seq, cost in enumerate(details["costs"] or [])
            ],
        )

    @property
    def api_usage(self) -> list[dict[str, Any]]:
        """{date, userId, count} per user and day that last7days.json answers now (today
        partial), by date then userId. Changes with Sandbox.advance_days, not with data."""
        return self._data.usage.rows()


def catalog_counts(data: Any) -> dict[str, int]:
    """Row counts of the tables above (GroundTruth.counts adds them)."""
    counts = {name: len(getattr(data, name)) for name in ASSET_DATETIMES}
    counts["form_fields"] = sum(
        len(f) for i, f in data.form_fields.items() if i not in data.missing_forms)
    counts["tag_types"] = len(data.tag_types)
    counts["folders"] = len(data.folders)  # a tap asks every depth (folders.json maxDepth)
    details = [d for i, d in data.program_details.items() if i not in data.missing_programs]
    counts["program_tags"] = sum(len(d["tags"] or []) for d in details)
    counts["program_costs"] = sum(len(d["costs"] or []) for d in details)
    counts["api_usage"] = len(data.usage.rows())
    return counts
