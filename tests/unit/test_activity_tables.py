"""activities_by_type: stream and column naming rules, and typing of attribute values."""

from __future__ import annotations

import re

import pytest

from tap_marketo_bulk.streams.activity_tables import (
    COMMON_COLUMNS,
    attribute_columns,
    attribute_converter,
    exportable_types,
    loader_key,
    snake_case,
    stream_names,
    type_table_schema,
)

VALID_IDENTIFIER = re.compile(r"^[a-z0-9_]{1,63}$")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fill Out Form", "fill_out_form"),
        ("Send Email", "send_email"),
        # Display names keep their words whole (singer-io's tap-marketo gives the same names).
        ("Fill Out LinkedIn Lead Gen Form", "fill_out_linkedin_lead_gen_form"),
        ("Add to SFDC Campaign", "add_to_sfdc_campaign"),
        ("marketoGUID", "marketoguid"),
        ("Follow-up Date", "follow_up_date"),
        ("Client IP Address", "client_ip_address"),
        ("Webform ID", "webform_id"),
        ("  Spaces,   commas; (and) dots.  ", "spaces_commas_and_dots"),
        ("Prénom / Société", "prenom_societe"),
        ("Größe", "groe"),  # ß has no ASCII decomposition: dropped, never a non-ASCII name
        ("2nd Touch", "2nd_touch"),
        ("フォーム送信", ""),
        ("😀", ""),
        ("___", ""),
    ],
)
def test_snake_case(text: str, expected: str) -> None:
    assert snake_case(text) == expected


@pytest.mark.parametrize(
    ("api_name", "expected"),
    [
        ("attendedTradeShow_c", "attended_trade_show_c"),
        ("URLPath", "url_path"),
        ("signedContract_c", "signed_contract_c"),
        ("webinar2Attended", "webinar2_attended"),
        ("already_snake", "already_snake"),
    ],
)
def test_snake_case_splits_camel_case_of_api_names(api_name: str, expected: str) -> None:
    assert snake_case(api_name, split_camel=True) == expected


def test_stream_names_standard_and_custom_types() -> None:
    types = [
        {"id": 2, "name": "Fill Out Form"},
        {"id": 6, "name": "Send Email"},
        # custom activity types are named by their apiName, not their display name
        {"id": 100001, "name": "Attended Trade Show", "apiName": "attendedTradeShow_c"},
    ]
    assert stream_names(types) == {
        2: "activities_fill_out_form",
        6: "activities_send_email",
        100001: "activities_attended_trade_show_c",
    }


def test_stream_names_collisions_keep_the_lowest_id_plain() -> None:
    types = [
        {"id": 200, "name": "Fill-out form"},  # listed first, but the higher id
        {"id": 2, "name": "Fill Out Form"},
        {"id": 300, "name": "fill_out_form_200"},  # takes the name a collision would produce
        {"id": 7, "name": "フォーム"},  # nothing ASCII left
        {"id": 8, "name": ""},
    ]
    names = stream_names(types)
    assert names[2] == "activities_fill_out_form"
    assert names[7] == "activities_type_7"
    assert names[8] == "activities_type_8"
    assert len(set(names.values())) == len(types)
    assert names[200] != names[300]
    assert names[200].startswith("activities_fill_out_form_")
    assert all(VALID_IDENTIFIER.match(n) for n in names.values())


def test_stream_names_fit_postgres_identifiers_and_stay_apart() -> None:
    long = "Very long custom activity name " * 4
    types = [
        {"id": 100001, "name": "x", "apiName": long + "one"},
        {"id": 100002, "name": "y", "apiName": long + "two"},
    ]
    names = stream_names(types)
    assert all(VALID_IDENTIFIER.match(n) for n in names.values())
    assert all(len(n) == 63 for n in names.values())
    assert names[100001] != names[100002]
    # Stable: the same types give the same names on every run.
    assert stream_names(list(reversed(types))) == names


def test_exportable_types_drop_delete_lead_and_follow_activity_type_ids() -> None:
    types = [{"id": 1}, {"id": 37}, {"id": 12}]
    assert [t["id"] for t in exportable_types(types, None)] == [1, 12]
    assert [t["id"] for t in exportable_types(types, [12, 37])] == [12]


def test_attribute_columns_rule_and_collisions() -> None:
    attributes = [
        {"name": "Form Name", "dataType": "string"},
        {"name": "Lead ID", "dataType": "integer"},  # lead_id: a loader could merge it with leadId
        {"name": "Campaign Id", "dataType": "integer"},
        {"name": "marketoGUID", "dataType": "string"},
        {"name": "Form-Name", "dataType": "string"},  # same snake name as "Form Name"
        {"name": "form_name", "dataType": "text"},
        {"name": "Ergebnis ✓", "dataType": "boolean"},
        {"name": "数量", "dataType": "integer"},  # nothing ASCII: named by position
        {"name": "Score Formula", "dataType": "formula"},  # never exported: no column
        {"name": "Attribute Lead ID", "dataType": "string"},  # the renamed one's name, taken
    ]
    columns = attribute_columns(attributes)
    assert [(c.column, c.attribute) for c in columns] == [
        ("form_name", "Form Name"),
        ("attribute_lead_id", "Lead ID"),
        ("attribute_campaign_id", "Campaign Id"),
        ("attribute_marketoguid", "marketoGUID"),
        ("form_name_2", "Form-Name"),
        ("form_name_3", "form_name"),
        ("ergebnis", "Ergebnis ✓"),
        ("attribute_8", "数量"),
        ("attribute_lead_id_2", "Attribute Lead ID"),
    ]
    keys = [loader_key(c.column) for c in columns] + [loader_key(c) for c in COMMON_COLUMNS]
    assert len(keys) == len(set(keys))
    assert all(VALID_IDENTIFIER.match(c.column) for c in columns)
    # Marketo's own name stays in the schema, beside the column name.
    assert columns[1].schema["title"] == "Lead ID"


