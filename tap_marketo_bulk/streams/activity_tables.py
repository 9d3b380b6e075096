"""One table per activity type: stream names, column names, typed schemas and values (no Singer).

The rules (docs/streams/activities_by_type.md):
- a name is snake_case ASCII: accents folded (NFKD), every run of other characters one `_`,
  lower case, no leading or trailing `_`; camelCase is split only in an `apiName` (display names
  keep their words whole: `Fill Out LinkedIn Lead Gen Form` -> `fill_out_linkedin_lead_gen_form`,
  as singer-io's tap-marketo names it);
- stream `activities_<name>` from the type's `apiName` for custom types (they have one), else
  from its `name`; a name that folds to nothing becomes `activities_type_<id>`; when two types
  give the same name the lowest id keeps it and the others get `_<id>` (ids only grow, so a new
  type never renames an old table);
- a column per attribute, `snake_case(attribute name)`; a name a loader could confuse with a
  common column (same letters ignoring case and `_`: `lead_id` vs `leadId`) gets the prefix
  `attribute_`; a repeat of an earlier attribute's name gets `_2`, `_3`, ...; a name that folds to
  nothing becomes `attribute_<position>`;
- every name fits PostgreSQL's 63-byte identifiers: a longer one is cut and ends with 8 hex
  digits of its SHA-1, so two long names stay apart.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import typing as t
import unicodedata
from dataclasses import dataclass, field

from tap_marketo_bulk.records.schema import build_coercer, is_known_data_type, json_schema_for

MAX_IDENTIFIER_LENGTH = 63  # PostgreSQL's NAMEDATALEN - 1; longer names are silently cut there
STREAM_PREFIX = "activities_"
DELETE_LEAD = 37  # not exportable in bulk (deleted_leads stream)

# The columns every per-type table has: the bulk file's own columns but `attributes`, typed as in
# the `activities` stream (Marketo's Bulk Activity Extract reference).
COMMON_COLUMNS: dict[str, dict] = {
    "marketoGUID": {"type": ["string"]},
    "leadId": {"type": ["integer", "null"]},
    "activityDate": {"type": ["string", "null"], "format": "date-time"},
    "activityTypeId": {"type": ["integer", "null"]},
    "campaignId": {"type": ["integer", "null"]},
    "primaryAttributeValueId": {"type": ["integer", "null"]},
    "primaryAttributeValue": {"type": ["string", "null"]},
}

_CAMEL_LOWER_UPPER = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")  # "URLPath" -> "URL_Path"
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")


def snake_case(text: str, *, split_camel: bool = False) -> str:
    """`Fill Out Form` -> `fill_out_form`, `Follow-up Date` -> `follow_up_date`, `Prénom` ->
    `prenom`; with split_camel (API names) `attendedTradeShow_c` -> `attended_trade_show_c`;
    "" when nothing ASCII is left."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    if split_camel:
        folded = _CAMEL_ACRONYM.sub(r"\1_\2", _CAMEL_LOWER_UPPER.sub(r"\1_\2", folded))
    return _NOT_ALNUM.sub("_", folded).strip("_").lower()


def fit_identifier(name: str) -> str:
    """`name`, or when longer than 63 characters its start plus `_` and 8 hex of its SHA-1."""
    if len(name) <= MAX_IDENTIFIER_LENGTH:
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{name[: MAX_IDENTIFIER_LENGTH - 9]}_{digest}"


def loader_key(name: str) -> str:
    """What a loader may reduce a column name to (case folded, `_` dropped): equal keys clash."""
    return name.replace("_", "").lower()


def exportable_types(activity_types: t.Iterable[dict], type_ids: t.Iterable[int] | None) -> list:
    """The types a per-type stream is made for: bulk-exportable, within `type_ids` if given."""
    wanted = {int(i) for i in type_ids} if type_ids else None
    return [
        a
        for a in activity_types
        if int(a["id"]) != DELETE_LEAD and (wanted is None or int(a["id"]) in wanted)
    ]


