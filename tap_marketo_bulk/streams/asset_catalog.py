"""The asset catalogue (`/rest/asset/v1/...`, offset paging ending with "No assets found"): forms
and their fields, landing pages, email templates, snippets, files, folders, smart lists and
smart campaigns. Channels, tag types, program tags and costs: program_details.py.

Shapes and filters: Adobe's OpenAPI spec of the Asset API (swagger-asset.json; the definition
each stream follows is named in its docstring) and the marketo-developer page cited there
(AdobeDocs/marketo-developer, help/rest-api/<page>.md). Only smartLists.json and
smartCampaigns.json filter on update time (`earliestUpdatedAt` / `latestUpdatedAt`): those two
are incremental; every other stream is full table.
"""

from __future__ import annotations

import json
import typing as t

from singer_sdk import typing as th

from tap_marketo_bulk.errors import ResourceGoneError
from tap_marketo_bulk.streams.rest import AssetStream, normalize_asset_timestamp, read_asset_pages

# `folder: {type, value, folderName}` (Folder / SnippetFolder / FileFolder definitions differ).
_FOLDER = th.ObjectType(additional_properties=True)
_ANY_OBJECT = th.ObjectType(additional_properties=True)


def _asset(*extra: th.Property) -> dict:
    """id, name, description, createdAt, updatedAt plus `extra`: the columns every asset has."""
    return th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("name", th.StringType),
        th.Property("description", th.StringType),
        th.Property("createdAt", th.DateTimeType),
        th.Property("updatedAt", th.DateTimeType),
        *extra,
    ).to_dict()


class FormsStream(AssetStream):
    """Forms (LpFormResponse; forms.md, "Query": browse with `status`, `folder`, `maxReturn`,
    `offset`). Full table: no update-time filter. Their fields are `form_fields`."""

    name = "forms"
    path = "/rest/asset/v1/forms.json"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema_dict = _asset(
        th.Property("url", th.StringType),
        th.Property("status", th.StringType),
        th.Property("folder", _FOLDER),
        th.Property("thankYouList", th.ArrayType(_ANY_OBJECT)),
        th.Property("knownVisitor", _ANY_OBJECT),
        th.Property("theme", th.StringType),
        th.Property("language", th.StringType),
        th.Property("locale", th.StringType),
        th.Property("progressiveProfiling", th.BooleanType),
        th.Property("labelPosition", th.StringType),
        th.Property("fontFamily", th.StringType),
        th.Property("fontSize", th.StringType),
        th.Property("buttonLocation", th.IntegerType),
        th.Property("buttonLabel", th.StringType),
        th.Property("waitingLabel", th.StringType),
    )


class FormFieldsStream(AssetStream):
    """Each form's fields, one row per (formId, id) (LpFormFieldResponse; forms.md, "Get Form
    Fields": `GET /rest/asset/v1/form/{id}/fields.json`, not paged). A child table rather than
    a nested array on `forms`: one row per field is what analysts join activity "Fill Out Form"
    values against. One call per form; full table. A form deleted between the browse and its
    fields call (610/702/1013) is skipped with a WARNING naming it."""

    name = "form_fields"
    path = "/rest/asset/v1/form/{form_id}/fields.json"
    primary_keys: t.ClassVar[list[str]] = ["formId", "id"]
    asset_datetimes = ()
    schema_dict = th.PropertiesList(
        th.Property("formId", th.IntegerType, required=True),
        th.Property("id", th.StringType, required=True),  # the field's API name, e.g. "Email"
        th.Property("label", th.StringType),
        th.Property("dataType", th.StringType),
        # text in forms.md's example; swagger says object: an object is kept as its JSON text
        th.Property("validationMessage", th.StringType),
        th.Property("rowNumber", th.IntegerType),
        th.Property("columnNumber", th.IntegerType),
        th.Property("required", th.BooleanType),
        th.Property("formPrefill", th.BooleanType),
        th.Property("fieldWidth", th.IntegerType),
        th.Property("labelWidth", th.IntegerType),
        th.Property("maxLength", th.IntegerType),
        th.Property("hintText", th.StringType),
        th.Property("defaultValue", th.StringType),
        th.Property("instructions", th.StringType),
        th.Property("isSensitive", th.BooleanType),
        th.Property("blankFields", th.IntegerType),
        th.Property("text", th.StringType),
        th.Property("fields", th.ArrayType(th.StringType)),
        th.Property("fieldMetaData", _ANY_OBJECT),
        th.Property("visibilityRules", _ANY_OBJECT),
    ).to_dict()

    def pages(self, context: dict | None) -> t.Iterator[list[dict]]:
        client = self.engine.client
        seen: set[int] = set()  # a form listed twice (e.g. once per status) is read once
        for forms in read_asset_pages(client, FormsStream.path, page_size=self.page_size):
            for form in forms:
                form_id = int(form["id"])
                if form_id in seen:
                    continue
                seen.add(form_id)
                try:
                    answer = client.get(self.path.format(form_id=form_id))
                except ResourceGoneError as exc:
                    self.skip_vanished("form", form, exc)
                    continue
                yield [_field_row(form_id, field) for field in answer.get("result") or []]


