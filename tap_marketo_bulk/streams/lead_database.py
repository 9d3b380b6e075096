"""Lead Database reference streams (`/rest/v1/...`, nextPageToken paging): activity types,
campaigns, static lists and their members, deleted leads.

Shapes: api-notes sections 8 and 11; Adobe's marketo-developer docs, help/rest-api/
list-membership.md (Get Leads by List Id: batchSize default and maximum 300, `fields`, paging
token) and smart-campaigns.md (Campaigns Endpoint Reference (Leads)).
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_marketo_bulk.errors import ResourceGoneError
from tap_marketo_bulk.streams.list_export import StaticListExporter
from tap_marketo_bulk.streams.rest import (
    MAX_BATCH_SIZE,
    ActivityLogStream,
    LeadDatabaseStream,
    RestStream,
    normalize_rest_datetime,
    read_token_pages,
)

_ATTRIBUTE = th.ObjectType(
    th.Property("name", th.StringType), th.Property("dataType", th.StringType)
)
# A list needing more REST pages than this is exported by one bulk job (README, "Static list
# membership"): 50 pages = 15,000 members = 50 calls, ~12 s at 80 calls/20 s, under one 60 s
# status cycle of a bulk job that also costs ~5 calls, a queue slot and export quota.
DEFAULT_REST_PAGE_LIMIT = 50
MEMBER_LEAD_FIELDS = ("email", "firstName", "lastName", "createdAt", "updatedAt")


class ActivityTypesStream(RestStream):
    """`/rest/v1/activities/types.json` (one unpaged call, cached: activities' schema uses it)."""

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


class CampaignsStream(LeadDatabaseStream):
    """Smart campaigns. Full table: the endpoint filters by id, name, program and workspace,
    never by update time."""

    name = "campaigns"
    path = "/rest/v1/campaigns.json"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema_dict = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("name", th.StringType),
        th.Property("description", th.StringType),
        th.Property("type", th.StringType),
        th.Property("programName", th.StringType),
        th.Property("programId", th.IntegerType),
        th.Property("workspaceName", th.StringType),
        th.Property("createdAt", th.DateTimeType),
        th.Property("updatedAt", th.DateTimeType),
        th.Property("active", th.BooleanType),
    ).to_dict()


class ListsStream(LeadDatabaseStream):
    """Static lists. Full table: the endpoint filters by id, name, program and workspace only."""

    name = "lists"
    path = "/rest/v1/lists.json"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema_dict = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("name", th.StringType),
        th.Property("description", th.StringType),
        th.Property("programName", th.StringType),
        th.Property("workspaceName", th.StringType),
        th.Property("createdAt", th.DateTimeType),
        th.Property("updatedAt", th.DateTimeType),
    ).to_dict()


class ListMembersStream(RestStream):
    """One row per (listId, leadId) of every static list, with a few lead columns.

    Each list is paged over REST (300 members a call) while it fits in `list_members_rest_page_
    limit` pages; a list needing more is exported instead by one bulk lead job with the
    `staticListId` filter (StaticListExporter), all such lists after the REST ones. Full table:
    membership has no dates to filter on.
    """

    name = "list_members"
    primary_keys: t.ClassVar[list[str]] = ["listId", "leadId"]
    schema_dict = th.PropertiesList(
        th.Property("listId", th.IntegerType, required=True),
        th.Property("leadId", th.IntegerType, required=True),
        th.Property("email", th.StringType),
        th.Property("firstName", th.StringType),
        th.Property("lastName", th.StringType),
        th.Property("createdAt", th.DateTimeType),
        th.Property("updatedAt", th.DateTimeType),
    ).to_dict()

    def member_row(self, list_id: int, lead: dict) -> dict:
        row = {"listId": list_id, "leadId": lead.get("id")}
        row.update({name: normalize_rest_datetime(lead.get(name)) for name in MEMBER_LEAD_FIELDS})
        return row

    def rest_members(self, static_list: dict, page_limit: int | None) -> list[dict] | None:
        """The list's members over REST, or None once it needs more than `page_limit` pages;
        none (and a WARNING) when the list was deleted after lists.json named it."""
        list_id = int(static_list["id"])
        pages = read_token_pages(
            self.engine.client,
            f"/rest/v1/lists/{list_id}/leads.json",
            {"fields": ",".join(("id", *MEMBER_LEAD_FIELDS))},
            batch_size=MAX_BATCH_SIZE,
        )
        members: list[dict] = []
        try:
            for count, page in enumerate(pages, start=1):
                if page_limit is not None and count > page_limit:
                    pages.close()
                    return None
                members.extend(self.member_row(list_id, lead) for lead in page)
        except ResourceGoneError as exc:
            self.skip_vanished("list", static_list, exc)
            return []
        return members

    def get_records(self, context: dict | None) -> t.Iterable[dict]:
        engine = self.engine
        limit = int(self.config.get("list_members_rest_page_limit", DEFAULT_REST_PAGE_LIMIT))
        large: list[int] = []
        lists: dict[int, dict] = {}
        for page in read_token_pages(engine.client, "/rest/v1/lists.json"):
            for static_list in page:
                list_id = int(static_list["id"])
                lists[list_id] = static_list
                members = self.rest_members(static_list, limit)
                if members is None:
                    large.append(list_id)
                else:
                    yield from members
        if not large:
            return
        self.logger.info(
            "%s: %d list(s) need more than %d REST pages each: one bulk export job per list",
            self.name,
            len(large),
            limit,
        )
        exporter = self.list_exporter()
        try:
            for list_id, lead in exporter.run(large):
                yield self.member_row(list_id, lead)
        except BaseException:
            engine.close_scheduler()
            raise
        # Export bytes count against the daily quota the bulk streams' state carries.
        self.stream_state["quota"] = engine.quota.to_state()
        for list_id in exporter.not_exported:
            yield from self.rest_members(lists[list_id], None) or []

    def list_exporter(self) -> StaticListExporter:
        leads = self.engine.lead_properties()
        properties = {"id": leads.get("id", {"type": ["integer", "null"]})}
        properties.update({name: leads[name] for name in MEMBER_LEAD_FIELDS if name in leads})
        return StaticListExporter(self.engine.scheduler, properties, self.name, self.logger)


class DeletedLeadsStream(ActivityLogStream):
    """`/rest/v1/activities/deletedleads.json` from a paging token for the bookmark: incremental
    on activityDate (the token's sinceDatetime)."""

    name = "deleted_leads"
    path = "/rest/v1/activities/deletedleads.json"
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
        properties = self.schema["properties"]
        for activity in self.new_activities(context):
            yield {key: activity[key] for key in properties if key in activity}