def stream_names(activity_types: t.Iterable[dict]) -> dict[int, str]:
    """Activity type id -> its stream name, unique, by the rules above."""
    wanted: dict[int, str] = {}
    for activity_type in activity_types:
        type_id = int(activity_type["id"])
        api_name = activity_type.get("apiName")
        if api_name:
            base = snake_case(str(api_name), split_camel=True)
        else:
            base = snake_case(str(activity_type.get("name") or ""))
        wanted[type_id] = base or f"type_{type_id}"
    names: dict[int, str] = {}
    taken: set[str] = set()
    for type_id in sorted(wanted):  # the lowest id keeps a shared name
        base = STREAM_PREFIX + wanted[type_id]
        name = fit_identifier(base)
        while name in taken:
            base = f"{base}_{type_id}"
            name = fit_identifier(base)
        taken.add(name)
        names[type_id] = name
    return names


@dataclass(frozen=True)
class AttributeColumn:
    """One typed column of a per-type table, from one attribute of activities/types.json."""

    column: str  # the table's column name
    attribute: str  # the key in the bulk file's `attributes` JSON (the attribute's name)
    data_type: str  # Marketo's dataType
    schema: dict = field(hash=False)


def attribute_columns(attributes: t.Iterable[dict]) -> list[AttributeColumn]:
    """The typed columns of one activity type's attributes, named by the rules above."""
    taken = {loader_key(name) for name in COMMON_COLUMNS}
    columns: list[AttributeColumn] = []
    for position, attribute in enumerate(attributes, start=1):
        name = str(attribute.get("name") or "")
        data_type = str(attribute.get("dataType") or "string")
        schema = json_schema_for(data_type)
        if schema is None:  # formula: never in an export file
            continue
        base = snake_case(name) or f"attribute_{position}"
        if loader_key(base) in {loader_key(c) for c in COMMON_COLUMNS}:
            base = f"attribute_{base}"
        column = fit_identifier(base)
        repeat = 1
        while loader_key(column) in taken:
            repeat += 1
            column = fit_identifier(f"{base}_{repeat}")
        taken.add(loader_key(column))
        # `title` keeps Marketo's own attribute name beside the column name.
        columns.append(AttributeColumn(column, name, data_type, {**schema, "title": name}))
    return columns


def type_table_schema(activity_type: dict, logger: logging.Logger | None = None) -> dict:
    """The JSON schema of one activity type's table: common columns, then its attributes (an
    unknown dataType is a string column, with a WARNING naming it)."""
    properties = {name: dict(schema) for name, schema in COMMON_COLUMNS.items()}
    unknown = []
    for column in attribute_columns(activity_type.get("attributes") or []):
        properties[column.column] = dict(column.schema)
        if not is_known_data_type(column.data_type):
            unknown.append(f"{column.attribute!r} ({column.data_type})")
    if unknown and logger is not None:
        logger.warning(
            "Activity type %s (%s): unknown dataType of attributes %s; typed as string",
            activity_type.get("id"),
            activity_type.get("name"),
            ", ".join(unknown),
        )
    return {"type": "object", "properties": properties}


def attribute_converter(schema: dict) -> t.Callable[[t.Any], t.Any]:
    """A function turning one value of the `attributes` JSON into its column's type.

    The JSON carries numbers and booleans natively and everything else as text
    (api-notes section 9); text goes through the column's coercer (dates checked, `…Z+0000`
    normalised), a native value of the column's own type is kept, others are converted through
    their text. ValueError when a value does not fit (the caller names the column).
    """
    coerce = build_coercer(schema)
    declared = schema.get("type") or []
    types = {declared} if isinstance(declared, str) else set(declared)
    keeps_bool = "boolean" in types
    keeps_int = "integer" in types or "number" in types
    keeps_float = "number" in types
    textual = "string" in types or not types

    def convert(value: t.Any) -> t.Any:
        if value is None:
            return None
        if isinstance(value, str):
            return coerce(value)
        if isinstance(value, bool):
            if keeps_bool:
                return value
            return coerce("true" if value else "false")
        if (isinstance(value, int) and keeps_int) or (isinstance(value, float) and keeps_float):
            return value
        if isinstance(value, (dict, list)):
            text = json.dumps(value, ensure_ascii=False)
            return text if textual and schema.get("format") is None else coerce(text)
        return coerce(str(value))

    return convert
