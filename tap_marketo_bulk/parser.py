"""Streaming parser: bulk export CSV bytes -> typed record dicts.

The file is decoded and split into records by the csv module only: values legitimately hold
newlines, CR, NUL and U+2028/U+2029, so lines are never split here. Empty values arrive as the
literal `null` and become None; every other value goes through its column's coercer (schema.py).
"""

from __future__ import annotations

import csv
import io
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from tap_marketo_bulk.schema import build_coercer, keep_text

_LOGGER = logging.getLogger(__name__)

NULL_TEXT = "null"  # how Marketo writes an empty value
_BOM = "\ufeff"

# csv.reader refuses NUL characters before Python 3.11 ("line contains NUL"). There, NUL is
# swapped for a lone surrogate on the way in and back on the way out: strict UTF-8 decoding never
# produces lone surrogates, so the stand-in cannot collide with real data.
_CSV_READS_NUL = sys.version_info >= (3, 11)
_NUL = "\x00"
_NUL_STAND_IN = "\udc00"

# Longest value (in characters) the csv module may return. Its default (128 KiB) is below what
# long textarea values or activity attributes can reach; a runaway quote is still bounded.
_MAX_FIELD_CHARS = 64 * 1024 * 1024

# Input buffer per read; larger than io's 8 KiB default to cut the number of decode calls.
_TEXT_CHUNK_BYTES = 64 * 1024

_MAX_VALUE_CHARS_IN_ERRORS = 200


class _NulSubstitution:
    """Python 3.10 only: carries NUL characters through csv.reader behind a stand-in."""

    def __init__(self) -> None:
        # Set when the lines read for the current record had a NUL. csv.reader pulls exactly the
        # lines of one record before returning it, so the flag always belongs to that record.
        self.pending = False

    def lines(self, text: Iterable[str]) -> Iterator[str]:
        for line in text:
            if _NUL in line:
                self.pending = True
                line = line.replace(_NUL, _NUL_STAND_IN)
            yield line

    def rows(self, reader: Iterable[list[str]]) -> Iterator[list[str]]:
        for row in reader:
            if self.pending:
                self.pending = False
                row = [value.replace(_NUL_STAND_IN, _NUL) for value in row]
            yield row


def _shorten(value: str) -> str:
    if len(value) <= _MAX_VALUE_CHARS_IN_ERRORS:
        return repr(value)
    return f"{value[:_MAX_VALUE_CHARS_IN_ERRORS]!r}... ({len(value)} characters)"


def _coercion_error(
    names: tuple[str, ...],
    coercers: list[Callable[[str], Any]],
    row: list[str],
    row_number: int,
    line_number: int,
) -> ValueError:
    """Name the column and value of a row that failed coercion (run only on failure)."""
    for name, coerce, value in zip(names, coercers, row, strict=True):
        if value == NULL_TEXT:
            continue
        try:
            coerce(value)
        except (ValueError, TypeError) as exc:
            return ValueError(
                f"column {name!r}, row {row_number} (ending on line {line_number} of the file): "
                f"cannot convert {_shorten(value)}: {exc}"
            )
    return ValueError(f"row {row_number} (ending on line {line_number}) could not be converted")


class CsvRecordParser:
    """Turns one stream's export files into record dicts typed by the stream's properties.

    One parser serves every file of a stream: coercers are built once, here, and columns missing
    from `properties` are logged once per parser (and kept as text).
    """

    def __init__(
        self, properties: dict[str, dict[str, Any]], *, logger: logging.Logger | None = None
    ) -> None:
        self._coercers: dict[str, Callable[[str], Any]] = {
            name: build_coercer(schema) for name, schema in properties.items()
        }
        self._logger = logger or _LOGGER
        self._reported_unknown_columns: set[str] = set()

    def parse(self, stream: BinaryIO) -> Iterator[dict[str, Any]]:
        """Yield one dict per data row of the CSV in `stream`, read incrementally.

        The first row is the header of API names (a UTF-8 BOM before it is dropped); an empty
        stream yields nothing. Raises ValueError for a row whose field count differs from the
        header's and for a value its column's coercer rejects; UnicodeDecodeError (a ValueError)
        for bytes that are not UTF-8. The caller's stream is left open.
        """
        text = io.TextIOWrapper(stream, encoding="utf-8", newline="")  # type: ignore[arg-type]
        text._CHUNK_SIZE = _TEXT_CHUNK_BYTES  # type: ignore[attr-defined]
        try:
            yield from self._parse_text(text)
        finally:
            # Detach so the wrapper, when garbage collected, does not close the caller's stream
            # (unless the caller closed it already while records were still pending).
            if not text.closed:
                text.detach()

    def _parse_text(self, text: Iterable[str]) -> Iterator[dict[str, Any]]:
        if csv.field_size_limit() < _MAX_FIELD_CHARS:
            csv.field_size_limit(_MAX_FIELD_CHARS)
        if _CSV_READS_NUL:
            reader = csv.reader(text)
            rows: Iterator[list[str]] = reader
        else:
            substitution = _NulSubstitution()
            reader = csv.reader(substitution.lines(text))
            rows = substitution.rows(reader)

        header = next((row for row in rows if row), None)
        if header is None:
            return
        names = self._column_names(header)
        width = len(names)
        # None marks text columns: the loop keeps their str as is instead of calling keep_text.
        coercers = [self._coercers.get(name, keep_text) for name in names]
        coercers_or_none = [None if coercer is keep_text else coercer for coercer in coercers]

        # The hot loop: locals only, one comprehension per record, no per-column Python loop.
        # Coercion errors are pinned to their column outside the loop, so the common path pays
        # nothing for that.
        null = NULL_TEXT
        for row_number, row in enumerate(rows, start=1):
            if len(row) != width:
                if not row:  # a blank line carries no value (Marketo writes empties as null)
                    continue
                raise ValueError(
                    f"row {row_number} (ending on line {reader.line_num} of the file) has "
                    f"{len(row)} fields but the header has {width}: {_shorten(','.join(row))}"
                )
            try:
                record = {
                    name: None if value == null else value if coerce is None else coerce(value)
                    for name, coerce, value in zip(names, coercers_or_none, row, strict=True)
                }
            except (ValueError, TypeError) as exc:
                raise _coercion_error(names, coercers, row, row_number, reader.line_num) from exc
            yield record

    def _column_names(self, header: list[str]) -> tuple[str, ...]:
        names = tuple([header[0].removeprefix(_BOM), *header[1:]])
        duplicates = {name for name in names if names.count(name) > 1}
        if duplicates:
            # A dict cannot hold two values under one key: refuse rather than drop one silently.
            raise ValueError(f"CSV header repeats column(s) {sorted(duplicates)}: {list(names)}")
        unknown = [
            name
            for name in names
            if name not in self._coercers and name not in self._reported_unknown_columns
        ]
        if unknown:
            self._reported_unknown_columns.update(unknown)
            self._logger.warning(
                "Export file has column(s) not in the stream's schema, kept as text: %s",
                ", ".join(unknown),
            )
        return names
