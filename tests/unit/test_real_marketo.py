"""Files captured from real Marketo instances (shared/real-marketo/, outside the repository):
every file is recognised, and each export file and describe goes through the tap's own reader.

Answers (job lifecycle, REST pages, token) are in test_real_marketo_answers.py. What each kind
of capture is and how it is found: tests/real_marketo/corpus.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tap_marketo_bulk.records.parser import CsvRecordParser
from tap_marketo_bulk.records.schema import describe_data_types, describe_to_properties
from tap_marketo_bulk.streams.activities import activities_schema
from tests.real_marketo import corpus
from tests.real_marketo.reading import (
    ACTIVITY_DATA_TYPES,
    DOCUMENTED_JSON_TYPES,
    NOT_EXPORTABLE,
    NULL,
    expected_value,
    field_data_type,
    field_name,
    read_csv,
)

ROOT, WHY_ABSENT = corpus.corpus_dir()
if ROOT is None:
    pytest.skip(WHY_ABSENT, allow_module_level=True)
assert ROOT is not None
FILES = corpus.discover(ROOT)


def captures(kind: str) -> list[corpus.Capture]:
    """The recognised captures of one kind (unrecognised files fail test_every_file_...)."""
    found = []
    for path in FILES:
        try:
            capture = corpus.classify(path)
        except corpus.Unrecognised:
            continue
        if capture.kind == kind:
            found.append(capture)
    return found


KINDS = (
    corpus.EXPORT_FILE,
    corpus.DESCRIBE,
    corpus.ACTIVITY_TYPES,
    corpus.HTTP_EXCHANGE,
    corpus.JOB_RUN_NOTES,
    corpus.REST_PAGES,
    corpus.OPENAPI,
    corpus.PROVENANCE,
)


def ids(capture: corpus.Capture) -> str:
    return capture.name


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_in_the_corpus_is_recognised(path: Path) -> None:
    problem = None
    try:
        corpus.classify(path)
    except corpus.Unrecognised as exc:
        problem = str(exc)
    if problem:
        pytest.fail(problem, pytrace=False)


def test_the_corpus_holds_every_kind_the_tests_check() -> None:
    kinds = {c.kind for kind in KINDS for c in captures(kind)}
    assert {corpus.EXPORT_FILE, corpus.DESCRIBE, corpus.HTTP_EXCHANGE, corpus.REST_PAGES} <= kinds


# ----- export files ---------------------------------------------------------------------------


def adapted(fields: list[dict]) -> list[dict]:
    """Describe fields as Marketo sends them: embulk-input-marketo's own lists say
    `marketoDataType` (their plugin's key) where Marketo says `dataType`."""
    return [{**f, "dataType": field_data_type(f)} for f in fields]


def schema_for(header: list[str], path: Path) -> tuple[dict[str, str], dict[str, dict], str]:
    """(column -> Marketo dataType, the stream's properties, where they came from)."""
    if set(header) <= set(ACTIVITY_DATA_TYPES):
        types = [t for c in captures(corpus.ACTIVITY_TYPES) for t in c.payload]
        return ACTIVITY_DATA_TYPES, activities_schema(types)["properties"], "activities schema"
    covering = []
    for describe in captures(corpus.DESCRIBE):
        data_types = {field_name(f): field_data_type(f) for f in describe.payload}
        if set(header) <= set(data_types):
            same_folder = describe.path.parent == path.parent
            covering.append((not same_folder, len(data_types), describe, data_types))
    if not covering:
        pytest.fail(f"{path}: no describe in the corpus names every column of {header}")
    *_, describe, data_types = min(covering, key=lambda c: c[:2])
    properties = describe_to_properties(adapted(describe.payload), logging.getLogger("corpus"))
    return data_types, properties, describe.name


EXACT_TYPE = {"integer": int, "number": float, "boolean": bool}


@pytest.mark.parametrize("capture", captures(corpus.EXPORT_FILE), ids=ids)
def test_an_export_file_parses_to_its_independent_reading(capture: corpus.Capture) -> None:
    header, *rows = read_csv(capture.payload)
    assert rows, f"{capture.name}: no data rows"
    data_types, properties, source = schema_for(header, capture.path)
    with capture.path.open("rb") as file:
        records = list(CsvRecordParser(properties).parse(file))
    expected = [
        {
            name: expected_value(text, data_types[name])
            for name, text in zip(header, row, strict=True)
        }
        for row in rows
    ]
    assert records == expected, f"{capture.name} against {source}"
    for record, row in zip(records, rows, strict=True):
        for name, text in zip(header, row, strict=True):
            value = record[name]
            json_type = DOCUMENTED_JSON_TYPES.get(data_types[name].lower(), ("string", None))[0]
            if text == NULL:
                assert value is None
            elif data_types[name] == "json object":
                assert isinstance(value, dict)
            elif json_type == "string":
                assert value == text and type(value) is str  # byte for byte
            else:  # == above cannot tell True from 1: the exact type
                assert type(value) is EXACT_TYPE[json_type], (name, text, value)


def test_the_unescaped_quote_file_reads_as_the_incident_says() -> None:
    (capture,) = [
        c for c in captures(corpus.EXPORT_FILE) if '"first"Name1"' in c.payload
    ]  # found by content: the file with the real incident's row
    with capture.path.open("rb") as file:
        properties = schema_for(["firstName", "lastName"], capture.path)[1]
        records = list(CsvRecordParser(properties).parse(file))
    assert records == [{"firstName": 'first"Name1', "lastName": "lastName1"}]


def test_a_lead_updated_a_second_before_it_was_created_is_kept_as_is() -> None:
    found = []
    for capture in captures(corpus.EXPORT_FILE):
        header, *rows = read_csv(capture.payload)
        if {"createdAt", "updatedAt", "id"} <= set(header) and "leadId" not in header:
            created, updated = header.index("createdAt"), header.index("updatedAt")
            found += [(capture, r) for r in rows if NULL not in (r[created], r[updated])
                      and r[updated] < r[created]]
    assert found, "the corpus's lead with updatedAt before createdAt is gone"
    for capture, row in found:
        header = read_csv(capture.payload)[0]
        properties = schema_for(header, capture.path)[1]
        with capture.path.open("rb") as file:
            records = {r["id"]: r for r in CsvRecordParser(properties).parse(file)}
        record = records[int(row[header.index("id")])]
        assert (record["createdAt"], record["updatedAt"]) == (
            row[header.index("createdAt")],
            row[header.index("updatedAt")],
        )


# ----- describes and activity types -----------------------------------------------------------


@pytest.mark.parametrize("capture", captures(corpus.DESCRIBE), ids=ids)
def test_a_describe_becomes_the_schema(
    capture: corpus.Capture, caplog: pytest.LogCaptureFixture
) -> None:
    fields = adapted(capture.payload)
    with caplog.at_level(logging.WARNING):
        properties = describe_to_properties(fields, logging.getLogger("corpus"))
    unknown = set()
    for field in fields:
        name, data_type = field_name(field), field["dataType"].strip().lower()
        assert name, f"{capture.name}: a field without a name: {field}"
        if data_type == NOT_EXPORTABLE:
            assert name not in properties
            continue
        json_type, json_format = DOCUMENTED_JSON_TYPES.get(data_type, ("string", None))
        if data_type not in DOCUMENTED_JSON_TYPES:
            unknown.add(data_type)
        assert properties[name]["type"] == [json_type, "null"], (name, data_type)
        assert properties[name].get("format") == json_format, (name, data_type)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == len(unknown), warnings
    assert describe_data_types(fields) == {field_name(f): f["dataType"] for f in fields}


@pytest.mark.parametrize("capture", captures(corpus.ACTIVITY_TYPES), ids=ids)
def test_activity_types_build_the_activities_schema(capture: corpus.Capture) -> None:
    attributes = activities_schema(capture.payload)["properties"]["attributes"]["properties"]
    names = {a["name"] for t in capture.payload for a in t.get("attributes") or []}
    assert set(attributes) == names


# ----- the spec and the provenance notes ------------------------------------------------------


def spec_enums(node: object, key: str) -> set[str]:
    """Every enum value under a property named `key`, anywhere in an OpenAPI document."""
    found: set[str] = set()
    if isinstance(node, dict):
        prop = node.get(key)
        if isinstance(prop, dict) and isinstance(prop.get("enum"), list):
            found |= {str(v) for v in prop["enum"]}
        for child in node.values():
            found |= spec_enums(child, key)
    elif isinstance(node, list):
        for child in node:
            found |= spec_enums(child, key)
    return found


@pytest.mark.parametrize("capture", captures(corpus.OPENAPI), ids=ids)
def test_every_data_type_the_spec_names_maps(
    capture: corpus.Capture, caplog: pytest.LogCaptureFixture
) -> None:
    data_types = spec_enums(capture.payload, "dataType")
    fields = [{"name": f"f_{t}", "dataType": t} for t in sorted(data_types)]
    with caplog.at_level(logging.WARNING):
        properties = describe_to_properties(fields, logging.getLogger("corpus"))
    assert len(properties) == len(fields)
    unknown = [t for t in data_types if t.lower() not in DOCUMENTED_JSON_TYPES]
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == len(unknown)


@pytest.mark.parametrize("capture", captures(corpus.PROVENANCE), ids=ids)
def test_the_provenance_notes_name_every_folder(capture: corpus.Capture) -> None:
    folders = {p.relative_to(ROOT).parts[0] for p in FILES if p.parent != ROOT}
    missing = [f for f in sorted(folders) if f"`{f}/`" not in capture.payload]
    assert not missing, f"{capture.name} says nothing of {missing}"
