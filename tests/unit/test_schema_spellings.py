"""schema.py: dataType spellings seen in real describes and in Adobe's OpenAPI spec."""

from __future__ import annotations

import logging

import pytest

from tap_marketo_bulk.records.schema import (
    describe_to_properties,
    is_known_data_type,
    json_schema_for,
)

STRING = {"type": ["string", "null"]}


@pytest.mark.parametrize(
    ("data_type", "schema"),
    [
        ("String", STRING),
        ("STRING", STRING),
        ("TEXT", STRING),  # embulk-input-marketo's lists derived from a real describe
        ("DateTime", {"type": ["string", "null"], "format": "date-time"}),
        ("INTEGER", {"type": ["integer", "null"]}),
        ("Boolean", {"type": ["boolean", "null"]}),
        (" float ", {"type": ["number", "null"]}),
        ("link", STRING),
        ("lead_function", STRING),
        ("object", STRING),
        ("no_such_type", STRING),
        ("", STRING),
    ],
)
def test_every_spelling_maps(data_type: str, schema: dict) -> None:
    assert json_schema_for(data_type) == schema


def test_known_names_are_case_insensitive_and_link_is_known() -> None:
    assert all(is_known_data_type(t) for t in ("String", "DATETIME", "Reference", "link"))
    assert not any(is_known_data_type(t) for t in ("lead_function", "object", "array"))
    assert json_schema_for("FORMULA") is None


def test_unknown_names_warn_once_each_whatever_their_case(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fields = [
        {"name": "a", "dataType": "String"},
        {"name": "b", "dataType": "link"},
        {"name": "c", "dataType": "object"},
        {"name": "d", "dataType": "Object"},
        {"name": "e", "dataType": "lead_function"},
        {"name": "f"},  # no dataType at all
        {"name": "g", "dataType": None},
        {"name": "h", "dataType": "DATETIME"},
    ]
    with caplog.at_level(logging.WARNING):
        properties = describe_to_properties(fields, logging.getLogger("test"))
    assert set(properties) == set("abcdefgh")
    assert all(properties[name] == STRING for name in "abcdefg")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings
    (object_warning,) = [w for w in warnings if "'object'" in w]
    assert "c, d" in object_warning
    (missing_warning,) = [w for w in warnings if "f, g" in w]
    assert "lead_function" not in missing_warning
    assert any("'lead_function'" in w and " e" in w for w in warnings)