def _field_row(form_id: int, field: dict) -> dict:
    message = field.get("validationMessage")
    if isinstance(message, (dict, list)):
        message = json.dumps(message, ensure_ascii=False, sort_keys=True)
    return {**field, "formId": form_id, "validationMessage": message}


class LandingPagesStream(AssetStream):
    """Landing pages (LandingPageResponse; landing-pages.md, "Browse"). Full table."""

    name = "landing_pages"
    path = "/rest/asset/v1/landingPages.json"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema_dict = _asset(
        th.Property("URL", th.StringType),
        th.Property("computedUrl", th.StringType),
        th.Property("folder", _FOLDER),
        th.Property("status", th.StringType),
        th.Property("template", th.IntegerType),
        th.Property("title", th.StringType),
        th.Property("keywords", th.StringType),
        th.Property("robots", th.StringType),
        th.Property("customHeadHTML", th.StringType),
        th.Property("facebookOgTags", th.StringType),
        th.Property("formPrefill", th.BooleanType),
        th.Property("mobileEnabled", th.BooleanType),
        th.Property("workspace", th.StringType),
    )


class EmailTemplatesStream(AssetStream):
    """Email templates (EmailTemplateResponse; email-templates.md, "Browse"). Full table.
    Marketo's `version` (the editor version) is emitted as `templateVersion`, as emails' is as
    `emailVersion` (RestStream.renamed_fields)."""

    name = "email_templates"
    path = "/rest/asset/v1/emailTemplates.json"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    renamed_fields: t.ClassVar[dict[str, str]] = {"version": "templateVersion"}
    schema_dict = _asset(
        th.Property("url", th.StringType),
        th.Property("folder", _FOLDER),
        th.Property("status", th.StringType),
        th.Property("workspace", th.StringType),
        th.Property("templateVersion", th.IntegerType),
    )


class SnippetsStream(AssetStream):
    """Snippets (SnippetResponse; snippets.md, "Browse"). Full table."""

    name = "snippets"
    path = "/rest/asset/v1/snippets.json"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema_dict = _asset(
        th.Property("url", th.StringType),
        th.Property("folder", _FOLDER),
        th.Property("status", th.StringType),
        th.Property("workspace", th.StringType),
    )


class FilesStream(AssetStream):
    """Files in Design Studio (FileResponse; files.md, "Browse"). Full table."""

    name = "files"
    path = "/rest/asset/v1/files.json"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema_dict = _asset(
        th.Property("url", th.StringType),
        th.Property("folder", _FOLDER),
        th.Property("mimeType", th.StringType),
        th.Property("size", th.IntegerType),
    )


class FoldersStream(AssetStream):
    """Folders, program folders included (FolderResponse; folders.md, "Browse": `root`,
    `maxDepth` default 2, `maxReturn`, `offset`, `workSpace`). Full table. `maxDepth` is raised
    to FOLDER_DEPTH so nested folders come too. A Folder and a Program may share an id
    (folders.md, "Response Structure": the type in `folderId` tells them apart), so the key is
    (id, type), `type` being `folderId.type`."""

    name = "folders"
    path = "/rest/asset/v1/folders.json"
    primary_keys: t.ClassVar[list[str]] = ["id", "type"]
    FOLDER_DEPTH: t.ClassVar[int] = 50
    schema_dict = _asset(
        th.Property("type", th.StringType, required=True),  # folderId.type: Folder | Program
        th.Property("url", th.StringType),
        th.Property("folderId", _ANY_OBJECT),  # {id, type: Folder | Program}
        th.Property("folderType", th.StringType),
        th.Property("parent", _ANY_OBJECT),
        th.Property("path", th.StringType),
        th.Property("isArchive", th.BooleanType),
        th.Property("isSystem", th.BooleanType),
        th.Property("accessZoneId", th.IntegerType),
        th.Property("workspace", th.StringType),
    )

    def request_params(self, context: dict | None) -> dict:
        return {"maxDepth": self.FOLDER_DEPTH}

    def to_record(self, item: dict, context: dict | None) -> dict:
        folder_id = item.get("folderId") if isinstance(item.get("folderId"), dict) else {}
        return super().to_record({**item, "type": folder_id.get("type")}, context)


