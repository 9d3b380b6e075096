"""The asset catalogue: forms (and their fields), landing pages, email templates, snippets, files,
smart lists, smart campaigns (the Asset API's view), channels, tag types, program tags and costs,
and the daily API usage of a few API users.

Shapes are Adobe's OpenAPI spec of the Asset API (shared/real-marketo/adobe-openapi/
swagger-asset.json, definitions named beside each builder) and the marketo-developer pages
(help/rest-api/forms.md, landing-pages.md, email-templates.md, snippets.md, files.md,
smart-lists.md, smart-campaigns.md, channels.md, tags.md, programs.md). Asset timestamps are
`2017-09-25T21:51:20Z+0000` (programs.md examples). Drawn from a random stream of their own, so
the rest of the data is unchanged.
"""

from __future__ import annotations

import random
from typing import Any

from .reference import CHANNELS
from .timeutil import DAY, asset_time, iso
from .values import TRICKY_STRINGS, WORDS

FIRST_FORM_ID = 9001
FIRST_LANDING_PAGE_ID = 11001
FIRST_EMAIL_TEMPLATE_ID = 12001
FIRST_SNIPPET_ID = 13001
FIRST_FILE_ID = 14001
FIRST_SMART_LIST_ID = 15001
FIRST_SMART_CAMPAIGN_ID = 16001
FIRST_CHANNEL_ID = 1
# Tag types and their allowed values (tags.md: tags are configured in Admin with a value list).
TAG_TYPES: dict[str, tuple[str, ...]] = {
    "Region": ("EMEA", "AMER", "APAC"),
    "Product Line": ("Core", "Add-on, premium", "Services"),
    "Presenter": ("Dennis", "Ana"),
}
# Form fields every form may hold (LpFormFieldResponse: id is the field's API name, a string).
FORM_FIELDS = (
    ("Email", "Email Address:", "email"),
    ("FirstName", "First Name:", "string"),
    ("LastName", "Last Name:", "string"),
    ("Company", "Company Name:", "string"),
    ("Phone", "Phone Number:", "phone"),
    ("Country", "Country:", "picklist"),
    ("Unsubscribed", "Unsubscribed", "checkbox"),
)
MIME_TYPES = (("png", "image/png"), ("pdf", "application/pdf"), ("css", "text/css"))


def _folder(rng: random.Random, programs: list[dict[str, Any]]) -> dict[str, Any]:
    """`folder: {type, value, folderName}` (Folder definition; programs.md examples); a Program
    or a plain folder."""
    if programs and rng.random() < 0.5:
        program = rng.choice(programs)
        return {"type": "Program", "value": program["id"], "folderName": program["name"]}
    return {"type": "Folder", "value": 10, "folderName": "Marketing Activities"}


def _times(rng: random.Random, span: tuple[int, int]) -> tuple[str, str]:
    created = rng.randint(span[0], span[1] - DAY)
    return asset_time(created), asset_time(rng.choice((created, rng.randint(created, span[1]))))


def _common(
    rng: random.Random, asset_id: int, name: str, url_code: str, span: tuple[int, int]
) -> dict[str, Any]:
    created, updated = _times(rng, span)
    return {
        "id": asset_id,
        "name": name,
        "description": rng.choice(("", None, "Asset description", *TRICKY_STRINGS[:3])),
        "createdAt": created,
        "updatedAt": updated,
        "url": f"https://app-sj01.marketo.com/#{url_code}{asset_id}A1",
    }


