"""An independent reading of a bulk export file, and the values Marketo's dataTypes say it holds.

Written apart from the tap (no csv module, no tap code): a character-by-character reader of
RFC 4180 plus the one rule Marketo's files need (a quote inside a quoted value that is not
followed by a delimiter or the line end is part of the value), and a table of what each
documented dataType holds (shared/marketo-docs/api-notes.md section 9).
"""

from __future__ import annotations

import json
from typing import Any

NULL = "null"  # how Marketo writes an empty value (api-notes section 7)


def read_csv(text: str) -> list[list[str]]:
    """Rows of fields, one character at a time."""
    rows: list[list[str]] = []
    row: list[str] = []
    value: list[str] = []
    quoted = False  # inside a quoted value
    was_quoted = False  # the current value started with a quote
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if quoted:
            if c == '"':
                following = text[i + 1] if i + 1 < n else ""
                if following == '"':
                    value.append('"')
                    i += 2
                    continue
                if following in (",", "\r", "\n", ""):
                    quoted = False
                else:
                    value.append('"')  # unescaped: part of the value
            else:
                value.append(c)
            i += 1
            continue
        if c == '"' and not value and not was_quoted:
            quoted = was_quoted = True
        elif c == ",":
            row.append("".join(value))
            value, was_quoted = [], False
        elif c in "\r\n":
            if c == "\r" and text[i + 1 : i + 2] == "\n":
                i += 1
            row.append("".join(value))
            rows.append(row if row != [""] or was_quoted else [])
            row, value, was_quoted = [], [], False
        else:
            value.append(c)
        i += 1
    if value or row or was_quoted:
        row.append("".join(value))
        rows.append(row)
    return [r for r in rows if r]


# What a value of each Marketo dataType is, from its text. Text types keep the text itself.
_INTEGER_TYPES = {"integer", "score"}
_NUMBER_TYPES = {"float", "currency", "percent"}
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


def expected_value(text: str, data_type: str) -> Any:
    """The value a column of Marketo `data_type` holds for `text` (None for `null`)."""
    if text == NULL:
        return None
    kind = data_type.strip().lower()
    if kind in _INTEGER_TYPES:
        return int(text)
    if kind in _NUMBER_TYPES:
        return float(text)
    if kind == "boolean":
        return _BOOLEANS[text]
    if kind == "json object":  # the activities `attributes` column
        value = json.loads(text)
        assert isinstance(value, dict), text
        return value
    return text  # string, text, email, reference, date, datetime, ... : the very text


# The activity file's columns (Marketo's Bulk Activity Extract reference, api-notes section 6).
ACTIVITY_DATA_TYPES = {
    "marketoGUID": "string",
    "leadId": "integer",
    "activityDate": "datetime",
    "activityTypeId": "integer",
    "campaignId": "integer",
    "primaryAttributeValueId": "integer",
    "primaryAttributeValue": "string",
    "attributes": "json object",
    "actionResult": "string",
}


def field_name(field: dict) -> str | None:
    """A describe field's API name: `name`, or the legacy describe's `rest.name`."""
    return field.get("name") or (field.get("rest") or {}).get("name")


def field_data_type(field: dict) -> str:
    """`dataType`, or embulk-input-marketo's own `marketoDataType` (upper case)."""
    return str(field.get("dataType") or field.get("marketoDataType") or "")


# The JSON type (and format) each documented dataType is (api-notes section 9; `link`: Adobe's
# OpenAPI spec, custom activity type attributes). Anything else is kept as text, with a warning.
DOCUMENTED_JSON_TYPES: dict[str, tuple[str, str | None]] = {
    **dict.fromkeys(
        ("string", "text", "textarea", "email", "phone", "url", "reference", "link"),
        ("string", None),
    ),
    **dict.fromkeys(("integer", "score"), ("integer", None)),
    **dict.fromkeys(("float", "currency", "percent"), ("number", None)),
    "boolean": ("boolean", None),
    "date": ("string", "date"),
    "datetime": ("string", "date-time"),
}
NOT_EXPORTABLE = "formula"
