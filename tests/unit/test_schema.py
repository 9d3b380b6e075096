"""schema.py: Marketo dataType -> JSON schema, describe -> properties, per-column coercers."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tap_marketo_bulk.records.schema import (
    build_coercer,
    describe_to_properties,
    json_schema_for,
    keep_text,
)

STRING = {"type": ["string", "null"]}
INTEGER = {"type": ["integer", "null"]}
NUMBER = {"type": ["number", "null"]}
BOOLEAN = {"type": ["boolean", "null"]}
DATE = {"type": ["string", "null"], "format": "date"}
DATE_TIME = {"type": ["string", "null"], "format": "date-time"}


@pytest.mark.parametrize(
    ("data_type", "schema"),
    [
        ("string", STRING),
        ("text", STRING),
        ("textarea", STRING),
        ("email", STRING),
        ("phone", STRING),
        ("url", STRING),
        ("integer", INTEGER),
        ("score", INTEGER),
        ("reference", INTEGER),
        ("percent", NUMBER),
        ("float", NUMBER),
        ("currency", NUMBER),
        ("boolean", BOOLEAN),
        ("date", DATE),
        ("datetime", DATE_TIME),
        ("lead_function", STRING),
        ("array", STRING),
        ("something_new", STRING),
        ("", STRING),
    ],
)
def test_json_schema_for_every_data_type(data_type: str, schema: dict) -> None:
    assert json_schema_for(data_type) == schema


def test_formula_is_not_exportable() -> None:
    assert json_schema_for("formula") is None


def test_json_schema_for_returns_a_fresh_dict_each_time() -> None:
    first = json_schema_for("string")
    assert first is not None
    first["maxLength"] = 10
    assert json_schema_for("string") == STRING


def test_describe_to_properties_maps_fields_and_skips_formulas(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fields = [
        {"name": "annualRevenue", "displayName": "Annual Revenue", "dataType": "currency"},
        {"name": "AccountSource", "dataType": "string", "length": 40, "updateable": True},
        {"name": "id", "dataType": "integer"},
        {"name": "updatedAt", "dataType": "datetime"},
        {"name": "computed", "dataType": "formula"},
        {"name": "isExhausted", "dataType": "boolean"},
    ]
    with caplog.at_level(logging.WARNING):
        properties = describe_to_properties(fields, logging.getLogger("test"))
    assert properties == {
        "annualRevenue": NUMBER,
        "AccountSource": STRING,
        "id": INTEGER,
        "updatedAt": DATE_TIME,
        "isExhausted": BOOLEAN,
    }
    assert caplog.records == []


def test_describe_to_properties_warns_once_per_unknown_data_type(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fields = [
        {"name": "leadFunction", "dataType": "lead_function"},
        {"name": "tags", "dataType": "array"},
        {"name": "otherFunction", "dataType": "lead_function"},
        {"name": "email", "dataType": "email"},
    ]
    with caplog.at_level(logging.WARNING):
        properties = describe_to_properties(fields, logging.getLogger("test"))
    assert properties["leadFunction"] == properties["tags"] == STRING
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    (lead_function_warning,) = [w for w in warnings if "lead_function" in w]
    assert "leadFunction" in lead_function_warning and "otherFunction" in lead_function_warning
    (array_warning,) = [w for w in warnings if "'array'" in w]
    assert "tags" in array_warning


def test_describe_to_properties_reads_the_legacy_rest_name() -> None:
    fields = [
        {"id": 2, "displayName": "Company", "dataType": "string", "rest": {"name": "company"}},
        {"id": 3, "displayName": "SOAP only", "dataType": "string", "soap": {"name": "X"}},
    ]
    assert describe_to_properties(fields) == {"company": STRING}


# ----- coercers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_type", "text", "value"),
    [
        ("integer", "5", 5),
        ("integer", "-42", -42),
        ("integer", "5.0", 5),
        ("integer", "-3.00", -3),
        ("integer", "12345678901234567890", 12345678901234567890),
        ("integer", "12345678901234567890.0", 12345678901234567890),  # exact, not via float
        ("score", "100", 100),
        ("reference", "1234", 1234),
        ("float", "5.0", 5.0),
        ("float", "-0.25", -0.25),
        ("currency", "1234567.89", 1234567.89),
        ("percent", "12.5", 12.5),
        ("percent", "100", 100.0),
        ("boolean", "true", True),
        ("boolean", "false", False),
        ("boolean", "TRUE", True),
        ("boolean", "False", False),
        ("boolean", "1", True),
        ("boolean", "0", False),
        ("date", "2017-09-08", "2017-09-08"),
        ("datetime", "2017-09-08T16:39:14Z", "2017-09-08T16:39:14Z"),
        ("string", "hello", "hello"),
        ("textarea", "a\r\nb\x00c\u2028", "a\r\nb\x00c\u2028"),
        ("email", "a@b.c", "a@b.c"),
        ("lead_function", "Sales", "Sales"),
    ],
)
def test_coercer_for_every_data_type(data_type: str, text: str, value: Any) -> None:
    schema = json_schema_for(data_type)
    assert schema is not None
    coerced = build_coercer(schema)(text)
    assert coerced == value
    assert type(coerced) is type(value)


@pytest.mark.parametrize("data_type", ["string", "date", "datetime", "url", "unknown"])
def test_text_columns_keep_the_same_string_object(data_type: str) -> None:
    coerce = build_coercer(json_schema_for(data_type) or {})
    assert coerce is keep_text
    text = "".join(["2024-01-05", "T00:00:00Z"])
    assert coerce(text) is text


def test_number_coercer_is_the_float_builtin() -> None:
    assert build_coercer(NUMBER) is float


@pytest.mark.parametrize(
    ("data_type", "text"),
    [
        ("integer", "5.5"),
        ("integer", "abc"),
        ("integer", ""),
        ("integer", "Infinity"),
        ("integer", "NaN"),
        ("float", "1,5"),
        ("currency", "$12"),
        ("boolean", "yes"),
        ("boolean", "2"),
        ("boolean", ""),
    ],
)
def test_values_that_do_not_convert_raise_value_error_naming_the_text(
    data_type: str, text: str
) -> None:
    coerce = build_coercer(json_schema_for(data_type) or {})
    with pytest.raises(ValueError) as raised:
        coerce(text)
    assert repr(text) in str(raised.value)


def test_object_coercer_decodes_json_with_native_types() -> None:
    coerce = build_coercer({"type": ["object", "null"], "properties": {}})
    text = (
        '{"Webpage ID": 12, "Score": 1.5, "Is Mobile": false, "Referrer": null, '
        '"Query": "a=1&b=\\"x\\"", "Tags": ["a", 2], "Note": "\u2028é😀中"}'
    )
    assert coerce(text) == {
        "Webpage ID": 12,
        "Score": 1.5,
        "Is Mobile": False,
        "Referrer": None,
        "Query": 'a=1&b="x"',
        "Tags": ["a", 2],
        "Note": "\u2028é😀中",
    }


def test_object_coercer_tolerates_raw_control_characters_inside_strings() -> None:
    coerce = build_coercer({"type": ["object", "null"]})
    assert coerce('{"Comment": "line1\nline2\r\x00end"}') == {"Comment": "line1\nline2\r\x00end"}


def test_object_coercer_rejects_invalid_json_and_non_objects() -> None:
    coerce = build_coercer({"type": ["object", "null"]})
    with pytest.raises(ValueError, match="not valid JSON"):
        coerce('{"a": ')
    with pytest.raises(ValueError, match="expected a JSON dict"):
        coerce("[1, 2]")


def test_array_coercer_decodes_lists() -> None:
    assert build_coercer({"type": ["array", "null"]})('[1, "b", {"c": true}]') == [
        1,
        "b",
        {"c": True},
    ]


@pytest.mark.parametrize(
    ("schema", "text", "value"),
    [
        ({"type": "integer"}, "7", 7),  # a bare (non-list) type
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "7.0", 7),
        ({"type": ["number", "integer", "null"]}, "7", 7.0),
        ({"type": ["string", "integer", "null"]}, "7", "7"),  # string wins: nothing is lost
        ({}, "anything", "anything"),
    ],
)
def test_coercer_follows_other_schema_shapes(schema: dict, text: str, value: Any) -> None:
    assert build_coercer(schema)(text) == value