def build_forms(
    rng: random.Random, count: int, programs: list[dict[str, Any]], span: tuple[int, int]
) -> tuple[list[dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """(forms as forms.json returns them: LpFormResponse; form id -> its fields as
    form/{id}/fields.json returns them: LpFormFieldResponse)."""
    forms: list[dict[str, Any]] = []
    fields: dict[int, list[dict[str, Any]]] = {}
    for index in range(count):
        form_id = FIRST_FORM_ID + index
        form = _common(rng, form_id, f"Form {form_id} {rng.choice(WORDS)}", "FO", span)
        form.update(
            {
                "status": rng.choice(("approved", "draft")),
                "folder": _folder(rng, programs),
                "thankYouList": [
                    {"followupType": "none", "followupValue": None, "default": True}
                ],
                "knownVisitor": {"type": "form", "template": None},
                "theme": rng.choice(("simple", "inset")),
                "language": "English",
                "locale": "en_US",
                "progressiveProfiling": rng.random() < 0.3,
                "labelPosition": "left",
                "fontFamily": "Helvetica",
                "fontSize": "13px",
                "buttonLocation": 120,
                "buttonLabel": "Submit",
                "waitingLabel": "Please Wait",
            }
        )
        forms.append(form)
        chosen = FORM_FIELDS[: rng.randint(1, len(FORM_FIELDS))]
        fields[form_id] = [
            {
                "id": field_id,
                "label": label,
                "dataType": data_type,
                "validationMessage": "This field is required." if row == 0 else None,
                "rowNumber": row,
                "columnNumber": 0,
                "required": row == 0,
                "formPrefill": True,
                "fieldWidth": 150,
                "labelWidth": 100,
                "maxLength": 255 if data_type in ("string", "email", "phone") else None,
                "hintText": rng.choice((None, "e.g. " + rng.choice(WORDS))),
                "defaultValue": None,
                "instructions": None,
                "isSensitive": False,
                "visibilityRules": {"ruleType": "alwaysShow"},
            }
            for row, (field_id, label, data_type) in enumerate(chosen)
        ]
    return forms, fields


def build_simple_assets(
    rng: random.Random, count: int, programs: list[dict[str, Any]], span: tuple[int, int]
) -> dict[str, list[dict[str, Any]]]:
    """Landing pages (LandingPageResponse), email templates (EmailTemplateResponse), snippets
    (SnippetResponse), files (FileResponse) and smart lists (SmartListResponse)."""
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in (
        "landing_pages", "email_templates", "snippets", "files", "smart_lists")}
    for index in range(count):
        page_id = FIRST_LANDING_PAGE_ID + index
        page = _common(rng, page_id, f"LP {page_id} {rng.choice(WORDS)}", "LP", span)
        page.pop("url")  # LandingPageResponse has URL and computedUrl, no url
        page.update(
            {
                "URL": f"https://pages.example.com/lp{page_id}.html",
                "computedUrl": f"https://app-sj01.marketo.com/#LP{page_id}A1",
                "folder": _folder(rng, programs),
                "status": rng.choice(("approved", "draft")),
                "template": rng.choice((1, 2, 5)),
                "title": rng.choice(("Welcome", *TRICKY_STRINGS[:3])),
                "keywords": None,
                "robots": "index, nofollow",
                "customHeadHTML": rng.choice((None, "<meta name='x' content='y'>")),
                "facebookOgTags": None,
                "formPrefill": rng.random() < 0.5,
                "mobileEnabled": rng.random() < 0.5,
                "workspace": "Default",
            }
        )
        out["landing_pages"].append(page)

        template_id = FIRST_EMAIL_TEMPLATE_ID + index
        template = _common(rng, template_id, f"Template {template_id}", "EMT", span)
        # email templates live in Design Studio folders, never in programs (programs.md)
        template.update({"folder": {"type": "Folder", "value": 11, "folderName": "Design Studio"},
                         "status": rng.choice(("approved", "draft")), "workspace": "Default",
                         "version": rng.choice((1, 2))})
        out["email_templates"].append(template)

        snippet_id = FIRST_SNIPPET_ID + index
        snippet = _common(rng, snippet_id, f"Snippet {snippet_id}", "SN", span)
        snippet.update({"folder": {"type": "Folder", "value": 11, "folderName": "Design Studio"},
                        "status": rng.choice(("approved", "draft")), "workspace": "Default"})
        out["snippets"].append(snippet)

        file_id = FIRST_FILE_ID + index
        extension, mime = rng.choice(MIME_TYPES)
        upload = _common(rng, file_id, f"file-{file_id}.{extension}", "FI", span)
        upload.update({
            # FileResponse: folder is {id, name, type}; url is the public file address
            "folder": {"id": 11, "name": "Design Studio", "type": "Folder"},
            "mimeType": mime,
            "size": rng.randint(100, 5_000_000),
            "url": f"https://pages.example.com/rs/123-ABC-456/images/file-{file_id}.{extension}",
        })
        out["files"].append(upload)

        list_id = FIRST_SMART_LIST_ID + index
        smart = _common(rng, list_id, f"Smart list {list_id} {rng.choice(WORDS)}", "SL", span)
        smart.update({"folder": _folder(rng, programs), "workspace": "Default"})
        out["smart_lists"].append(smart)
    return out


def build_smart_campaigns(
    rng: random.Random, count: int, programs: list[dict[str, Any]], span: tuple[int, int]
) -> list[dict[str, Any]]:
    """smartCampaigns.json items (SmartCampaignResponse; smart-campaigns.md)."""
    campaigns = []
    for index in range(count):
        campaign_id = FIRST_SMART_CAMPAIGN_ID + index
        row = _common(rng, campaign_id, f"Campaign {campaign_id} {rng.choice(WORDS)}", "SC", span)
        row.pop("url")  # SmartCampaignResponse has computedUrl only
        kind = rng.choice(("batch", "trigger"))
        program = rng.choice(programs) if programs else None
        recurrence = None
        if kind == "batch" and rng.random() < 0.5:
            start = rng.randint(span[0], span[1])
            recurrence = {"startAt": asset_time(start), "endAt": None, "intervalType": "Daily",
                          "interval": 1, "weekdayOnly": False}
        row.update({
            "type": kind,
            "isSystem": False,
            "isActive": kind == "trigger" and rng.random() < 0.5,  # only triggers are active
            "isRequestable": kind == "trigger",
            "recurrence": recurrence,
            "qualificationRuleType": rng.choice(("once", "any", "interval")),
            "qualificationRuleInterval": None,
            "qualificationRuleUnit": None,
            "maxMembers": rng.choice((None, 1000)),
            "isCommunicationLimitEnabled": rng.random() < 0.5,
            "smartListId": FIRST_SMART_LIST_ID + index,
            "flowId": 20000 + index,
            "parentProgramId": program["id"] if program else None,
            "folder": ({"type": "Program", "value": program["id"]} if program
                       else {"type": "Folder", "value": 10}),
            "workspace": "Default",
            "computedUrl": f"https://app-sj01.marketo.com/#SC{campaign_id}A1",
            "status": rng.choice(("Never Run", "Active", "Inactive")),
        })
        campaigns.append(row)
    return campaigns


def build_channels(span: tuple[int, int]) -> list[dict[str, Any]]:
    """channels.json items (ChannelResponse, ChannelProgression; channels.md): the channels the
    programs were made with, their statuses as steps, success steps flagged."""
    channels = []
    for index, (name, (program_type, statuses, successes)) in enumerate(CHANNELS.items()):
        stamp = asset_time(span[0] + index * 60)
        channels.append({
            "id": FIRST_CHANNEL_ID + index,
            "name": name,
            "applicableProgramType": program_type,
            "createdAt": stamp,
            "updatedAt": stamp,
            "progressionStatuses": [
                {"name": status, "step": step * 10, "success": status in successes,
                 "hidden": False, "type": "Success" if status in successes else "Progress",
                 "description": None}
                for step, status in enumerate(statuses)
            ],
        })
    return channels


def build_tag_types() -> list[dict[str, Any]]:
    """tagTypes.json items (TagResponseGetAll: tagType, applicableProgramTypes, required)."""
    return [
        {"tagType": tag, "applicableProgramTypes": "Default,Event,Engagement,Email",
         "required": index == 0}
        for index, tag in enumerate(TAG_TYPES)
    ]


def add_program_details(rng: random.Random, programs: list[dict[str, Any]],
                        span: tuple[int, int]) -> dict[int, dict[str, Any]]:
    """Browse fields sfdcId / sfdcName / headStart on every program (BrowseAllPrograms,
    programs.md), and program id -> {tags, costs, startDate, endDate} that only
    program/{id}.json answers (ProgramResponse: "tags ... are not returned by [browse]")."""
    details: dict[int, dict[str, Any]] = {}
    for program in programs:
        synced = rng.random() < 0.5
        program["sfdcId"] = f"7015000000{program['id']:05d}AAA" if synced else None
        program["sfdcName"] = program["name"] if synced else None
        program["headStart"] = False
        tags = [{"tagType": tag, "tagValue": rng.choice(values)}
                for tag, values in TAG_TYPES.items() if rng.random() < 0.6]
        costs = [
            # Costs: {startDate, cost, note}; several may share a month (programs.md, Update)
            {"startDate": iso(rng.randint(*span))[:10] + "T00:00:00Z+0000",
             "cost": rng.randint(0, 20000), "note": rng.choice((None, "Google Adwords", "Booth"))}
            for _ in range(rng.randint(0, 3))
        ]
        email_program = program["type"] == "Email"
        start = rng.randint(*span)
        details[program["id"]] = {
            "tags": tags or None,  # programs.md shows `"tags": null` and `"costs": null`
            "costs": costs or None,
            # only Email programs take a startDate / endDate (programs.md, Create and Update)
            "startDate": asset_time(start) if email_program else None,
            "endDate": asset_time(start + DAY) if email_program else None,
        }
    return details


def add_asset_catalog(data: Any, seed: int, config: Any) -> None:
    """Give a Dataset its asset catalogue (counts: config.catalog_assets, config.forms)."""
    rng = random.Random(f"{seed}:asset-catalog")
    span = (data.start, data.end)
    data.forms, data.form_fields = build_forms(rng, config.forms, data.programs, span)
    for name, rows in build_simple_assets(rng, config.catalog_assets, data.programs,
                                          span).items():
        setattr(data, name, rows)
    data.smart_campaigns = build_smart_campaigns(rng, config.catalog_assets, data.programs, span)
    data.channels = build_channels(span)
    data.tag_types = build_tag_types()
    data.program_details = add_program_details(rng, data.programs, span)
    # deleted after a tap browsed them (Sandbox.delete_after_browse): by-id calls miss them
    data.missing_forms = set()
    data.missing_programs = set()
