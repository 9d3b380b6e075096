"""The rows of an export file: csv.reader for speed, a second reading for what it would misread.

Marketo does not always escape a quote inside a quoted value: a real export held
`"first"Name1","lastName1"` (embulk-input-marketo's fixture lead_extract_with_quote_in_quote_field
.csv, added after a customer's file). Python's csv module reads that as `firstName1"`: it ends the
quoted part at the stray quote and moves the quote to the end. The rule here (RFC 4180 plus one
case): inside a quoted field `""` is a quote, a quote followed by the delimiter or the end of the
line ends the field, and any other quote is part of the value.

csv.reader runs with `strict=True`, so the one case it would read differently (a quote inside a
quoted field followed by anything else) raises instead. A RowSource keeps the lines of the rows
read since the last sync point (itertools.tee, dropped every SYNC_ROWS rows), so the refused record
is read again by `read_record` from its own lines. The parser uses one only after csv.reader
refused a record of a file (then reading it again from the start), or for a stream that cannot
seek: clean files pay nothing for it.
"""

from __future__ import annotations

import csv
import itertools
from collections import deque
from collections.abc import Iterator

# Rows between two drops of the kept lines: bounds the memory the kept lines take (a few rows
# of long textareas) while keeping the per-row cost nil (one islice per SYNC_ROWS rows).
SYNC_ROWS = 512

# Longest value (in characters) the csv module may return. Its default (128 KiB) is below what
# long textarea values or activity attributes can reach; a runaway quote is still bounded.
_MAX_FIELD_CHARS = 64 * 1024 * 1024

_MAX_VALUE_CHARS_IN_ERRORS = 200

_QUOTE = '"'
_DELIMITER = ","
_ENDS_QUOTED_FIELD = ("", _DELIMITER, "\r", "\n")  # what may follow a closing quote ("": EOF)


def _without_line_end(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith(("\n", "\r")):
        return line[:-1]
    return line


class UnclosedQuoteError(ValueError):
    """The data ended inside a quoted value; `fields` holds what was read (the open value
    last)."""

    def __init__(self, fields: list[str]) -> None:
        self.fields = fields
        super().__init__("the file ends inside a quoted value")


def read_record(first: str, more: Iterator[str]) -> list[str]:
    """The fields of the record starting at line `first` (lines keep their line ends, as
    io's newline="" gives them); further lines come from `more` while a quoted field is open.

    A blank line is a record of no fields (as for csv.reader). A quoted field still open at the
    end of the data raises UnclosedQuoteError: a complete file never ends there.
    """
    if first in ("", "\n", "\r\n", "\r"):
        return []
    fields: list[str] = []
    line, pos = first, 0
    while True:
        if not line.startswith(_QUOTE, pos):
            comma = line.find(_DELIMITER, pos)
            if comma == -1:
                fields.append(_without_line_end(line[pos:]))
                return fields
            fields.append(line[pos:comma])
            pos = comma + 1
            continue
        pos += 1
        parts: list[str] = []
        while True:
            quote = line.find(_QUOTE, pos)
            if quote == -1:  # the value goes on over the line end
                parts.append(line[pos:])
                following = next(more, None)
                if following is None:
                    fields.append("".join(parts))
                    raise UnclosedQuoteError(fields)
                line, pos = following, 0
                continue
            after = line[quote + 1 : quote + 2]
            if after == _QUOTE:  # a doubled quote: one quote of the value
                parts.append(line[pos : quote + 1])
                pos = quote + 2
            elif after in _ENDS_QUOTED_FIELD:
                parts.append(line[pos:quote])
                pos = quote + 1
                break
            else:  # not followed by a delimiter or line end: part of the value
                parts.append(line[pos : quote + 1])
                pos = quote + 1
        fields.append("".join(parts))
        if not line.startswith(_DELIMITER, pos):
            return fields  # the line (and record) ends after the closing quote
        pos += 1


class RowSource:
    """csv.reader over `lines`, keeping the lines of the rows since the last `sync()` so a
    record the reader refuses can be read again (`reread`)."""

    def __init__(self, lines: Iterator[str]) -> None:
        if csv.field_size_limit() < _MAX_FIELD_CHARS:
            csv.field_size_limit(_MAX_FIELD_CHARS)
        self._for_reader, self._kept = itertools.tee(lines)
        self.reader = csv.reader(self._for_reader, strict=True)
        self._read_past_reader = 0  # lines taken by reread() that the reader never counted
        self._kept_from = 0  # line number of the first line still kept
        self._synced_rows = 0

    @property
    def line_number(self) -> int:
        """Lines read from the input so far."""
        return self.reader.line_num + self._read_past_reader

    def sync(self, rows: int) -> None:
        """`rows` rows are read: drop the lines kept for them."""
        consumed = self.line_number
        deque(itertools.islice(self._kept, consumed - self._kept_from), maxlen=0)
        self._kept_from = consumed
        self._synced_rows = rows

    def reread(self, rows: int) -> list[str]:
        """The fields of row `rows + 1`, which csv.reader refused: read again from its lines
        (and the lines after them while a quoted value stays open)."""
        pending = iter(list(itertools.islice(self._kept, self.line_number - self._kept_from)))
        self._kept_from = self.line_number
        for _ in range(rows - self._synced_rows):  # rows csv.reader read since the sync
            read_record(next(pending, ""), pending)
        fields = read_record(next(pending, ""), itertools.chain(pending, self._more_lines()))
        self.sync(rows + 1)
        return fields

    def _more_lines(self) -> Iterator[str]:
        for line in self._for_reader:
            self._read_past_reader += 1
            yield line


def shorten(value: str, limit: int = _MAX_VALUE_CHARS_IN_ERRORS) -> str:
    """repr() of a value, cut to `limit` characters (with the full length said) for messages."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


class MalformedRowError(ValueError):
    """A row cut into more or fewer fields than the header has (a quote Marketo left
    unescaped where no rule can tell where the value ends): never read with shifted columns."""

    def __init__(self, message: str, row_number: int, line_number: int, column: str = ""):
        self.row_number = row_number
        self.line_number = line_number
        self.column = column
        super().__init__(message)

    @classmethod
    def for_row(
        cls, names: tuple[str, ...], row: list[str], row_number: int, line_number: int
    ) -> MalformedRowError:
        """Names the column where the row goes wrong: the first value holding a quote (where
        the cut most likely is), else the first column without a value, else the last one."""
        quoted = next((i for i, value in enumerate(row[: len(names)]) if '"' in value), None)
        if quoted is not None:
            index, why = quoted, f"its value {shorten(row[quoted])} holds a quote"
        elif len(row) < len(names):
            index, why = len(row), "no value reaches it"
        else:
            index, why = len(names) - 1, f"{len(row) - len(names)} value(s) follow it"
        return cls._at(names, row, row_number, line_number, index, why)

    @classmethod
    def unclosed(
        cls, names: tuple[str, ...], row: list[str], row_number: int, line_number: int
    ) -> MalformedRowError:
        """The file ends inside the quoted value of the row's last field."""
        index = min(len(row), len(names)) - 1
        return cls._at(names, row, row_number, line_number, index, "the file ends in its quotes")

    @classmethod
    def _at(
        cls,
        names: tuple[str, ...],
        row: list[str],
        row_number: int,
        line_number: int,
        index: int,
        why: str,
    ) -> MalformedRowError:
        column = names[index]
        return cls(
            f"row {row_number} (ending on line {line_number} of the file) has {len(row)} "
            f"fields but the header has {len(names)}; it goes wrong at column {column!r} "
            f"({why}): {shorten(','.join(row))}",
            row_number,
            line_number,
            column,
        )
