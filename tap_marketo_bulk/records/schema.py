"""Marketo field dataTypes -> JSON schema, and one text -> value coercer per column.

The map follows Marketo's "Field Types" page dataType by dataType (shared/marketo-docs/api-notes.md
section 9), not what values happen to look like: a `reference` is a key to another record (a CRM
id such as `0015000000aBcDeAAA` or `001656783185136518`), so it is text, never a number.

Every property schema is nullable: Marketo writes an empty value as the literal `null`, which the
parser turns into None before any coercer sees the text.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

try:  # msgspec comes with singer-sdk[msgspec]; it decodes JSON about 3x faster than json.loads.
    from msgspec import DecodeError as _FastJsonError
    from msgspec.json import decode as _fast_json_decode
except ImportError:  # pragma: no cover - only without the msgspec extra
    _fast_json_decode = None
    _FastJsonError = ValueError

_LOGGER = logging.getLogger(__name__)

_STRING = {"type": ["string", "null"]}
_INTEGER = {"type": ["integer", "null"]}
_NUMBER = {"type": ["number", "null"]}
_BOOLEAN = {"type": ["boolean", "null"]}
_DATE = {"type": ["string", "null"], "format": "date"}
_DATE_TIME = {"type": ["string", "null"], "format": "date-time"}

# Marketo dataType -> JSON schema (copied on use so callers may extend what they get).
_SCHEMA_BY_DATA_TYPE: dict[str, dict[str, Any]] = {
    "string": _STRING,
    "text": _STRING,
    "textarea": _STRING,  # up to 30,000 bytes
    "email": _STRING,
    "phone": _STRING,
    "url": _STRING,
    # Custom activity type attributes (Adobe's OpenAPI spec, swagger-mapi.json, the attribute
    # `dataType` enum: string, boolean, integer, float, link, email, ...): a URL, so text.
    "link": _STRING,
    # A foreign key (CRM ids: letters, leading zeros): text, never a number.
    "reference": _STRING,
    "integer": _INTEGER,
    "score": _INTEGER,
    "percent": _NUMBER,  # documented as an integer percentage; real exports carry decimals
    "float": _NUMBER,
    "currency": _NUMBER,
    "boolean": _BOOLEAN,
    "date": _DATE,
    "datetime": _DATE_TIME,
}

# Formula fields are computed on read and the bulk API refuses them in `fields`.
NOT_EXPORTABLE_DATA_TYPES = frozenset({"formula"})


def _normalize_data_type(data_type: str) -> str:
    return str(data_type or "").strip().lower()


def is_known_data_type(data_type: str) -> bool:
    """True for the dataTypes Marketo documents (formula included)."""
    normalized = _normalize_data_type(data_type)
    return normalized in _SCHEMA_BY_DATA_TYPE or normalized in NOT_EXPORTABLE_DATA_TYPES


def json_schema_for(data_type: str) -> dict[str, Any] | None:
    """JSON schema of a Marketo dataType; None for formula (not exportable).

    Names match case-insensitively (`String`, `DATETIME`). Unknown dataTypes (seen in the
    wild: lead_function, array, object) map to a nullable string, which keeps the raw text;
    callers warn about them (see describe_to_properties).
    """
    normalized = _normalize_data_type(data_type)
    if normalized in NOT_EXPORTABLE_DATA_TYPES:
        return None
    return dict(_SCHEMA_BY_DATA_TYPE.get(normalized, _STRING))


def _field_name(field: dict[str, Any]) -> str | None:
    # describe2 and program member describe put the API name in "name"; the legacy describe.json
    # only has it under "rest" (fields without "rest" cannot be used over REST at all).
    name = field.get("name")
    if not name:
        name = (field.get("rest") or {}).get("name")
    return str(name) if name else None


def describe_data_types(fields: list[dict[str, Any]]) -> dict[str, str]:
    """API name -> Marketo dataType, from a describe `fields` list."""
    return {
        name: str(field.get("dataType") or "")
        for field in fields
        if (name := _field_name(field)) is not None
    }


def describe_to_properties(
    fields: list[dict[str, Any]], logger: logging.Logger | None = None
) -> dict[str, dict[str, Any]]:
    """Property schemas, by API name, from a describe `fields` list ({name, dataType, ...}).

    Formula fields are skipped. Unknown dataTypes become strings, with one WARNING per unknown
    dataType naming the fields that have it.
    """
    log = logger or _LOGGER
    properties: dict[str, dict[str, Any]] = {}
    fields_by_unknown_type: dict[str, list[str]] = {}
    for field in fields:
        name = _field_name(field)
        if name is None:
            continue
        data_type = field.get("dataType") or ""
        schema = json_schema_for(data_type)
        if schema is None:
            continue
        if not is_known_data_type(data_type):
            # One WARNING per unknown name, however it is spelled ("object", "Object").
            fields_by_unknown_type.setdefault(_normalize_data_type(data_type), []).append(name)
        properties[name] = schema
    for data_type, names in fields_by_unknown_type.items():
        log.warning(
            "Unknown Marketo dataType %r for field(s) %s: exported as strings",
            data_type,
            ", ".join(names),
        )
    return properties


def _schema_types(prop_schema: dict[str, Any]) -> set[str]:
    declared = prop_schema.get("type")
    if isinstance(declared, str):
        types = {declared}
    elif isinstance(declared, list):
        types = {str(t) for t in declared}
    else:
        types = set()
    for option in prop_schema.get("anyOf") or []:  # e.g. singer-sdk's optional wrappers
        if isinstance(option, dict):
            types |= _schema_types(option)
    types.discard("null")
    return types


def keep_text(text: str) -> str:
    """Coercer for text columns: the very same str object."""
    return text


def coerce_date(text: str) -> str:
    """A `YYYY-MM-DD` date, returned as the same str object; anything else (a datetime in a
    column the catalog calls a date, say) raises instead of reaching a date column."""
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            date.fromisoformat(text)  # C; also rejects 2024-02-30
            return text
        except ValueError:
            pass
    raise ValueError(f"not a date (YYYY-MM-DD): {text!r}")


_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")


def coerce_date_time(text: str) -> str:
    """An ISO 8601 datetime as text. Bulk files write `2017-09-08T16:39:14Z` (returned as the
    same str object); the Asset API's `2010-03-27T18:27:45Z+0000` loses its redundant `+0000`;
    a date or other text raises."""
    if len(text) == 20 and text[10] == "T" and text[19] == "Z":  # the bulk files' form
        return text
    if text.endswith("Z+0000"):
        text = text[:-5]
    if _ISO_DATE_TIME.fullmatch(text):
        return text
    raise ValueError(f"not a datetime (ISO 8601): {text!r}")


def coerce_integer(text: str) -> int:
    """Integer from its text; also "5.0" (Marketo writes some integers like floats)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"not an integer: {text!r}") from None
    # Decimal rather than float: exact for large ids, and "5.5" must fail rather than truncate.
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"not an integer: {text!r}")
    return int(value)


