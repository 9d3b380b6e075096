"""Small REST reference streams: activity_types, programs, deleted_leads."""

from __future__ import annotations

import re
import typing as t

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.streams import Stream

from tap_marketo_bulk.export.windows import format_datetime, parse_datetime

if t.TYPE_CHECKING:
    from tap_marketo_bulk.engine import MarketoEngine

ASSET_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})Z?([+-]\d{4})?$")

_ATTRIBUTE = th.ObjectType(
    th.Property("name", th.StringType), th.Property("dataType", th.StringType)
)


def normalize_asset_timestamp(value: str | None) -> str | None:
    """Asset API timestamps look like `2010-03-27T18:27:45Z+0000`: make them RFC 3339 UTC."""
    if not value:
        return None
    match = ASSET_TIMESTAMP.match(value)
    if match and match.group(2):
        offset = match.group(2)
        return format_datetime(parse_datetime(f"{match.group(1)}{offset[:3]}:{offset[3:]}"))
    return format_datetime(parse_datetime(value))


class ReferenceStream(Stream):
    """A stream read from one paged REST endpoint through the run's shared MarketoClient."""

    def __init__(self, tap: Tap, engine: MarketoEngine) -> None:
        super().__init__(tap, schema=self.schema_dict)
        self.engine = engine  # client, describes, first_record_date (see engine.py)

    schema_dict: t.ClassVar[dict]


class ActivityTypesStream(ReferenceStream):
    name = "activity_types"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema_dict = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("name", th.StringType),
        th.Property("apiName", th.StringType),
        th.Property("description", th.StringType),
        th.Property("primaryAttribute", _ATTRIBUTE),
        th.Property("attributes", th.ArrayType(_ATTRIBUTE)),
    ).to_dict()

    def get_records(self, context: dict | None) -> t.Iterable[dict]:
        yield from self.engine.activity_types()


class ProgramsStream(ReferenceStream):
    name = "programs"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema_dict = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("name", th.StringType),
        th.Property("description", th.StringType),
        th.Property("createdAt", th.DateTimeType),
        th.Property("updatedAt", th.DateTimeType),
        th.Property("url", th.StringType),
        th.Property("type", th.StringType),
        th.Property("channel", th.StringType),
        th.Property("folder", th.ObjectType(additional_properties=True)),
        th.Property("status", th.StringType),
        th.Property("workspace", th.StringType),
    ).to_dict()

    def get_records(self, context: dict | None) -> t.Iterable[dict]:
        properties = self.schema["properties"]
        for program in self.engine.programs():
            record = {key: program.get(key) for key in properties}
            record["createdAt"] = normalize_asset_timestamp(program.get("createdAt"))
            record["updatedAt"] = normalize_asset_timestamp(program.get("updatedAt"))
            yield record


class DeletedLeadsStream(ReferenceStream):
    name = "deleted_leads"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = "activityDate"
    schema_dict = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("marketoGUID", th.StringType),
        th.Property("leadId", th.IntegerType),
        th.Property("activityDate", th.DateTimeType),
        th.Property("activityTypeId", th.IntegerType),
        th.Property("primaryAttributeValueId", th.IntegerType),
        th.Property("primaryAttributeValue", th.StringType),
        th.Property(
            "attributes",
            th.ArrayType(
                th.ObjectType(
                    th.Property("name", th.StringType), th.Property("value", th.AnyType())
                )
            ),
        ),
    ).to_dict()

    def get_records(self, context: dict | None) -> t.Iterable[dict]:
        client = self.engine.client
        bookmark = self.get_starting_replication_key_value(context)
        # sinceDatetime is inclusive: the deletions at the bookmark's second were emitted last run.
        already = set(self.stream_state.get("ids_at_bookmark") or []) if bookmark else set()
        since = bookmark or format_datetime(self.engine.first_record_date)
        token = client.get(
            "/rest/v1/activities/pagingtoken.json",
            params={"sinceDatetime": format_datetime(parse_datetime(since))},
        )["nextPageToken"]
        properties = self.schema["properties"]
        latest, ids_at_latest = bookmark, set(already)
        while True:
            page = client.get(
                "/rest/v1/activities/deletedleads.json",
                params={"nextPageToken": token, "batchSize": 300},
            )
            for activity in page.get("result") or []:
                when = activity.get("activityDate")
                if when == bookmark and activity.get("id") in already:
                    continue
                if latest is None or (when and when > latest):
                    latest, ids_at_latest = when, set()
                if when == latest:
                    ids_at_latest.add(activity.get("id"))
                yield {key: activity[key] for key in properties if key in activity}
            token = page.get("nextPageToken", token)
            # Pages can hold fewer than batchSize while more remain: only moreResult ends it.
            if not page.get("moreResult"):
                break
        self.stream_state["ids_at_bookmark"] = sorted(ids_at_latest)
