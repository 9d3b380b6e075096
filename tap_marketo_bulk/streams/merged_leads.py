"""`merged_leads`: which lead each merged-away lead now lives in, from Merge Leads activities.

Marketo logs a Merge Leads activity (type 32) on the winner, naming the merged leads in its
"Merge IDs" attribute (Adobe Experience Platform, Marketo field mappings: `attributes.Merge IDs`,
read as JSON). Get Lead Activities (`/rest/v1/activities.json?activityTypeIds=32`, from a paging
token for the bookmark) returns them over REST: a few calls a day, no bulk export job, and it works
whether or not `activities` is selected. One row per merged id; incremental on mergedAt.
"""

from __future__ import annotations

import json
import typing as t

from singer_sdk import typing as th

from tap_marketo_bulk.streams.rest import ActivityLogStream

MERGE_LEADS = 32
MERGE_IDS = "merge ids"  # attribute names compared case-blind: "Merge IDs" / "Merge ids"


def merged_ids(value: t.Any) -> list[int] | None:
    """Lead ids of a Merge IDs value: JSON text ("[12,34]"), a list, a number or "12,34"; None
    when it names no lead id."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text)
        except ValueError:
            value = [part for part in text.strip("[]").split(",") if part.strip()]
    items = value if isinstance(value, list) else [value]
    try:
        ids = [int(item) for item in items]
    except (TypeError, ValueError):
        return None
    return ids or None


class MergedLeadsStream(ActivityLogStream):
    """One row per merged-away lead: `leadId` (the winner), `mergedLeadId`, `mergedAt`."""

    name = "merged_leads"
    path = "/rest/v1/activities.json"  # Get Lead Activities, filtered to Merge Leads
    primary_keys: t.ClassVar[list[str]] = ["mergedLeadId"]
    replication_key = "mergedAt"
    schema_dict = th.PropertiesList(
        th.Property("leadId", th.IntegerType),
        th.Property("mergedLeadId", th.IntegerType, required=True),
        th.Property("mergedAt", th.DateTimeType),
    ).to_dict()

    def request_params(self, context: dict | None) -> dict:
        return {"activityTypeIds": str(MERGE_LEADS)}

    def get_records(self, context: dict | None) -> t.Iterable[dict]:
        unnamed: list[t.Any] = []
        for activity in self.new_activities(context):
            attributes = {
                str(a.get("name", "")).lower(): a.get("value")
                for a in activity.get("attributes") or []
            }
            ids = merged_ids(attributes.get(MERGE_IDS))
            if ids is None:
                unnamed.append(activity.get("id"))
                continue
            for merged in ids:
                yield {"leadId": activity.get("leadId"), "mergedLeadId": merged,
                       "mergedAt": activity.get("activityDate")}
        if unnamed:
            self.logger.warning(
                "merged_leads: %d Merge Leads activities name no merged lead id (no 'Merge IDs'"
                " attribute), e.g. activity %s; skipped",
                len(unnamed),
                unnamed[0],
            )