_BOOLEAN_BY_TEXT = {"true": True, "false": False, "1": True, "0": False}


def coerce_boolean(text: str) -> bool:
    """true/false (any case) or 1/0 (older program member files)."""
    try:
        return _BOOLEAN_BY_TEXT[text]
    except KeyError:
        pass
    value = _BOOLEAN_BY_TEXT.get(text.strip().lower())
    if value is None:
        raise ValueError(f"not a boolean: {text!r}")
    return value


def _decode_json(text: str) -> Any:
    if _fast_json_decode is not None:
        try:
            return _fast_json_decode(text)
        except (_FastJsonError, ValueError):
            pass  # json below is laxer (raw control characters in strings) and names the error
    try:
        return json.loads(text, strict=False)
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc}): {text!r}") from None


def _json_coercer(expected_type: type | None) -> Callable[[str], Any]:
    if expected_type is None:
        return _decode_json

    def coerce_json(text: str) -> Any:
        value = _decode_json(text)
        if not isinstance(value, expected_type):
            raise ValueError(f"expected a JSON {expected_type.__name__}, got {text!r}")
        return value

    return coerce_json


def build_coercer(prop_schema: dict[str, Any]) -> Callable[[str], Any]:
    """The function turning a column's raw CSV text (never the literal `null`) into its value.

    Built once per column. Strings come back as the same str object (`keep_text`, which callers
    may test for by identity to skip the call); dates and date-times are checked. A value that
    does not convert raises ValueError naming the text.
    """
    types = _schema_types(prop_schema)
    if types == {"string"} and prop_schema.get("format") == "date":
        return coerce_date
    if types == {"string"} and prop_schema.get("format") == "date-time":
        return coerce_date_time
    if not types or "string" in types:
        return keep_text
    if types == {"integer"}:
        return coerce_integer
    if types <= {"integer", "number"}:
        return float  # the builtin itself: no wrapper call, and its ValueError names the text
    if types == {"boolean"}:
        return coerce_boolean
    if types == {"object"}:
        return _json_coercer(dict)
    if types == {"array"}:
        return _json_coercer(list)
    if types <= {"object", "array"}:
        return _json_coercer(None)
    # A mix no single conversion serves (e.g. boolean + integer): keep the text, lose nothing.
    return keep_text


# ----- type_overrides -----------------------------------------------------------------------------

# The JSON types a column can be forced to (setting type_overrides), by name.
OVERRIDE_SCHEMAS: dict[str, dict[str, Any]] = {
    "string": _STRING,
    "integer": _INTEGER,
    "number": _NUMBER,
    "boolean": _BOOLEAN,
    "date": _DATE,
    "date-time": _DATE_TIME,
}


def type_name(prop_schema: Mapping[str, Any]) -> str:
    """A property's JSON type in the words of type_overrides ("integer", "date-time", ...)."""
    types = _schema_types(dict(prop_schema))
    if types == {"string"} and prop_schema.get("format") in ("date", "date-time"):
        return str(prop_schema["format"])
    return "/".join(sorted(types)) or "any"


def json_type_name_for(data_type: str) -> str:
    """The type_overrides name of a Marketo dataType's JSON type (unknown types: "string")."""
    schema = json_schema_for(data_type)
    return type_name(schema) if schema else "string"


def apply_type_overrides(
    schema: dict[str, Any],
    overrides: Mapping[str, str] | None,
    stream: str,
    logger: logging.Logger | None = None,
) -> dict[str, Any]:
    """`schema` (an object schema) with the JSON type of each overridden column forced.

    The stream's coercers are built from its schema, so the override holds in discovery and in
    every value read. A column the schema lacks is reported (WARNING) and skipped.
    """
    if not overrides:
        return schema
    properties = dict(schema.get("properties") or {})
    for column, json_type in overrides.items():
        if column not in properties:
            (logger or _LOGGER).warning(
                "type_overrides: stream %s has no column %r; override ignored", stream, column
            )
            continue
        if json_type not in OVERRIDE_SCHEMAS:
            raise ValueError(
                f"type_overrides: {stream}.{column}: {json_type!r} is not one of "
                + ", ".join(OVERRIDE_SCHEMAS)
            )
        forced = dict(OVERRIDE_SCHEMAS[json_type])
        if properties[column].get("description"):
            forced["description"] = properties[column]["description"]
        properties[column] = forced
    return {**schema, "properties": properties}
