"""The fast record path: generated row converters, KeySet and RecordWriter match the slow ones."""

from __future__ import annotations

import io
import json
import sys
from datetime import datetime, timezone
from unittest import mock

import pytest
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding.simple import RecordMessage

from tap_marketo_bulk.records.keyset import KeySet
from tap_marketo_bulk.records.parser import CsvRecordParser
from tap_marketo_bulk.records.schema import build_coercer
from tap_marketo_bulk.streams.output import BufferedMsgSpecWriter, RecordWriter

INTEGER = {"type": ["integer", "null"]}
NUMBER = {"type": ["number", "null"]}
BOOLEAN = {"type": ["boolean", "null"]}
OBJECT = {"type": ["object", "null"]}
ARRAY = {"type": ["array", "null"]}
ANY_JSON = {"type": ["object", "array", "null"]}


def quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


@pytest.mark.parametrize(
    ("schema", "text"),
    [
        (INTEGER, "5"), (INTEGER, "5.0"), (INTEGER, " 7 "), (INTEGER, "+3"), (INTEGER, "1_000"),
        (INTEGER, "\u0663"), (INTEGER, "-0"), (INTEGER, "12345678901234567890123"),
        (NUMBER, "1.5"), (NUMBER, "1e3"), (NUMBER, "nan"), (NUMBER, "-0.0"),
        (BOOLEAN, "true"), (BOOLEAN, "TRUE"), (BOOLEAN, " false "), (BOOLEAN, "1"),
        (BOOLEAN, "0"),
        (OBJECT, '{"a": 1, "b": [1, 2.5, null]}'), (OBJECT, '{"t": "a\tb"}'),
        (ARRAY, "[1, 2]"), (ANY_JSON, '{"a": 1}'), (ANY_JSON, "[true]"), (ANY_JSON, '"text"'),
    ],
)  # fmt: skip
def test_a_value_parses_as_its_coercer_converts_it(schema: dict, text: str) -> None:
    data = f"id,value\n1,{quote(text)}\n".encode()
    (record,) = CsvRecordParser({"id": INTEGER, "value": schema}).parse(io.BytesIO(data))
    # repr: the same type and value, nan and -0.0 included
    assert repr(record["value"]) == repr(build_coercer(schema)(text))


@pytest.mark.parametrize(
    ("schema", "text"),
    [(INTEGER, "5.5"), (BOOLEAN, "yes"), (OBJECT, "[1]"), (OBJECT, '"x"'), (ARRAY, "{}"),
     (OBJECT, "{bad")],
)
def test_a_value_its_coercer_rejects_raises_naming_the_column(schema: dict, text: str) -> None:
    data = f"id,value\n1,{quote(text)}\n".encode()
    with pytest.raises(ValueError, match="column 'value', row 1"):
        list(CsvRecordParser({"id": INTEGER, "value": schema}).parse(io.BytesIO(data)))


def test_a_column_of_float_spelled_integers_converts_every_row() -> None:
    rows = "".join(f"{i},{i}.0,{'TRUE' if i % 2 else 'false'}\n" for i in range(50))
    data = ("id,score,flag\n" + rows + "50,7,true\n").encode()
    properties = {"id": INTEGER, "score": INTEGER, "flag": BOOLEAN}
    records = list(CsvRecordParser(properties).parse(io.BytesIO(data)))
    assert records[:3] == [
        {"id": 0, "score": 0, "flag": False},
        {"id": 1, "score": 1, "flag": True},
        {"id": 2, "score": 2, "flag": False},
    ]
    assert len(records) == 51 and records[-1] == {"id": 50, "score": 7, "flag": True}


def test_a_very_wide_header() -> None:
    names = [f"field{i}" for i in range(3000)]
    data = (",".join(names) + "\n" + ",".join(str(i) for i in range(3000)) + "\n").encode()
    (record,) = CsvRecordParser(dict.fromkeys(names, INTEGER)).parse(io.BytesIO(data))
    assert record == {name: i for i, name in enumerate(names)}


def test_column_names_are_data_never_code() -> None:
    names = ['a b', 'x"y', "def", "", "k0", "v1", "row", "__import__('os')", "null", "é"]
    header = ",".join(quote(name) for name in names)
    data = f"{header}\n{','.join(str(i) for i in range(len(names)))}\n".encode()
    properties = {name: INTEGER for name in names}
    (record,) = CsvRecordParser(properties).parse(io.BytesIO(data))
    assert record == {name: i for i, name in enumerate(names)}


def test_keyset_keeps_ids_and_text_exactly() -> None:
    keys = KeySet()
    fresh = ["700000001", "700000002", "0700000001", "+5", "abc", None, (1, 2), -3, 0, "0"]
    assert [keys.add(k) for k in fresh] == [True] * len(fresh)
    assert [keys.add(k) for k in fresh] == [False] * len(fresh)
    assert "700000001" in keys and 700000001 in keys and "7000000010" not in keys
    assert len(keys) == len(fresh)


def test_keyset_stays_exact_and_small_for_sparse_ids() -> None:
    ids = [i * 10_000_019 for i in range(5000)]  # one id per chunk: bits stop paying
    keys = KeySet()
    assert all(keys.add(i) for i in ids)
    assert not any(keys.add(i) for i in ids)
    assert all(i in keys for i in ids) and 1 not in keys
    assert keys.approximate_bytes < 5000 * 1000


def test_keyset_million_dense_guids_take_little_memory() -> None:
    keys = KeySet()
    for guid in range(700_000_001, 701_000_001):
        keys.add(str(guid))
    assert len(keys) == 1_000_000 and keys.approximate_bytes < 200_000


@pytest.mark.parametrize("version", [None, 1700000000])
def test_record_writer_writes_what_the_sdk_writes(version: int | None) -> None:
    records = [
        {"id": 1, "s": 'q"\n\u2028é', "n": None, "f": 1.5, "o": {"a": [1, {"b": None}]}},
        {"id": 2, "big": 10**30, "t": True},
    ]
    now = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with mock.patch.object(sys, "stdout", out):
        writer = BufferedMsgSpecWriter()
        record_writer = RecordWriter(writer, "activities", version)
        record_writer.refresh_time(now)
        assert record_writer.write(iter([dict(r) for r in records]), 10) == 2
        sdk = MsgSpecWriter()
        expected = b"".join(
            bytes(sdk.format_message(RecordMessage("activities", r, version, now)))
            for r in records
        )
        out.flush()
    assert out.buffer.getvalue() == expected  # type: ignore[attr-defined]
    assert [json.loads(line)["record"] for line in expected.splitlines()] == records