class SmartListsStream(AssetStream):
    """Smart lists (SmartListResponse; smart-lists.md, "Browse"). Full table, though the browse
    filters on `earliestUpdatedAt`: an update filter never shows a deleted smart list, and a
    full read ending with ACTIVATE_VERSION does (as for emails); one call per 200."""

    name = "smart_lists"
    path = "/rest/asset/v1/smartLists.json"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema_dict = _asset(
        th.Property("url", th.StringType),
        th.Property("folder", _FOLDER),
        th.Property("workspace", th.StringType),
    )


class SmartCampaignsStream(AssetStream):
    """Smart campaigns as the Asset API sees them (SmartCampaignResponse; smart-campaigns.md,
    "Browse": `earliestUpdatedAt`, `latestUpdatedAt`, `isActive`, `folder`): type, activity,
    qualification rules, schedule (`recurrence`), smart list and flow ids. Full table, like
    smart_lists (a deleted campaign reaches the loader). `campaigns` (Lead Database view)
    stays."""

    name = "smart_campaigns"
    path = "/rest/asset/v1/smartCampaigns.json"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema_dict = _asset(
        th.Property("type", th.StringType),
        th.Property("isSystem", th.BooleanType),
        th.Property("isActive", th.BooleanType),
        th.Property("isRequestable", th.BooleanType),
        th.Property(
            "recurrence",
            th.ObjectType(
                th.Property("startAt", th.DateTimeType),
                th.Property("endAt", th.DateTimeType),
                th.Property("intervalType", th.StringType),
                th.Property("interval", th.IntegerType),
                th.Property("weekdayOnly", th.BooleanType),
                th.Property("weekdayMask", th.ArrayType(th.StringType)),
                th.Property("dayOfMonth", th.IntegerType),
                th.Property("dayOfWeek", th.StringType),
                th.Property("weekOfMonth", th.IntegerType),
                additional_properties=True,
            ),
        ),
        th.Property("qualificationRuleType", th.StringType),
        th.Property("qualificationRuleInterval", th.IntegerType),
        th.Property("qualificationRuleUnit", th.StringType),
        th.Property("maxMembers", th.IntegerType),
        th.Property("isCommunicationLimitEnabled", th.BooleanType),
        th.Property("smartListId", th.IntegerType),
        th.Property("flowId", th.IntegerType),
        th.Property("parentProgramId", th.IntegerType),
        th.Property("folder", _FOLDER),
        th.Property("workspace", th.StringType),
        th.Property("computedUrl", th.StringType),
        th.Property("status", th.StringType),
    )

    def to_record(self, item: dict, context: dict | None) -> dict:
        record = super().to_record(item, context)
        recurrence = record.get("recurrence")
        if isinstance(recurrence, dict):  # its times are Asset timestamps too
            record["recurrence"] = {
                **recurrence,
                **{k: normalize_asset_timestamp(recurrence.get(k)) for k in ("startAt", "endAt")
                   if k in recurrence},
            }
        return record


ASSET_CATALOG_STREAMS = (
    FormsStream,
    FormFieldsStream,
    LandingPagesStream,
    EmailTemplatesStream,
    SnippetsStream,
    FilesStream,
    FoldersStream,
    SmartListsStream,
    SmartCampaignsStream,
)

__all__ = [
    "ASSET_CATALOG_STREAMS",
    "EmailTemplatesStream",
    "FilesStream",
    "FoldersStream",
    "FormFieldsStream",
    "FormsStream",
    "LandingPagesStream",
    "SmartCampaignsStream",
    "SmartListsStream",
    "SnippetsStream",
]
