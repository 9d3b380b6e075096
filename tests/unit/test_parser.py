"""parser.py: streaming CSV bytes -> typed record dicts."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tap_marketo_bulk.records import parser as parser_module
from tap_marketo_bulk.records.parser import CsvRecordParser, MalformedRowError
from tap_marketo_bulk.records.schema import json_schema_for

STRING = {"type": ["string", "null"]}
INTEGER = {"type": ["integer", "null"]}
NUMBER = {"type": ["number", "null"]}
BOOLEAN = {"type": ["boolean", "null"]}
DATE_TIME = {"type": ["string", "null"], "format": "date-time"}
OBJECT = {"type": ["object", "null"]}

ACTIVITY_PROPERTIES = {
    "marketoGUID": STRING,
    "leadId": INTEGER,
    "activityDate": DATE_TIME,
    "activityTypeId": INTEGER,
    "campaignId": INTEGER,
    "primaryAttributeValueId": INTEGER,
    "primaryAttributeValue": STRING,
    "attributes": OBJECT,
}

# Values Marketo holds and must come back byte for byte, each as written in the CSV.
TRICKY_VALUES = {
    "lf": ("line1\nline2", '"line1\nline2"'),
    "crlf": ("line1\r\nline2", '"line1\r\nline2"'),
    "lone_cr": ("line1\rline2", '"line1\rline2"'),
    "quotes": ('say "hi"', '"say ""hi"""'),
    "commas": ("a,b,,c", '"a,b,,c"'),
    "nul_quoted": ("a\x00b", '"a\x00b"'),
    "nul_bare": ("x\x00y", "x\x00y"),
    "separators": ("p\u2028q\u2029r", "p\u2028q\u2029r"),
    "emoji": ("🎉 party 👩‍👩‍👧", "🎉 party 👩‍👩‍👧"),
    "cjk": ("東京都 서울 中文", "東京都 서울 中文"),
    "null": (None, "null"),
    "quoted_null": (None, '"null"'),  # indistinguishable in Marketo files: None as well
    "empty_quoted": ("", '""'),
    "only_newlines": ("\n\r\n\r", '"\n\r\n\r"'),
    "stray_quote": ('ab"c', 'ab"c'),  # a stray quote inside an unquoted value stays as is
}


def quote_csv(text: str) -> str:
    """Quote a value as Marketo does when it holds a delimiter, quote or line break."""
    return '"' + text.replace('"', '""') + '"'


def parse_all(properties: dict[str, dict], data: bytes, **kwargs: Any) -> list[dict]:
    return list(CsvRecordParser(properties, **kwargs).parse(io.BytesIO(data)))


@pytest.fixture(params=["native", "python3.10_nul_fallback"])
def nul_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test both with the csv module's own NUL support and with the 3.10 substitution."""
    if request.param != "native":
        monkeypatch.setattr(parser_module, "_CSV_READS_NUL", False)
    return request.param


def test_tricky_values_come_back_exactly(nul_mode: str) -> None:
    names = list(TRICKY_VALUES)
    header = ",".join(["id", *names])
    row = ",".join(["7", *(written for _, written in TRICKY_VALUES.values())])
    data = f"{header}\r\n{row}\r\n8{',null' * len(names)}\r\n".encode()
    properties = {"id": INTEGER, **{name: STRING for name in names}}
    first, second = parse_all(properties, data)
    assert first == {"id": 7, **{name: value for name, (value, _) in TRICKY_VALUES.items()}}
    assert second == {"id": 8, **dict.fromkeys(names)}


def test_one_dirty_value_per_row_round_trips(nul_mode: str) -> None:
    values = ["a\x00", "\r", "\n", '"', ",", "\u2028", "😀", "中", "x\r\ny", " lead ", "\x00\x00"]
    lines = ["id,text", *(f"{number},{quote_csv(value)}" for number, value in enumerate(values))]
    data = "\r\n".join(lines).encode()  # and no line break after the last row
    records = parse_all({"id": INTEGER, "text": STRING}, data)
    assert records == [{"id": number, "text": value} for number, value in enumerate(values)]


