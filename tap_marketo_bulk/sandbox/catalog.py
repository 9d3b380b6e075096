"""Static metadata of the instance: lead and program-member fields, activity types.

Describe responses are built from these definitions so the served metadata and the generated
files can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STRING_LIKE = {"string", "text", "textarea", "email", "phone", "url", "lead_function"}


@dataclass(frozen=True)
class FieldDef:
    """One field as describe2.json reports it."""

    name: str
    data_type: str
    length: int | None = None
    updateable: bool = True
    display_name: str = ""

    @property
    def exportable(self) -> bool:
        # Marketo computes formula fields on read; bulk export refuses them (1006).
        return self.data_type != "formula"

    def describe(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.name,
            "displayName": self.display_name or self.name,
            "dataType": self.data_type,
        }
        if self.length is not None:
            entry["length"] = self.length
        entry["updateable"] = self.updateable
        entry["crmManaged"] = False
        return entry


# Standard lead fields; together they cover every dataType Marketo documents.
STANDARD_LEAD_FIELDS: tuple[FieldDef, ...] = (
    FieldDef("id", "integer", updateable=False, display_name="Id"),
    FieldDef("createdAt", "datetime", updateable=False, display_name="Created At"),
    FieldDef("updatedAt", "datetime", updateable=False, display_name="Updated At"),
    FieldDef("email", "email", 255, display_name="Email Address"),
    FieldDef("firstName", "string", 255, display_name="First Name"),
    FieldDef("lastName", "string", 255, display_name="Last Name"),
    FieldDef("company", "string", 255, display_name="Company Name"),
    FieldDef("title", "string", 255, display_name="Job Title"),
    FieldDef("phone", "phone", 255, display_name="Phone Number"),
    FieldDef("mobilePhone", "phone", 255, display_name="Mobile Phone Number"),
    FieldDef("website", "url", 255, display_name="Website"),
    FieldDef("address", "text", display_name="Address"),
    FieldDef("city", "string", 255, display_name="City"),
    FieldDef("country", "string", 255, display_name="Country"),
    FieldDef("comments", "textarea", display_name="Comments"),
    FieldDef("leadSource", "string", 255, display_name="Person Source"),
    FieldDef("leadStatus", "string", 255, display_name="Person Status"),
    FieldDef("leadScore", "score", display_name="Person Score"),
    FieldDef("annualRevenue", "currency", display_name="Annual Revenue"),
    FieldDef("numberOfEmployees", "integer", display_name="Num Employees"),
    FieldDef("salesOwnerId", "reference", display_name="Sales Owner Id"),
    FieldDef("externalCompanyId", "reference", display_name="External Company Id"),
    FieldDef("engagementPercent", "percent", display_name="Engagement Percent"),
    FieldDef("latitude", "float", display_name="Latitude"),
    FieldDef("unsubscribed", "boolean", display_name="Unsubscribed"),
    FieldDef("doNotCall", "boolean", display_name="Do Not Call"),
    FieldDef("dateOfBirth", "date", display_name="Date of Birth"),
    FieldDef("lastInteractionAt", "datetime", display_name="Last Interaction"),
    FieldDef("leadFunction", "lead_function", display_name="Person Function"),
    FieldDef("mktoName", "formula", updateable=False, display_name="Full Name"),
)
# Leads' values that are not drawn from pools but derived from the lead itself.
DERIVED_LEAD_FIELDS = frozenset({"id", "createdAt", "updatedAt", "email"})

CUSTOM_FIELD_TYPES: tuple[str, ...] = (
    "string", "textarea", "integer", "float", "boolean", "datetime", "date", "currency",
    "percent", "email", "url", "phone", "score", "reference", "text",
)


def lead_fields(extra_custom: int) -> list[FieldDef]:
    """Standard fields plus `extra_custom` custom fields cycling through every exportable type."""
    fields = list(STANDARD_LEAD_FIELDS)
    for index in range(extra_custom):
        data_type = CUSTOM_FIELD_TYPES[index % len(CUSTOM_FIELD_TYPES)]
        name = f"custom{data_type.capitalize()}{index + 1:02d}__c"
        length = 255 if data_type in ("string", "email", "url", "phone") else None
        fields.append(FieldDef(name, data_type, length, display_name=f"Custom {index + 1}"))
    return fields


# Program member fields exactly as bulk-program-member-extract.txt lists them (incl. custom ones).
MEMBER_FIELDS: tuple[FieldDef, ...] = (
    FieldDef("acquiredBy", "boolean", updateable=False),
    FieldDef("attendanceLikelihood", "integer", updateable=False),
    FieldDef("createdAt", "datetime", updateable=False),
    FieldDef("isExhausted", "boolean", updateable=False),
    FieldDef("leadId", "integer", updateable=False),
    FieldDef("membershipDate", "datetime", updateable=False),
    FieldDef("nurtureCadence", "string", 4, updateable=False),
    FieldDef("program", "string", 255, updateable=False),
    FieldDef("programId", "integer", updateable=False),
    FieldDef("reachedSuccess", "boolean", updateable=False),
    FieldDef("reachedSuccessDate", "datetime", updateable=False),
    FieldDef("registrationLikelihood", "integer", updateable=False),
    FieldDef("statusName", "string", 255, updateable=False),
    FieldDef("statusReason", "string", 255, updateable=False),
    FieldDef("trackName", "string", 255, updateable=False),
    FieldDef("updatedAt", "datetime", updateable=False),
    FieldDef("waitlistPriority", "integer", updateable=False),
    FieldDef("myCustomField", "string", 255),
    FieldDef("registrationCode", "string", 100),
    FieldDef("webinarUrl", "string", 2000),
)
MEMBER_FIELD_NAMES = frozenset(f.name for f in MEMBER_FIELDS)

# Bulk activity columns: the default set, plus actionResult only when asked for.
ACTIVITY_DEFAULT_FIELDS: tuple[str, ...] = (
    "marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId",
    "primaryAttributeValueId", "primaryAttributeValue", "attributes",
)
ACTIVITY_FIELDS: tuple[str, ...] = (*ACTIVITY_DEFAULT_FIELDS, "actionResult")
ACTION_RESULTS: tuple[str, ...] = ("succeeded", "skipped", "failed")
DELETE_LEAD_TYPE_ID = 37


def _attr(name: str, data_type: str) -> dict[str, str]:
    return {"name": name, "dataType": data_type}


# activities/types.json; "primaryAttribute" absent on some, "attributes" empty or absent on some.
ACTIVITY_TYPES: tuple[dict[str, Any], ...] = (
    {"id": 1, "name": "Visit Webpage", "description": "User visits a web page",
     "primaryAttribute": _attr("Webpage ID", "integer"),
     "attributes": [_attr("Client IP Address", "string"), _attr("Query Parameters", "string"),
                    _attr("Referrer URL", "string"), _attr("User Agent", "string"),
                    _attr("Webpage URL", "string")]},
    {"id": 2, "name": "Fill Out Form", "description": "User fills out and submits form on web page",
     "primaryAttribute": _attr("Webform ID", "integer"),
     "attributes": [_attr("Client IP Address", "string"), _attr("Form Fields", "text"),
                    _attr("Query Parameters", "string"), _attr("Referrer URL", "string"),
                    _attr("User Agent", "string"), _attr("Webpage ID", "integer")]},
    {"id": 6, "name": "Send Email", "description": "Send Marketo Email to a person",
     "primaryAttribute": _attr("Mailing ID", "integer"),
     "attributes": [_attr("Campaign Run ID", "integer"), _attr("Choice Number", "integer"),
                    _attr("Step ID", "integer")]},
    {"id": 11, "name": "Click Email", "description": "User clicks on a link in a Marketo Email",
     "primaryAttribute": _attr("Mailing ID", "integer"),
     "attributes": [_attr("Link", "string"), _attr("Is Mobile Device", "boolean"),
                    _attr("Device", "string"), _attr("Link ID", "string")]},
    {"id": 12, "name": "New Lead", "description": "New person",
     "attributes": [_attr("Created Date", "date"), _attr("Form Name", "string"),
                    _attr("Lead Source", "string"), _attr("List Name", "string"),
                    _attr("Source Type", "string")]},
    {"id": 13, "name": "Change Data Value", "description": "Changed attribute value for a person",
     "primaryAttribute": _attr("Attribute Name", "integer"),
     "attributes": [_attr("New Value", "string"), _attr("Old Value", "string"),
                    _attr("Reason", "string"), _attr("Source", "string")]},
    {"id": 22, "name": "Change Score", "description": "Change a score",
     "primaryAttribute": _attr("Score Name", "integer"),
     "attributes": [_attr("Change Value", "string"), _attr("New Value", "integer"),
                    _attr("Old Value", "integer"), _attr("Reason", "string")]},
    {"id": 25, "name": "Remove from List", "description": "Remove from a static list",
     "primaryAttribute": _attr("List ID", "integer"), "attributes": []},
    {"id": 32, "name": "Merge Leads", "description": "Merge two or more persons"},
    {"id": DELETE_LEAD_TYPE_ID, "name": "Delete Lead", "description": "Delete a person",
     "primaryAttribute": _attr("Lead ID", "integer"),
     "attributes": [_attr("Campaign", "string")]},
    {"id": 104, "name": "Change Status in Progression",
     "description": "Change a program member status in a program",
     "primaryAttribute": _attr("Program ID", "integer"),
     "attributes": [_attr("Acquired By", "boolean"), _attr("New Status ID", "integer"),
                    _attr("New Status", "string"), _attr("Old Status ID", "integer"),
                    _attr("Old Status", "string"), _attr("Program Member ID", "integer"),
                    _attr("Reason", "string"), _attr("Success", "boolean")]},
    {"id": 100001, "name": "Attended Trade Show", "apiName": "attendedTradeShow_c",
     "description": "Custom activity: badge scanned at a trade show",
     "primaryAttribute": _attr("Trade Show Name", "string"),
     "attributes": [_attr("Booth Visited", "boolean"), _attr("Badge Scans", "integer"),
                    _attr("Spend", "float"), _attr("Notes", "string"),
                    # custom activity attributes take any field dataType (api-notes section 9)
                    _attr("Opportunity ID", "reference"), _attr("Discount", "percent"),
                    _attr("Deal Size", "currency"), _attr("Scanned At", "datetime"),
                    _attr("Follow-up Date", "date"), _attr("Contact Email", "email")]},
    # A primary attribute of dataType reference: primaryAttributeValue holds a CRM id.
    {"id": 100002, "name": "Signed Contract", "apiName": "signedContract_c",
     "description": "Custom activity: a contract signed in the CRM",
     "primaryAttribute": _attr("Contract ID", "reference"),
     "attributes": [_attr("Account ID", "reference"), _attr("Term Months", "integer")]},
)
BULK_ACTIVITY_TYPES: tuple[dict[str, Any], ...] = tuple(
    t for t in ACTIVITY_TYPES if t["id"] != DELETE_LEAD_TYPE_ID
)
