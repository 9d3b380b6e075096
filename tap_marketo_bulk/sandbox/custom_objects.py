"""Custom objects: their definitions, their rows and the ground truth of each (api-notes §10).

Two lead-linked objects (`car_c`, `course_c`) hold every documented dataType between them, with
values typed as Marketo's field-types page describes them (api-notes §9): `reference` is a string
(CRM ids, leading zeros and letters kept), percent carries decimals, text keeps NUL, CR, newlines,
U+2028 and number-like strings such as "02134". One object (`companyAsset_c`) is linked to a
company, not to a lead: Marketo lists and describes it, but bulk export refuses it.
"""

from __future__ import annotations

import bisect
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .catalog import FieldDef
from .config import SandboxConfig
from .timeline import window_edges
from .timeutil import iso
from .values import GENERATORS, MULTILINE_STRINGS, TRICKY_STRINGS

CUSTOM_OBJECT_PREFIX = "customobjects/"
ID_FIELD = "marketoGUID"
# Text that looks like a number: a tap typing it from the values would lose zeros or letters.
NUMBER_LIKE_STRINGS: tuple[str, ...] = ("02134", "007", "0", "1e5", "00123.40", "-0", "+1")
LONG_TEXT = "long textarea " + "x" * 5000 + " end"
CRM_ID_PREFIXES: tuple[str, ...] = ("001", "003", "006", "00Q", "a0B")


@dataclass(frozen=True)
class CustomObjectDef:
    """One custom object as customobjects.json and describe.json report it."""

    name: str  # API name: the path segment of every other call
    display_name: str
    description: str
    related_to: str  # "Lead" or "Company"
    link_field: str  # the relationship's field on this object ("leadID", "companyId")
    dedupe_field: str
    attributes: tuple[FieldDef, ...]  # the object's own fields, after the standard four
    created_at: str = "2022-06-01T09:00:00Z"
    updated_at: str = "2023-02-10T14:30:00Z"

    @property
    def lead_linked(self) -> bool:
        return self.related_to == "Lead"

    @property
    def fields(self) -> tuple[FieldDef, ...]:
        """Describe order: createdAt, updatedAt, marketoGUID, the link field, then attributes."""
        return (
            FieldDef("createdAt", "datetime", updateable=False, display_name="Created At"),
            FieldDef("updatedAt", "datetime", updateable=False, display_name="Updated At"),
            FieldDef(ID_FIELD, "string", 36, updateable=False, display_name="Marketo GUID"),
            FieldDef(self.link_field, "integer", display_name=self.link_field),
            *self.attributes,
        )

    def list_item(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "description": self.description,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "idField": ID_FIELD,
            "dedupeFields": [self.dedupe_field],
            "searchableFields": [[self.dedupe_field], [ID_FIELD], [self.link_field]],
            "relationships": [
                {
                    "field": self.link_field,
                    "type": "child",
                    "relatedTo": {"name": self.related_to, "field": "Id"},
                }
            ],
        }

    def describe(self) -> dict[str, Any]:
        return {**self.list_item(), "fields": [f.describe() for f in self.fields]}


CUSTOM_OBJECTS: tuple[CustomObjectDef, ...] = (
    CustomObjectDef(
        "car_c",
        "Car",
        "Cars a person owns",
        "Lead",
        "leadID",
        "vIN",
        (
            FieldDef("vIN", "string", 17, display_name="VIN"),
            FieldDef("make", "string", 255, display_name="Make"),
            FieldDef("model", "text", display_name="Model"),
            FieldDef("year", "integer", display_name="Year"),
            FieldDef("price", "currency", display_name="Price"),
            FieldDef("mileage", "float", display_name="Mileage"),
            FieldDef("purchaseDate", "date", display_name="Purchase Date"),
            FieldDef("lastServiceAt", "datetime", display_name="Last Service"),
            FieldDef("isLeased", "boolean", display_name="Leased"),
            FieldDef("notes", "textarea", display_name="Notes"),
            FieldDef("dealerEmail", "email", 255, display_name="Dealer Email"),
            FieldDef("dealerPhone", "phone", 255, display_name="Dealer Phone"),
            FieldDef("listingUrl", "url", 255, display_name="Listing URL"),
            FieldDef("crmAccountId", "reference", display_name="CRM Account Id"),
        ),
    ),
    CustomObjectDef(
        "course_c",
        "Course Enrollment",
        "Courses a person enrolled in",
        "Lead",
        "leadID",
        "enrollmentCode",
        (
            FieldDef("enrollmentCode", "string", 40, display_name="Enrollment Code"),
            FieldDef("title", "string", 255, display_name="Course Title"),
            FieldDef("summary", "textarea", display_name="Summary"),
            FieldDef("completionPercent", "percent", display_name="Completion"),
            FieldDef("grade", "float", display_name="Grade"),
            FieldDef("engagementScore", "score", display_name="Engagement Score"),
            FieldDef("credits", "integer", display_name="Credits"),
            FieldDef("fee", "currency", display_name="Fee"),
            FieldDef("startDate", "date", display_name="Start Date"),
            FieldDef("completedAt", "datetime", display_name="Completed At"),
            FieldDef("certified", "boolean", display_name="Certified"),
            FieldDef("instructorEmail", "email", 255, display_name="Instructor Email"),
            FieldDef("supportPhone", "phone", 255, display_name="Support Phone"),
            FieldDef("syllabusUrl", "url", 255, display_name="Syllabus URL"),
            FieldDef("opportunityId", "reference", display_name="Opportunity Id"),
            FieldDef("externalCourseId", "reference", display_name="External Course Id"),
        ),
    ),
    CustomObjectDef(
        "companyAsset_c",
        "Company Asset",
        "Licenses held by an account",
        "Company",
        "companyId",
        "assetTag",
        (
            FieldDef("assetTag", "string", 40, display_name="Asset Tag"),
            FieldDef("seats", "integer", display_name="Seats"),
            FieldDef("renewalDate", "date", display_name="Renewal Date"),
        ),
    ),
)


