"""Merge Leads (type 32) activities: the attributes Marketo logs on them, and merged_leads' truth.

Attribute names: Adobe Experience Platform, Marketo field mappings
(experience-platform sources/connectors/adobe-applications/mapping/marketo.md, activities):
`attributes.Merge IDs` (JSON text: the mapping reads it with json_to_object),
`attributes.Master Updated`, `attributes.Merged in Sales`, `attributes.Merge Source`, for
activityTypeId 32. The mapping gives no example values: ours are a merge by API (no CRM merge)
that updated the winner's record.
"""

from __future__ import annotations

import json
from typing import Any

from .tables import ActivityTable
from .timeutil import iso

MERGE_LEADS_TYPE_ID = 32
MERGE_IDS = "Merge IDs"
MERGE_SOURCE = "Merge Source"
MASTER_UPDATED = "Master Updated"
MERGED_IN_SALES = "Merged in Sales"
MAX_VARIANTS = 65_535  # variant_index is an array of unsigned shorts


def merge_attributes(loser: int) -> dict[str, Any]:
    return {MERGE_IDS: json.dumps([loser]), MERGE_SOURCE: "Web service API",
            MASTER_UPDATED: True, MERGED_IN_SALES: False}


def name_generated_merges(table: ActivityTable, first_pos: int, next_lead_id: int) -> int:
    """Generated Merge Leads activities from `first_pos` on (drawn among the other types) name
    the lead merged away then: a fresh id, never in the lead database (it left it at the merge).
    Returns the next unused lead id."""
    entries = table.variants.get(MERGE_LEADS_TYPE_ID)
    if entries is None:
        return next_lead_id
    for pos in range(first_pos, len(table)):
        if table.type_ids[pos] == MERGE_LEADS_TYPE_ID and len(entries) < MAX_VARIANTS:
            entries.append((None, None, merge_attributes(next_lead_id)))
            table.variant_index[pos] = len(entries) - 1
            next_lead_id += 1
    return next_lead_id


def merge_ids(value: Any) -> list[int]:
    """The lead ids in a Merge IDs attribute: JSON text such as "[12,34]" (or a list)."""
    if isinstance(value, str):
        value = json.loads(value)
    return [int(v) for v in (value if isinstance(value, list) else [value])]


def merged_lead_rows(table: ActivityTable) -> list[dict[str, Any]]:
    """One row per lead merged away, from the Merge Leads activities that name it: {leadId
    (the winner), mergedLeadId, mergedAt}, by mergedLeadId."""
    rows: dict[int, dict[str, Any]] = {}
    for pos, type_id in enumerate(table.type_ids):
        if type_id != MERGE_LEADS_TYPE_ID:
            continue
        attributes = table.variants[type_id][table.variant_index[pos]][2] or {}
        if MERGE_IDS not in attributes:
            continue  # beyond MAX_VARIANTS: names no lead (the tap warns about such activities)
        for merged in merge_ids(attributes[MERGE_IDS]):
            rows[merged] = {"leadId": table.lead_ids[pos], "mergedLeadId": merged,
                            "mergedAt": iso(table.dates[pos])}
    return [rows[key] for key in sorted(rows)]
