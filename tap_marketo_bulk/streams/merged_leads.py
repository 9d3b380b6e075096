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

from tap_marketo_bulk.export.windows import format_datetime, parse_datetime
from tap_marketo_bulk.streams.rest import RestStream, read_token_pages

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


class MergedLeadsStream(RestStream):
    """One row per merged-away lead: `leadId` (the winner), `mergedLeadId`, `mergedAt`."""

    name = "merged_leads"
    primary_keys: t.ClassVar[list[str]] = ["mergedLeadId"]
    replication_key = "mergedAt"
    schema_dict = th.PropertiesList(
        th.Property("leadId", th.IntegerType),
        th.Property("mergedLeadId", th.IntegerType, required=True),
        th.Property("mergedAt", th.DateTimeType),
    ).to_dict()

    def get_records(self, context: dict | None) -> t.Iterable[dict]:
        client = self.engine.client
        bookmark = self.get_starting_replication_key_value(context)
        # sinceDatetime is inclusive: activities at the bookmark's second were emitted last run.
        already = set(self.stream_state.get("ids_at_bookmark") or []) if bookmark else set()
        since = bookmark or format_datetime(self.engine.first_record_date)
        token = client.get(
            "/rest/v1/activities/pagingtoken.json",
            params={"sinceDatetime": format_datetime(parse_datetime(since))},
        )["nextPageToken"]
        latest, ids_at_latest = bookmark, set(already)
        unnamed: list[t.Any] = []
        for page in read_token_pages(
            client,
            "/rest/v1/activities.json",
            {"activityTypeIds": str(MERGE_LEADS)},
            first_token=token,
        ):
            for activity in page:
                when = activity.get("activityDate")
                if when == bookmark and activity.get("id") in already:
                    continue
                if latest is None or (when and when > latest):
                    latest, ids_at_latest = when, set()
                if when == latest:
                    ids_at_latest.add(activity.get("id"))
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
                           "mergedAt": when}
        if unnamed:
            self.logger.warning(
                "merged_leads: %d Merge Leads activities name no merged lead id (no 'Merge IDs'"
                " attribute), e.g. activity %s; skipped",
                len(unnamed),
                unnamed[0],
            )
        self.stream_state["ids_at_bookmark"] = sorted(ids_at_latest)