def test_every_data_type_is_coerced_and_null_is_none() -> None:
    data_types = ["integer", "score", "reference", "float", "currency", "percent", "boolean"]
    data_types += ["date", "datetime", "string", "email"]
    properties = {t: json_schema_for(t) or {} for t in data_types}
    data = (
        ",".join(data_types)
        + "\n"
        + "5.0,100,0015000000aBcDeAAA,5.0,1234.56,12.5,1,2017-09-08,2017-09-08T16:39:14Z,x,a@b.c\n"
        + "7,0,001656783185136518,-1.25,0,0.75,false,null,null,02134,null\n"
        + "null,null,null,null,null,null,0,2020-02-29,null,null,null\n"
    ).encode()
    assert parse_all(properties, data) == [
        {"integer": 5, "score": 100, "reference": "0015000000aBcDeAAA", "float": 5.0,
         "currency": 1234.56, "percent": 12.5, "boolean": True, "date": "2017-09-08",
         "datetime": "2017-09-08T16:39:14Z", "string": "x", "email": "a@b.c"},
        {"integer": 7, "score": 0, "reference": "001656783185136518", "float": -1.25,
         "currency": 0.0, "percent": 0.75, "boolean": False, "date": None, "datetime": None,
         "string": "02134", "email": None},
        {"integer": None, "score": None, "reference": None, "float": None, "currency": None,
         "percent": None, "boolean": False, "date": "2020-02-29", "datetime": None,
         "string": None, "email": None},
    ]  # fmt: skip


def test_activity_attributes_become_dicts_with_native_types() -> None:
    attributes = {"Webpage ID": 12, "Score": 1.5, "Mobile": False, "Referrer": None, "Q": 'a"b,c'}
    quoted = quote_csv(json.dumps(attributes, ensure_ascii=False))
    data = (
        ",".join(ACTIVITY_PROPERTIES) + "\n"
        f"102988,6,2024-01-05T10:11:12Z,1,null,12,Landing Page,{quoted}\n"
        "102989,6,2024-01-05T10:11:13Z,12,null,null,null,null\n"
    ).encode()
    first, second = parse_all(ACTIVITY_PROPERTIES, data)
    assert first == {
        "marketoGUID": "102988", "leadId": 6, "activityDate": "2024-01-05T10:11:12Z",
        "activityTypeId": 1, "campaignId": None, "primaryAttributeValueId": 12,
        "primaryAttributeValue": "Landing Page", "attributes": attributes,
    }  # fmt: skip
    assert second["attributes"] is None and second["primaryAttributeValueId"] is None


def test_records_keep_the_header_order() -> None:
    data = b"c,a,b\n1,2,3\n"
    (record,) = parse_all({"a": STRING, "b": STRING, "c": STRING}, data)
    assert list(record) == ["c", "a", "b"]


def test_utf8_bom_before_the_header_is_dropped() -> None:
    data = "\ufeffid,name\n1,Zoë\n".encode()
    assert parse_all({"id": INTEGER, "name": STRING}, data) == [{"id": 1, "name": "Zoë"}]


def test_a_bom_inside_a_value_is_kept() -> None:
    data = "id,name\n1,\ufeffx\n".encode()
    assert parse_all({"id": INTEGER, "name": STRING}, data) == [{"id": 1, "name": "\ufeffx"}]


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n\n"])
def test_a_file_without_a_header_yields_nothing(data: bytes) -> None:
    assert parse_all({"id": INTEGER}, data) == []


def test_a_header_only_file_yields_nothing() -> None:
    assert parse_all({"id": INTEGER}, b"id,name\r\n") == []


def test_blank_lines_are_skipped() -> None:
    assert parse_all({"id": INTEGER}, b"id\n1\n\n2\n\n") == [{"id": 1}, {"id": 2}]


def test_unknown_columns_are_kept_as_text_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    parser = CsvRecordParser({"id": INTEGER}, logger=logging.getLogger("test.parser"))
    data = b"id,surprise\n1,5.0\n2,null\n"
    with caplog.at_level(logging.WARNING):
        first = list(parser.parse(io.BytesIO(data)))
        second = list(parser.parse(io.BytesIO(data)))
    assert first == second == [{"id": 1, "surprise": "5.0"}, {"id": 2, "surprise": None}]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "surprise" in warnings[0]


@pytest.mark.parametrize(
    ("bad_row", "last_line", "column"),
    [
        ("3,c", 5, "note"),
        ("3,c,extra,more", 5, "note"),
        # The quote before "xx" is part of the value (it is not followed by a delimiter or a
        # line end): the value runs to the end of the file, and the row is still refused.
        ('3,"c,d"', 6, "name"),
    ],
    ids=["short", "long", "quoted_comma"],
)
def test_a_misaligned_row_raises_naming_the_row(bad_row: str, last_line: int, column: str) -> None:
    data = f'id,name,note\n1,a,x\n2,"b\nb",y\n{bad_row}xx\n4,d,z\n'.encode()
    records = CsvRecordParser({"id": INTEGER, "name": STRING, "note": STRING}).parse(
        io.BytesIO(data)
    )
    assert next(records)["id"] == 1
    assert next(records)["name"] == "b\nb"
    with pytest.raises(MalformedRowError) as raised:
        next(records)
    message = str(raised.value)
    assert f"row 3 (ending on line {last_line} of the file)" in message
    assert "header has 3" in message and f"column {column!r}" in message
    assert "\n" not in message  # one line, whatever the row holds
    assert (raised.value.row_number, raised.value.column) == (3, column)


