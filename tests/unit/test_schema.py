"""schema.py: Marketo dataType -> JSON schema, describe -> properties, per-column coercers."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tap_marketo_bulk.records.schema import (
    apply_type_overrides,
    build_coercer,
    describe_data_types,
    describe_to_properties,
    json_schema_for,
    json_type_name_for,
    keep_text,
    type_name,
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
        ("reference", STRING),  # a key to another record (api-notes section 9)
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
        ("reference", "0015000000aBcDeAAA", "0015000000aBcDeAAA"),  # Salesforce 18-char id
        ("reference", "001656783185136518", "001656783185136518"),  # leading zeros kept
        ("reference", "1234", "1234"),
        ("percent", "0.5", 0.5),
        ("date", "2020-02-29", "2020-02-29"),
        ("datetime", "2010-03-27T18:27:45Z+0000", "2010-03-27T18:27:45Z"),  # Asset API style
        ("datetime", "2024-01-05T10:00:00+01:00", "2024-01-05T10:00:00+01:00"),
        ("string", "02134", "02134"),
        ("text", "00123", "00123"),
        ("phone", "0044 20 7946 0000", "0044 20 7946 0000"),
        ("url", "https://example.com/?a=1", "https://example.com/?a=1"),
        ("array", '["a"]', '["a"]'),  # unknown dataTypes keep the text
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


@pytest.mark.parametrize("data_type", ["string", "reference", "url", "unknown"])
def test_text_columns_keep_the_same_string_object(data_type: str) -> None:
    coerce = build_coercer(json_schema_for(data_type) or {})
    assert coerce is keep_text
    text = "".join(["0015000000", "aBcDeAAA"])
    assert coerce(text) is text


@pytest.mark.parametrize(
    ("data_type", "parts"),
    [("date", ("2024-01", "-05")), ("datetime", ("2024-01-05", "T00:00:00Z"))],
)
def test_dates_and_datetimes_in_bulk_form_come_back_as_the_same_object(
    data_type: str, parts: tuple[str, str]
) -> None:
    text = "".join(parts)
    assert build_coercer(json_schema_for(data_type) or {})(text) is text


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
        ("score", "0015000000aBcDeAAA"),
        ("percent", "12%"),
        # dates vs datetimes: a value of one in a column of the other is refused, not truncated
        ("date", "2024-01-05T10:00:00Z"),
        ("date", "2024-02-30"),
        ("date", "05/01/2024"),
        ("datetime", "2024-01-05"),
        ("datetime", "yesterday"),
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


# ----- describe data types and type_overrides -----------------------------------------------


def test_describe_data_types_names_every_field_including_formulas() -> None:
    fields = [
        {"name": "sfdcAccountId", "dataType": "reference"},
        {"name": "mktoName", "dataType": "formula"},
        {"id": 3, "dataType": "string", "rest": {"name": "company"}},
    ]
    assert describe_data_types(fields) == {
        "sfdcAccountId": "reference",
        "mktoName": "formula",
        "company": "string",
    }


@pytest.mark.parametrize(
    ("json_type", "text", "value"),
    [
        ("string", "0015000000aBcDeAAA", "0015000000aBcDeAAA"),
        ("integer", "42", 42),
        ("number", "12.5", 12.5),
        ("boolean", "true", True),
        ("date", "2024-01-05", "2024-01-05"),
        ("date-time", "2024-01-05T00:00:00Z", "2024-01-05T00:00:00Z"),
    ],
)
def test_type_overrides_force_the_column_type_and_its_coercer(
    json_type: str, text: str, value: Any
) -> None:
    schema = {"type": "object", "properties": {"col": {"type": ["object", "null"]}, "id": INTEGER}}
    forced = apply_type_overrides(schema, {"col": json_type}, "leads")
    assert forced["properties"]["id"] == INTEGER
    assert type_name(forced["properties"]["col"]) == json_type
    coerced = build_coercer(forced["properties"]["col"])(text)
    assert coerced == value and type(coerced) is type(value)
    assert schema["properties"]["col"] == {"type": ["object", "null"]}  # the input is untouched


def test_type_override_of_a_missing_column_warns_and_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    schema = {"type": "object", "properties": {"id": INTEGER}}
    with caplog.at_level(logging.WARNING):
        assert apply_type_overrides(schema, {"idd": "string"}, "leads") == schema
    assert "leads" in caplog.text and "'idd'" in caplog.text


def test_type_override_with_an_unknown_type_is_refused() -> None:
    schema = {"type": "object", "properties": {"id": INTEGER}}
    with pytest.raises(ValueError, match=r"leads\.id: .str. is not one of string, integer"):
        apply_type_overrides(schema, {"id": "str"}, "leads")


@pytest.mark.parametrize(
    ("data_type", "name"),
    [("reference", "string"), ("score", "integer"), ("percent", "number"),
     ("datetime", "date-time"), ("date", "date"), ("boolean", "boolean"), ("array", "string")],
)  # fmt: skip
def test_json_type_name_for_a_data_type(data_type: str, name: str) -> None:
    assert json_type_name_for(data_type) == name
