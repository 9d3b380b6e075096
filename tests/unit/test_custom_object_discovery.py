"""Custom-object discovery: which objects become streams, and what happens when none can."""

from __future__ import annotations

import logging

import pytest

from tap_marketo_bulk.errors import ConfigError, MarketoError
from tap_marketo_bulk.records.schema import describe_to_properties
from tap_marketo_bulk.streams.custom_objects import (
    LIST_PATH,
    discover_custom_objects,
)

LOG = logging.getLogger("test-custom-objects")


def item(name: str, related_to: str = "Lead", id_field: str = "marketoGUID") -> dict:
    return {
        "name": name,
        "idField": id_field,
        "relationships": [
            {"field": "leadID", "type": "child", "relatedTo": {"name": related_to, "field": "Id"}}
        ],
    }


LISTED = [item("car_c"), item("asset_c", "Company"), item("course_c", id_field="guid")]


def reader(listed: list[dict] | Exception):
    calls: list[str] = []

    def read(path: str) -> list[dict]:
        calls.append(path)
        if isinstance(listed, Exception):
            raise listed
        return listed

    return read, calls


def test_default_is_every_lead_linked_object_and_the_others_are_named_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    read, calls = reader(LISTED)
    objects = discover_custom_objects(read, None, LOG)
    assert [(o.api_name, o.id_field, o.stream_name) for o in objects] == [
        ("car_c", "marketoGUID", "custom_car_c"),
        ("course_c", "guid", "custom_course_c"),
    ]
    assert calls == [LIST_PATH]
    lines = [r.getMessage() for r in caplog.records if "not exported" in r.getMessage()]
    assert lines == [
        "Custom objects not exported (bulk export takes lead-linked objects only): "
        "asset_c (linked to Company)"
    ]


def test_setting_chooses_and_an_empty_list_asks_nothing() -> None:
    read, calls = reader(LISTED)
    assert [o.api_name for o in discover_custom_objects(read, ["course_c"], LOG)] == ["course_c"]
    read, calls = reader(LISTED)
    assert discover_custom_objects(read, [], LOG) == []
    assert calls == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nope_c", "custom_objects: no custom object with API name 'nope_c'"),
        ("asset_c", "custom_objects: 'asset_c' is linked to Company, not to leads"),
    ],
)
def test_a_named_object_that_cannot_be_exported_is_a_config_error(name: str, message: str) -> None:
    read, _ = reader(LISTED)
    with pytest.raises(ConfigError) as raised:
        discover_custom_objects(read, ["car_c", name], LOG)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("listed", "warning"),
    [
        ([], "no lead-linked custom objects"),
        ([item("asset_c", "Company")], "no lead-linked custom objects"),
        (MarketoError("603", "Access denied"), "'Read-Only Custom Object' permission"),
    ],
)
def test_no_custom_objects_is_a_warning_not_a_failure(
    caplog: pytest.LogCaptureFixture, listed: list | Exception, warning: str
) -> None:
    read, _ = reader(listed)
    assert discover_custom_objects(read, None, LOG) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warning in warnings[0]


def test_access_denied_with_named_objects_fails_naming_the_setting_and_permission() -> None:
    read, _ = reader(MarketoError("603", "Access denied"))
    with pytest.raises(ConfigError, match=r"^custom_objects: .*Read-Only Custom Object"):
        discover_custom_objects(read, ["car_c"], LOG)


def test_other_marketo_errors_are_not_swallowed() -> None:
    read, _ = reader(MarketoError("611", "System error"))
    with pytest.raises(MarketoError):
        discover_custom_objects(read, None, LOG)


def test_properties_use_the_lead_type_map_and_references_stay_strings() -> None:
    fields = [
        {"name": "marketoGUID", "dataType": "string"},
        {"name": "updatedAt", "dataType": "datetime"},
        {"name": "year", "dataType": "integer"},
        {"name": "share", "dataType": "percent"},
        {"name": "crmId", "dataType": "reference"},
        {"name": "calc", "dataType": "formula"},
    ]
    properties = describe_to_properties(fields, LOG)
    assert properties == {
        "marketoGUID": {"type": ["string", "null"]},
        "updatedAt": {"type": ["string", "null"], "format": "date-time"},
        "year": {"type": ["integer", "null"]},
        "share": {"type": ["number", "null"]},
        "crmId": {"type": ["string", "null"]},
    }