def test_type_table_schema_types_each_attribute_through_the_data_type_map() -> None:
    change_score = {
        "id": 22,
        "name": "Change Score",
        "attributes": [
            {"name": "Change Value", "dataType": "string"},
            {"name": "New Value", "dataType": "integer"},
            {"name": "Spend", "dataType": "float"},
            {"name": "Discount", "dataType": "percent"},
            {"name": "Deal Size", "dataType": "currency"},
            {"name": "Booth Visited", "dataType": "boolean"},
            {"name": "Scanned At", "dataType": "datetime"},
            {"name": "Follow-up Date", "dataType": "date"},
            {"name": "Opportunity ID", "dataType": "reference"},
            {"name": "Some New Type", "dataType": "hologram"},
        ],
    }
    properties = type_table_schema(change_score)["properties"]
    assert list(properties)[: len(COMMON_COLUMNS)] == list(COMMON_COLUMNS)
    assert properties["marketoGUID"] == {"type": ["string"]}
    assert properties["new_value"]["type"] == ["integer", "null"]
    assert properties["change_value"]["type"] == ["string", "null"]
    for number in ("spend", "discount", "deal_size"):
        assert properties[number]["type"] == ["number", "null"]
    assert properties["booth_visited"]["type"] == ["boolean", "null"]
    assert properties["scanned_at"]["format"] == "date-time"
    assert properties["follow_up_date"]["format"] == "date"
    # reference: CRM ids keep leading zeros and letters
    assert properties["opportunity_id"]["type"] == ["string", "null"]
    assert "format" not in properties["opportunity_id"]
    assert properties["some_new_type"]["type"] == ["string", "null"]
    # The same attribute name is typed per type: "New Value" is text in Change Data Value.
    change_data_value = {"id": 13, "attributes": [{"name": "New Value", "dataType": "string"}]}
    assert type_table_schema(change_data_value)["properties"]["new_value"]["type"] == [
        "string",
        "null",
    ]
    assert "attributes" not in properties


def _convert(data_type: str, value: object) -> object:
    schema = type_table_schema({"attributes": [{"name": "v", "dataType": data_type}]})
    return attribute_converter(schema["properties"]["v"])(value)


@pytest.mark.parametrize(
    ("data_type", "value", "expected"),
    [
        ("integer", 5, 5),
        ("integer", "5", 5),
        ("integer", 5.0, 5),
        ("integer", None, None),
        ("float", 1.25, 1.25),
        ("float", 3, 3),
        ("float", "2.5", 2.5),
        ("currency", 10, 10),
        ("boolean", True, True),
        ("boolean", "false", False),
        ("boolean", "1", True),
        ("string", "text", "text"),
        ("string", 42, "42"),
        ("reference", "0016000000AbCdE", "0016000000AbCdE"),
        ("reference", 1234, "1234"),
        ("string", {"a": [1, "é"]}, '{"a": [1, "é"]}'),
        ("date", "2024-02-29", "2024-02-29"),
        ("datetime", "2024-01-31T09:00:00Z", "2024-01-31T09:00:00Z"),
        ("datetime", "2024-01-31T09:00:00Z+0000", "2024-01-31T09:00:00Z"),
    ],
)
def test_attribute_converter(data_type: str, value: object, expected: object) -> None:
    result = _convert(data_type, value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("data_type", "value"),
    [
        ("integer", "abc"),
        ("integer", 5.5),
        ("integer", True),
        ("boolean", "maybe"),
        ("date", "2024-01-31T09:00:00Z"),
        ("datetime", "2024-01-31"),
        ("float", "n/a"),
    ],
)
def test_attribute_converter_refuses_values_its_column_cannot_hold(
    data_type: str, value: object
) -> None:
    with pytest.raises(ValueError):
        _convert(data_type, value)


def test_unknown_data_type_is_a_string_column_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    activity_type = {
        "id": 100003,
        "name": "Webinar Poll",
        "attributes": [
            {"name": "Answer", "dataType": "hologram"},
            {"name": "N", "dataType": "integer"},
        ],
    }
    with caplog.at_level(logging.WARNING):
        properties = type_table_schema(activity_type, logging.getLogger("t"))["properties"]
    assert properties["answer"]["type"] == ["string", "null"]
    assert properties["n"]["type"] == ["integer", "null"]
    assert [r.getMessage() for r in caplog.records] == [
        "Activity type 100003 (Webinar Poll): unknown dataType of attributes 'Answer' (hologram); "
        "typed as string"
    ]