def crm_id(rng: random.Random) -> str:
    """A CRM foreign key: mostly 18-character Salesforce ids, some digits with leading zeros."""
    if rng.random() < 0.3:
        return "00" + "".join(rng.choice(string.digits) for _ in range(16))
    body = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(12))
    suffix = "".join(rng.choice(string.ascii_uppercase) for _ in range(3))
    return rng.choice(CRM_ID_PREFIXES) + body + suffix


def _text_value(rng: random.Random, data_type: str, span: tuple[int, int]) -> Any:
    roll = rng.random()
    if roll < 0.15:
        return rng.choice(NUMBER_LIKE_STRINGS)
    return GENERATORS[data_type](rng, span)


def _value_for(data_type: str) -> Callable[[random.Random, tuple[int, int]], Any]:
    if data_type == "reference":
        return lambda rng, span: crm_id(rng)
    if data_type in ("string", "text", "textarea"):
        return lambda rng, span: _text_value(rng, data_type, span)
    return GENERATORS[data_type]


def _must_show(data_type: str) -> list[Any]:
    """Values each column of this type holds at least once (the hard cases)."""
    if data_type == "string":
        return [*TRICKY_STRINGS, *NUMBER_LIKE_STRINGS]
    if data_type in ("text", "textarea"):
        return [*TRICKY_STRINGS, *MULTILINE_STRINGS, *NUMBER_LIKE_STRINGS, LONG_TEXT]
    if data_type == "reference":
        return ["0015000000aBcDeAAA", "001656783185136518", "00Q000000000001"]
    if data_type == "percent":
        return [12.5, 99.99, 0.01]
    return []


@dataclass
class CustomObjectTable:
    """The rows of one custom object, each a dict of typed values (describe field -> value)."""

    definition: CustomObjectDef
    rows: list[dict[str, Any]] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)  # epoch of each row's updatedAt

    def add(self, row: dict[str, Any], updated_at: int) -> None:
        self.rows.append(row)
        self.updated.append(updated_at)


class CustomObjectStore:
    """Every custom object of the instance, and the subscription switches that concern them."""

    def __init__(self, config: SandboxConfig, lead_ids: list[int], span: tuple[int, int]) -> None:
        self.enabled = config.custom_objects  # False: the subscription has none
        self.access = config.custom_object_access  # False: the role lacks the permission (603)
        self.edge_slack = config.custom_object_edge_slack_seconds
        self.definitions = {d.name: d for d in CUSTOM_OBJECTS} if self.enabled else {}
        self.tables: dict[str, CustomObjectTable] = {}
        rng = random.Random(f"{config.seed}:custom-objects")
        for definition in self.definitions.values():
            count = config.custom_object_rows if definition.lead_linked else 20
            self.tables[definition.name] = _generate(rng, definition, count, lead_ids, span)

    def definition(self, name: str) -> CustomObjectDef | None:
        return self.definitions.get(name)

    def update(
        self, rng: random.Random, count: int, earliest: int, latest: int
    ) -> dict[str, list[str]]:
        """Change `count` rows of each lead-linked object: new attribute values and an updatedAt
        in [earliest, latest]; marketoGUID, the link and createdAt stay. Their GUIDs by object."""
        changed: dict[str, list[str]] = {}
        for name, table in self.tables.items():
            definition = table.definition
            if not definition.lead_linked:
                continue
            positions = sorted(rng.sample(range(len(table.rows)), min(count, len(table.rows))))
            for pos in positions:
                updated = rng.randint(earliest, latest)
                row = table.rows[pos]
                for attribute in definition.attributes:
                    row[attribute.name] = _value_for(attribute.data_type)(rng, (earliest, latest))
                row["updatedAt"] = iso(updated)
                table.updated[pos] = updated
            changed[name] = [table.rows[pos][ID_FIELD] for pos in positions]
        return changed

    def truth(self, name: str) -> list[dict[str, Any]]:
        """Rows of `name` ordered by marketoGUID: exactly what a correct tap emits."""
        rows = [dict(row) for row in self.tables[name].rows]
        rows.sort(key=lambda row: row[ID_FIELD])
        return rows


def _generate(
    rng: random.Random,
    definition: CustomObjectDef,
    count: int,
    lead_ids: list[int],
    span: tuple[int, int],
) -> CustomObjectTable:
    start, end = span
    edges = sorted(t for edge in window_edges(start, end) for t in (edge - 1, edge, edge + 1))
    table = CustomObjectTable(definition)
    makers = {f.name: _value_for(f.data_type) for f in definition.attributes}
    forced = {f.name: _must_show(f.data_type) for f in definition.attributes}
    for index in range(count):
        created = rng.randint(start, end)
        roll = rng.random()
        later_edges = edges[bisect.bisect_left(edges, created) :]
        if roll < 0.3:
            updated = created  # never changed since creation
        elif roll < 0.45 and later_edges:
            updated = rng.choice(later_edges)  # changed right at a window edge
        else:
            updated = rng.randint(created, end)
        row: dict[str, Any] = {
            "createdAt": iso(created),
            "updatedAt": iso(updated),
            ID_FIELD: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            definition.link_field: rng.choice(lead_ids) if lead_ids else 1,
        }
        for attribute in definition.attributes:
            must = forced[attribute.name]
            if index < len(must):
                row[attribute.name] = must[index]
            elif rng.random() < 0.08:
                row[attribute.name] = None
            else:
                row[attribute.name] = makers[attribute.name](rng, span)
        table.add(row, updated)
    return table
