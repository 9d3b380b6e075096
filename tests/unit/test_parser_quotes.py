"""parser.py + rows.py: a quote Marketo left unescaped inside a quoted value.

The rule: inside a quoted field, `""` is one quote, a quote followed by the delimiter or the end
of the line ends the field, and any other quote is part of the value.
"""

from __future__ import annotations

import io
import tracemalloc
import typing as t

import pytest

from tap_marketo_bulk.records import parser as parser_module
from tap_marketo_bulk.records.parser import CsvRecordParser, MalformedRowError
from tap_marketo_bulk.records.rows import SYNC_ROWS, UnclosedQuoteError, read_record

STRING = {"type": ["string", "null"]}
INTEGER = {"type": ["integer", "null"]}
LEADS = {"firstName": STRING, "lastName": STRING}


@pytest.fixture(params=["native", "python3.10_nul_fallback"])
def nul_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both with the csv module's own NUL support and with the Python 3.10 substitution."""
    if request.param != "native":
        monkeypatch.setattr(parser_module, "_CSV_READS_NUL", False)
    return request.param


class Pipe(io.RawIOBase):
    """A stream that cannot seek (a pipe): read keeping lines from the first row."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        return self._data.readinto(buffer)


@pytest.fixture(params=["seekable", "pipe"], autouse=True)
def stream_kind(request: pytest.FixtureRequest) -> str:
    """A file (csv.reader alone, read again from the start after a refused record) and a
    stream that cannot seek (lines kept from the start)."""
    global STREAM_KIND
    STREAM_KIND = request.param
    return request.param


STREAM_KIND = "seekable"


def stream(data: bytes) -> t.BinaryIO:
    return io.BytesIO(data) if STREAM_KIND == "seekable" else io.BufferedReader(Pipe(data))


def parse(properties: dict, data: bytes) -> list[dict]:
    return list(CsvRecordParser(properties).parse(stream(data)))


def test_the_real_incident_row(nul_mode: str) -> None:
    # embulk-input-marketo's lead_extract_with_quote_in_quote_field.csv, byte for byte.
    data = b'firstName,lastName\n"first"Name1","lastName1"\n'
    assert parse(LEADS, data) == [{"firstName": 'first"Name1', "lastName": "lastName1"}]


def test_the_same_value_with_the_quote_doubled(nul_mode: str) -> None:
    data = b'firstName,lastName\n"first""Name1","lastName1"\n'
    assert parse(LEADS, data) == [{"firstName": 'first"Name1', "lastName": "lastName1"}]


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ('"a"b"', 'a"b'),
        ('"a" b "c"', 'a" b "c'),
        ('"say "hi" now"', 'say "hi" now'),
        ('"x"""y"', 'x""y'),  # a doubled quote, then an unescaped one
        ('"a,"b"', 'a,"b'),
        ('"a\nb"c"', 'a\nb"c'),  # the stray quote in a value that goes on over a line end
        ('"p\u2028"q\x00"', 'p\u2028"q\x00'),
        ('"trailing "', "trailing "),
    ],
)
def test_unescaped_quotes_stay_in_the_value(nul_mode: str, written: str, value: str) -> None:
    data = f'id,text,after\n1,{written},z\n2,"ok ""quoted""",null\n'.encode()
    assert parse({"id": INTEGER, "text": STRING, "after": STRING}, data) == [
        {"id": 1, "text": value, "after": "z"},
        {"id": 2, "text": 'ok "quoted"', "after": None},
    ]


def test_stray_quotes_across_many_rows_and_sync_points(nul_mode: str) -> None:
    count = SYNC_ROWS * 3 + 7
    stray = {0, 1, SYNC_ROWS - 1, SYNC_ROWS, SYNC_ROWS + 1, 2 * SYNC_ROWS, count - 1}
    lines, expected = ["id,text,note"], []
    for number in range(count):
        if number in stray:
            text, written = f'v"{number}\nline2 ✓', f'"v"{number}\nline2 ✓"'
        elif number % 5 == 0:
            text, written = f'multi\nline "{number}"', f'"multi\nline ""{number}"""'
        else:
            text, written = f"plain {number}", f"plain {number}"
        lines.append(f"{number},{written},n{number}")
        expected.append({"id": number, "text": text, "note": f"n{number}"})
    data = ("\r\n".join(lines) + "\r\n").encode()
    assert parse({"id": INTEGER, "text": STRING, "note": STRING}, data) == expected