def test_a_value_that_does_not_convert_raises_naming_column_row_and_value() -> None:
    data = b"id,score,flag\n1,5,true\n2,5.5,false\n"
    records = CsvRecordParser({"id": INTEGER, "score": INTEGER, "flag": BOOLEAN}).parse(
        io.BytesIO(data)
    )
    assert next(records) == {"id": 1, "score": 5, "flag": True}
    with pytest.raises(ValueError, match=r"column 'score', row 2 .*'5\.5'"):
        next(records)


def test_bad_json_in_an_object_column_raises() -> None:
    data = b'id,attributes\n1,"{""a"": "\n'
    with pytest.raises(ValueError, match="column 'attributes', row 1"):
        parse_all({"id": INTEGER, "attributes": OBJECT}, data)


def test_a_repeated_header_column_raises() -> None:
    with pytest.raises(ValueError, match="repeats column"):
        parse_all({"id": INTEGER}, b"id,name,id\n1,a,1\n")


def test_bytes_that_are_not_utf8_raise() -> None:
    with pytest.raises(UnicodeDecodeError):
        parse_all({"name": STRING}, b"name\n\xff\xfe\n")


def test_values_longer_than_the_csv_module_default_limit() -> None:
    long_value = "x" * 300_000
    data = f'id,body\n1,"{long_value}"\n'.encode()
    assert parse_all({"id": INTEGER, "body": STRING}, data) == [{"id": 1, "body": long_value}]


def test_the_callers_stream_stays_open() -> None:
    stream = io.BytesIO(b"id\n1\n")
    assert list(CsvRecordParser({"id": INTEGER}).parse(stream)) == [{"id": 1}]
    assert not stream.closed
    abandoned = CsvRecordParser({"id": INTEGER}).parse(stream := io.BytesIO(b"id\n1\n2\n"))
    next(abandoned)
    abandoned.close()
    assert not stream.closed


def test_closing_the_stream_before_the_records_is_harmless() -> None:
    records = CsvRecordParser({"id": INTEGER}).parse(stream := io.BytesIO(b"id\n1\n2\n"))
    next(records)
    stream.close()
    records.close()  # must not raise "I/O operation on closed file"


# ----- streaming ----------------------------------------------------------------------------------


def activity_lines(count: int) -> Iterator[bytes]:
    yield (",".join(ACTIVITY_PROPERTIES) + "\n").encode()
    for number in range(count):
        attributes = json.dumps({"Webpage URL": f"/p/{number}", "Mobile": number % 2 == 0})
        text = "multi\nline ✓" if number % 7 == 0 else f"Page {number}"
        campaign = "null" if number % 3 else str(number)
        yield (
            f"{number},{number % 1000},2024-01-05T10:11:12Z,1,{campaign},{number},"
            f"{quote_csv(text)},{quote_csv(attributes)}\n"
        ).encode()


def check_activity_records(records: Iterator[dict], count: int) -> None:
    seen = 0
    for number, record in enumerate(records):
        assert record["marketoGUID"] == str(number)
        assert record["leadId"] == number % 1000
        assert record["campaignId"] == (None if number % 3 else number)
        assert record["attributes"] == {"Webpage URL": f"/p/{number}", "Mobile": number % 2 == 0}
        assert record["primaryAttributeValue"] == (
            "multi\nline ✓" if number % 7 == 0 else f"Page {number}"
        )
        seen += 1
    assert seen == count


class GeneratedRawStream(io.RawIOBase):
    """A raw byte stream produced chunk by chunk, counting how much has been read from it."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self.bytes_read += size
        return size


def test_a_large_file_through_bytes_io() -> None:
    count = 50_000
    data = b"".join(activity_lines(count))
    check_activity_records(CsvRecordParser(ACTIVITY_PROPERTIES).parse(io.BytesIO(data)), count)


def test_a_generator_backed_raw_stream_is_read_incrementally() -> None:
    count = 50_000
    total_bytes = sum(len(line) for line in activity_lines(count))
    stream = GeneratedRawStream(activity_lines(count))
    records = CsvRecordParser(ACTIVITY_PROPERTIES).parse(stream)
    first = next(records)
    assert first["marketoGUID"] == "0"
    # The first record arrives after at most a read buffer or two, not the whole file.
    assert stream.bytes_read < 300_000 < total_bytes
    check_activity_records(_prepend(first, records), count)
    assert stream.bytes_read == total_bytes
    assert not stream.closed


def _prepend(first: dict, rest: Iterator[dict]) -> Iterator[dict]:
    yield first
    yield from rest
