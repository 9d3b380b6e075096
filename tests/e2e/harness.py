"""Running the tap in-process against a sandbox, and comparing with the sandbox's ground truth."""

from __future__ import annotations

import typing as t
from collections import Counter

from tap_marketo_bulk.sandbox import Sandbox
from tests.unit.tap_runner import TapRun, catalog_with, run_tap

# Stream -> primary key columns, as a loader must see them (tests check them against the catalog).
STREAM_KEYS: dict[str, tuple[str, ...]] = {
    "leads": ("id",),
    "activities": ("marketoGUID",),
    "program_members": ("leadId", "programId"),
    "programs": ("id",),
    "activity_types": ("id",),
    "deleted_leads": ("id",),
    "merged_leads": ("mergedLeadId",),
    # The sandbox's lead-linked custom objects (truth: sb.truth.custom_objects[apiName]).
    "custom_car_c": ("marketoGUID",),
    "custom_course_c": ("marketoGUID",),
    "campaigns": ("id",),
    "lists": ("id",),
    "list_members": ("listId", "leadId"),
    "emails": ("id",),
    "segmentations": ("id",),
    "segments": ("id",),
    "program_tokens": ("programId", "name"),
    "forms": ("id",),
    "form_fields": ("formId", "id"),
    "landing_pages": ("id",),
    "email_templates": ("id",),
    "snippets": ("id",),
    "files": ("id",),
    "folders": ("id", "type"),
    "smart_lists": ("id",),
    "smart_campaigns": ("id",),
    "channels": ("id",),
    "tag_types": ("tagType",),
    "program_tags": ("programId", "tagType"),
    "program_costs": ("programId", "seq"),
    "api_usage": ("date", "userId"),
}

# Stream -> {Marketo field: the column the tap emits it as} where they differ: a `version`
# field is renamed (RestStream.renamed_fields; target-postgres can't ACTIVATE_VERSION a table
# with a `version` column).
EMITTED_AS: dict[str, dict[str, str]] = {
    "emails": {"version": "emailVersion"},
    "email_templates": {"version": "templateVersion"},
}

__all__ = [
    "EMITTED_AS", "TapRun", "as_emitted", "catalog_with", "duplicates", "run_tap", "tap_config",
]


def as_emitted(stream: str, rows: t.Iterable[dict]) -> list[dict]:
    """The sandbox's truth rows with the fields the tap renames under their column names."""
    renamed = EMITTED_AS.get(stream, {})
    return [{renamed.get(k, k): v for k, v in row.items()} for row in rows]


def tap_config(sb: Sandbox, **overrides: t.Any) -> dict:
    """Tap settings for this sandbox: its whole data span, fast polling, no real waiting."""
    config = {
        "client_id": sb.client_id,
        "client_secret": sb.client_secret,
        "base_url": sb.base_url,
        "start_date": sb.config.data_start,
        "end_date": sb.config.data_end,
        "poll_interval_seconds": 0.03,
        "queue_backoff_seconds": 0.05,
        "max_calls_per_20s": 100,
        "request_timeout_seconds": 30,
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


def duplicates(records: list[dict], key: t.Callable[[dict], t.Any]) -> list[t.Any]:
    return [k for k, n in Counter(key(r) for r in records).items() if n > 1]


def by_key(records: list[dict], key: t.Callable[[dict], t.Any]) -> dict[t.Any, dict]:
    return {key(r): r for r in records}
