"""Asset API reference streams (`/rest/asset/v1/...`, offset paging ending with "No assets
found"): programs, emails, segmentations, segments, program tokens.

Shapes: api-notes sections 8 and 11; Adobe's marketo-developer docs, help/rest-api/emails.md
(Browse: `status`, `folder`, `earliestUpdatedAt`/`latestUpdatedAt`, `maxReturn` up to 200,
`offset`), dynamic-content.md (Segmentation: `GET /rest/asset/v1/segmentation.json` and
`GET /rest/asset/v1/segmentation/{id}/segments.json`) and tokens.md (Get Tokens by Folder Id:
`GET /rest/asset/v1/folder/{id}/tokens.json?folderType=Program`, answering
`[{folder: {type, value}, tokens: [{name, type, value, computedUrl}]}]`).
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_marketo_bulk.errors import ResourceGoneError
from tap_marketo_bulk.streams.rest import AssetStream, normalize_asset_timestamp, read_asset_pages

_FOLDER = th.ObjectType(additional_properties=True)
# Email subject, fromName, fromEmail, replyEmail: {"type": "Text", "value": "..."} or
# {"type": "DynamicContent", "value": <segmentation id>}.
_TYPED_VALUE = th.ObjectType(th.Property("type", th.StringType), th.Property("value", th.AnyType()))


class ProgramsStream(AssetStream):
    """Programs. Full table (kept as it was): read once per run through the engine's cached
    describe, which program_members also uses for its program ids."""

    name = "programs"
    path = "/rest/asset/v1/programs.json"
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
        th.Property("folder", _FOLDER),
        th.Property("status", th.StringType),
        th.Property("workspace", th.StringType),
        # browse gives these too (swagger-asset.json BrowseAllPrograms; programs.md examples);
        # tags and costs only by id: program_tags, program_costs (program_details.py)
        th.Property("sfdcId", th.StringType),
        th.Property("sfdcName", th.StringType),
        th.Property("headStart", th.BooleanType),
    ).to_dict()

    def pages(self, context: dict | None) -> t.Iterator[list[dict]]:
        yield self.engine.programs()


class EmailsStream(AssetStream):
    """Email assets. Full table, so a deleted email reaches the loader: Marketo keeps no record
    of deleted emails (no deleted-asset endpoint, no activity), and the `earliestUpdatedAt`
    filter only ever shows emails that still exist. Emails are few (a few thousand at most: one
    call per 200), so each run reads them all and ends with ACTIVATE_VERSION.

    Marketo's `version` (the editor version, 1 or 2; Adobe's emails.md) is emitted as
    `emailVersion`: target-postgres 0.8.1 fails ACTIVATE_VERSION on any table with a column
    named `version` (its soft-delete UPDATE binds a parameter of that name, which SQLAlchemy
    refuses when a column has it), so the column gets a name no loader reserves."""

    name = "emails"
    path = "/rest/asset/v1/emails.json"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    # Marketo's name -> the column it is emitted as (see the class docstring).
    renamed_fields: t.ClassVar[dict[str, str]] = {"version": "emailVersion"}
    schema_dict = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("name", th.StringType),
        th.Property("description", th.StringType),
        th.Property("createdAt", th.DateTimeType),
        th.Property("updatedAt", th.DateTimeType),
        th.Property("url", th.StringType),
        th.Property("subject", _TYPED_VALUE),
        th.Property("fromName", _TYPED_VALUE),
        th.Property("fromEmail", _TYPED_VALUE),
        th.Property("replyEmail", _TYPED_VALUE),
        th.Property("folder", _FOLDER),
        th.Property("operational", th.BooleanType),
        th.Property("textOnly", th.BooleanType),
        th.Property("publishToMSI", th.BooleanType),
        th.Property("webView", th.BooleanType),
        th.Property("status", th.StringType),
        th.Property("template", th.IntegerType),
        th.Property("workspace", th.StringType),
        th.Property("isOpenTrackingDisabled", th.BooleanType),
        th.Property("emailVersion", th.IntegerType),
        th.Property("autoCopyToText", th.BooleanType),
        th.Property("preHeader", th.StringType),
        th.Property("ccFields", th.ArrayType(th.ObjectType(additional_properties=True))),
    ).to_dict()


class SegmentationsStream(AssetStream):
    """Segmentations. Full table: the endpoint has no update-time filter."""

    name = "segmentations"
    path = "/rest/asset/v1/segmentation.json"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema_dict = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("name", th.StringType),
        th.Property("description", th.StringType),
        th.Property("createdAt", th.DateTimeType),
        th.Property("updatedAt", th.DateTimeType),
        th.Property("url", th.StringType),
        th.Property("folder", _FOLDER),
        th.Property("status", th.StringType),
        th.Property("workspace", th.StringType),
    ).to_dict()


class SegmentsStream(AssetStream):
    """The segments of every segmentation (their Default segment included). Full table."""

    name = "segments"
    path = "/rest/asset/v1/segmentation/{segmentation_id}/segments.json"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema_dict = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("segmentationId", th.IntegerType),
        th.Property("name", th.StringType),
        th.Property("description", th.StringType),
        th.Property("createdAt", th.DateTimeType),
        th.Property("updatedAt", th.DateTimeType),
        th.Property("url", th.StringType),
        th.Property("status", th.StringType),
    ).to_dict()

    def pages(self, context: dict | None) -> t.Iterator[list[dict]]:
        client = self.engine.client
        for segmentations in read_asset_pages(client, SegmentationsStream.path):
            for segmentation in segmentations:
                path = self.path.format(segmentation_id=int(segmentation["id"]))
                try:
                    yield from read_asset_pages(client, path, page_size=self.page_size)
                except ResourceGoneError as exc:
                    self.skip_vanished("segmentation", segmentation, exc)


class ProgramTokensStream(AssetStream):
    """Each program's My Tokens, one row per (programId, name): one call per program. Full
    table: tokens carry no update time."""

    name = "program_tokens"
    path = "/rest/asset/v1/folder/{program_id}/tokens.json"
    primary_keys: t.ClassVar[list[str]] = ["programId", "name"]
    asset_datetimes = ()
    schema_dict = th.PropertiesList(
        th.Property("programId", th.IntegerType, required=True),
        th.Property("name", th.StringType, required=True),
        th.Property("type", th.StringType),
        th.Property("value", th.StringType),
        th.Property("computedUrl", th.StringType),
    ).to_dict()

    def pages(self, context: dict | None) -> t.Iterator[list[dict]]:
        client = self.engine.client
        for program in self.engine.programs():
            program_id = int(program["id"])
            try:
                page = client.get(
                    self.path.format(program_id=program_id), params={"folderType": "Program"}
                )
            except ResourceGoneError as exc:
                self.skip_vanished("program", program, exc)
                continue
            rows = []
            for holder in page.get("result") or []:
                for token in holder.get("tokens") or []:
                    value = token.get("value")
                    rows.append(
                        {
                            **token,
                            "programId": program_id,
                            # number and score tokens may come as JSON numbers: keep them as text
                            "value": None if value is None else str(value),
                        }
                    )
            yield rows


__all__ = [
    "EmailsStream",
    "ProgramTokensStream",
    "ProgramsStream",
    "SegmentationsStream",
    "SegmentsStream",
    "normalize_asset_timestamp",
]
