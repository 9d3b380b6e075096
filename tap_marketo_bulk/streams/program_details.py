"""What programs are classified and costed by: channels (with their progression statuses), tag
types, and each program's tags and costs.

Shapes: Adobe's OpenAPI spec of the Asset API (swagger-asset.json: ChannelResponse /
ChannelProgression, TagResponseGetAll, ProgramResponse / Tags / Costs) and marketo-developer
help/rest-api/channels.md, tags.md and programs.md. programs.md, "Browse": "tags associated with a
program are not returned by this endpoint" - tags and costs come from Get Program by Id
(`GET /rest/asset/v1/program/{id}.json`), one call per program, cached for the run so
program_tags and program_costs share it. None of these endpoints filters on update time: full
table.
"""

from __future__ import annotations

import typing as t
import weakref

from singer_sdk import typing as th

from tap_marketo_bulk.errors import ResourceGoneError
from tap_marketo_bulk.streams.rest import AssetStream, normalize_asset_timestamp

PROGRAM_BY_ID = "/rest/asset/v1/program/{program_id}.json"


class ChannelsStream(AssetStream):
    """Channels, each with its program member statuses as a nested array `progressionStatuses`
    ({name, step, success, hidden, type, description}; channels.md, "Query"): a channel's
    statuses are only ever read with it. Full table."""

    name = "channels"
    path = "/rest/asset/v1/channels.json"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema_dict = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("name", th.StringType),
        th.Property("applicableProgramType", th.StringType),
        th.Property("createdAt", th.DateTimeType),
        th.Property("updatedAt", th.DateTimeType),
        th.Property(
            "progressionStatuses",
            th.ArrayType(
                th.ObjectType(
                    th.Property("name", th.StringType),
                    th.Property("step", th.IntegerType),
                    th.Property("success", th.BooleanType),
                    th.Property("hidden", th.BooleanType),
                    th.Property("type", th.StringType),
                    th.Property("description", th.StringType),
                    additional_properties=True,
                )
            ),
        ),
    ).to_dict()


class TagTypesStream(AssetStream):
    """Tag types (TagResponseGetAll; tags.md, "Query": `GET /rest/asset/v1/tagTypes.json`):
    {tagType, applicableProgramTypes, required}. Full table."""

    name = "tag_types"
    path = "/rest/asset/v1/tagTypes.json"
    primary_keys: t.ClassVar[list[str]] = ["tagType"]
    asset_datetimes = ()
    schema_dict = th.PropertiesList(
        th.Property("tagType", th.StringType, required=True),
        th.Property("applicableProgramTypes", th.StringType),
        th.Property("required", th.BooleanType),
    ).to_dict()


# engine -> program id -> its Get Program by Id item (None: not found): one call per program
# per run, whichever of program_tags / program_costs asks first.
_PROGRAM_DETAILS: weakref.WeakKeyDictionary[t.Any, dict[int, dict | None]] = (
    weakref.WeakKeyDictionary()
)


def program_detail(engine: t.Any, program_id: int) -> dict | None:
    """The program's by-id item, or None when Marketo no longer finds it ("No assets found",
    610/702/1013); other errors raise."""
    cache = _PROGRAM_DETAILS.setdefault(engine, {})
    if program_id not in cache:
        try:
            answer = engine.client.get(PROGRAM_BY_ID.format(program_id=program_id))
            found = list(answer.get("result") or [])
        except ResourceGoneError:
            found = []  # deleted since the browse (api/envelope.py: 610, 702, 710, 1013)
        cache[program_id] = found[0] if found else None
    return cache[program_id]


class ProgramDetailStream(AssetStream):
    """Rows drawn from every program's Get Program by Id answer (program_detail: one call per
    program per run). A program deleted since the browse (no result, or ResourceGoneError) is
    skipped with a WARNING naming it."""

    asset_datetimes = ()

    def program_rows(self, program_id: int, detail: dict) -> list[dict]:
        raise NotImplementedError

    def pages(self, context: dict | None) -> t.Iterator[list[dict]]:
        for program in self.engine.programs():
            program_id = int(program["id"])
            found = program_detail(self.engine, program_id)
            if found is None:
                self.logger.warning(
                    "%s: program %s (%r) not found any more; skipped",
                    self.name, program_id, program.get("name"),
                )
                continue
            yield self.program_rows(program_id, found)


class ProgramTagsStream(ProgramDetailStream):
    """One row per (programId, tagType): the program's tag value (Tags: tagType, tagValue).
    Full table."""

    name = "program_tags"
    primary_keys: t.ClassVar[list[str]] = ["programId", "tagType"]
    schema_dict = th.PropertiesList(
        th.Property("programId", th.IntegerType, required=True),
        th.Property("tagType", th.StringType, required=True),
        th.Property("tagValue", th.StringType),
    ).to_dict()

    def program_rows(self, program_id: int, detail: dict) -> list[dict]:
        return [{**tag, "programId": program_id} for tag in detail.get("tags") or []]


class ProgramCostsStream(ProgramDetailStream):
    """One row per program cost (Costs: startDate, cost, note). Costs have no id and two may
    share a month and amount, so the key is (programId, seq), seq being the cost's place in the
    program's list; full table (with ACTIVATE_VERSION a shorter list leaves no stale row)."""

    name = "program_costs"
    primary_keys: t.ClassVar[list[str]] = ["programId", "seq"]
    schema_dict = th.PropertiesList(
        th.Property("programId", th.IntegerType, required=True),
        th.Property("seq", th.IntegerType, required=True),
        th.Property("startDate", th.DateTimeType),
        th.Property("cost", th.IntegerType),
        th.Property("note", th.StringType),
    ).to_dict()

    def program_rows(self, program_id: int, detail: dict) -> list[dict]:
        return [
            {
                **cost,
                "programId": program_id,
                "seq": seq,
                "startDate": _cost_date(cost.get("startDate")),
            }
            for seq, cost in enumerate(detail.get("costs") or [])
        ]


def _cost_date(value: str | None) -> str | None:
    """Costs' startDate: an Asset timestamp, or a bare date as programs.md's create example
    shows (`2015-01-01`): RFC 3339 either way."""
    if value and len(value) == 10:
        value = f"{value}T00:00:00Z"
    return normalize_asset_timestamp(value)


PROGRAM_DETAIL_STREAMS = (ChannelsStream, TagTypesStream, ProgramTagsStream, ProgramCostsStream)

__all__ = [
    "PROGRAM_DETAIL_STREAMS",
    "ChannelsStream",
    "ProgramCostsStream",
    "ProgramTagsStream",
    "TagTypesStream",
]