def test_a_row_still_cut_wrong_is_refused_not_shifted(nul_mode: str) -> None:
    # The quote before `,x` ends the value: the row has one field too many.
    data = b'id,text,note\n1,ok,fine\n2,"a"b",x",y\n3,c,d\n'
    records = CsvRecordParser({"id": INTEGER, "text": STRING, "note": STRING}).parse(
        stream(data)
    )
    assert next(records) == {"id": 1, "text": "ok", "note": "fine"}
    with pytest.raises(MalformedRowError) as raised:
        next(records)
    error = raised.value
    assert (error.row_number, error.line_number, error.column) == (2, 3, "text")
    assert "has 4 fields but the header has 3" in str(error) and "\n" not in str(error)


def test_an_open_quote_at_the_end_of_the_file_is_refused(nul_mode: str) -> None:
    data = b'id,text\n1,ok\n2,"never closed\n3,x\n'
    with pytest.raises(MalformedRowError, match=r"row 2 .*column 'text' \(the file ends in its"):
        parse({"id": INTEGER, "text": STRING}, data)


def test_memory_stays_flat_with_stray_quotes() -> None:
    """The kept lines are dropped every SYNC_ROWS rows: a long file is never held whole."""

    def lines(count: int) -> bytes:
        body = "".join(f'{n},"a"b {"x" * 200}",{n}\n' for n in range(count))
        return ("id,text,note\n" + body).encode()

    data = lines(20_000)
    tracemalloc.start()
    try:
        for _ in CsvRecordParser({"id": INTEGER, "text": STRING, "note": INTEGER}).parse(
            stream(data)
        ):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < len(data) / 4, f"peak {peak} bytes for a {len(data)}-byte file"


@pytest.mark.parametrize(
    ("lines", "fields"),
    [
        (["\n"], []),
        (["a,b\n"], ["a", "b"]),
        (["a,\r\n"], ["a", ""]),
        (['"a""b",c'], ['a"b', "c"]),
        (['"x\n', 'y"z",w\n'], ['x\ny"z', "w"]),
        (['""\n'], [""]),
        (['a"b,c\n'], ['a"b', "c"]),  # a quote inside an unquoted value: as csv reads it
    ],
)
def test_read_record(lines: list[str], fields: list[str]) -> None:
    more = iter(lines[1:])
    assert read_record(lines[0], more) == fields
    assert next(more, None) is None  # every line of the record, and no more, was taken


def test_read_record_refuses_a_file_ending_inside_quotes() -> None:
    with pytest.raises(UnclosedQuoteError) as raised:
        read_record('1,"open\n', iter(["still open\n"]))
    assert raised.value.fields == ["1", "open\nstill open\n"]


def test_a_file_keeps_no_lines_until_a_record_is_refused(
    stream_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files are read by csv.reader alone; lines are kept only after a refused record (the
    file is then read again from the start), or from the start for a stream that cannot seek."""
    sources: list[object] = []
    real = parser_module.RowSource

    def counted(lines: t.Any) -> object:
        sources.append(lines)
        return real(lines)

    monkeypatch.setattr(parser_module, "RowSource", counted)
    clean = b'id,text\n1,"a ""b"""\n2,c\n'
    assert [r["id"] for r in parse({"id": INTEGER, "text": STRING}, clean)] == [1, 2]
    assert len(sources) == (0 if stream_kind == "seekable" else 1)
    stray = b'id,text\n1,ok\n2,"a"b"\n3,c\n'
    assert parse({"id": INTEGER, "text": STRING}, stray) == [
        {"id": 1, "text": "ok"},
        {"id": 2, "text": 'a"b'},
        {"id": 3, "text": "c"},
    ]
    assert len(sources) == (1 if stream_kind == "seekable" else 2)
