"""Writing an export job's file: rows streamed to disk in chunks, SHA-256 computed on the way."""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog import ACTION_RESULTS, MEMBER_FIELD_NAMES
from .custom_object_api import custom_object_row_builder, custom_object_rows
from .custom_objects import CUSTOM_OBJECT_PREFIX
from .dataset import Dataset
from .rules import ExportSpec
from .timeutil import iso
from .values import format_cell, make_quoter

CHUNK_ROWS = 2000


@dataclass(frozen=True)
class ExportFile:
    path: Path
    records: int
    size: int
    checksum: str  # "sha256:<hex>"


def select_rows(spec: ExportSpec, data: Dataset) -> list[int]:
    """Row positions (lead pos, activity pos or member index) the export holds, in file order."""
    if spec.object_path.startswith(CUSTOM_OBJECT_PREFIX):
        return custom_object_rows(spec, data)
    if spec.object_path == "leads":
        return _lead_rows(spec, data)
    if spec.object_path == "activities":
        return _activity_rows(spec, data)
    return _member_rows(spec, data)


def _lead_rows(spec: ExportSpec, data: Dataset) -> list[int]:
    table = data.leads
    if spec.date_field == "createdAt":
        # rows are in createdAt order, so a window is one slice; both ends inclusive
        low = bisect.bisect_left(table.created, spec.start)
        return list(range(low, bisect.bisect_right(table.created, spec.end, lo=low)))
    if spec.date_field == "updatedAt":
        start, end = spec.start, spec.end
        return [pos for pos, stamp in enumerate(table.updated) if start <= stamp <= end]
    if spec.smart_list_every:
        every = spec.smart_list_every
        return [pos for pos, lead_id in enumerate(table.ids) if lead_id % every == 0]
    static = data.static_list(spec.static_list_id)
    member_ids = static["leadIds"] if static else []
    return [table.position[i] for i in member_ids if i in table.position]


def _activity_rows(spec: ExportSpec, data: Dataset) -> list[int]:
    table = data.activities
    low = bisect.bisect_left(table.dates, spec.start)
    rows = range(low, bisect.bisect_right(table.dates, spec.end, lo=low))
    if not spec.activity_type_ids:
        return list(rows)
    wanted = set(spec.activity_type_ids)
    selected = [pos for pos in rows if table.type_ids[pos] in wanted]
    if spec.primary_value_ids or spec.primary_values:
        ids = set(spec.primary_value_ids or ())
        names = set(spec.primary_values or ())

        def matches(pos: int) -> bool:
            value_id, value, _ = table.variants[table.type_ids[pos]][table.variant_index[pos]]
            return value_id in ids or value in names

        selected = [pos for pos in selected if matches(pos)]
    return selected


def _member_rows(spec: ExportSpec, data: Dataset) -> list[int]:
    programs = set(spec.program_ids)
    low = iso(spec.start) if spec.start is not None else None
    high = iso(spec.end) if spec.end is not None else None
    statuses = set(spec.status_names) if spec.status_names else None
    rows: list[int] = []
    for index, member in enumerate(data.members):
        if member["programId"] not in programs:
            continue
        # ISO "...Z" strings of one format order like the instants they name
        if low is not None and not low <= member["updatedAt"] <= high:
            continue
        if statuses is not None and member["statusName"] not in statuses:
            continue
        if spec.is_exhausted is not None and member["isExhausted"] != spec.is_exhausted:
            continue
        if spec.nurture_cadence is not None and member["nurtureCadence"] != spec.nurture_cadence:
            continue
        rows.append(index)
    return rows


def _row_builder(
    spec: ExportSpec, data: Dataset, quote: Callable[[str], str], digit_booleans: bool
) -> Callable[[int], list[str]]:
    """row position -> the row's cells, quoted."""
    if spec.object_path.startswith(CUSTOM_OBJECT_PREFIX):
        return custom_object_row_builder(spec, data, quote)
    def cell(value: Any) -> str:
        return quote(format_cell(value, digit_booleans=digit_booleans))

    if spec.object_path == "leads":
        getters = [data.leads.text_getter(name, cell) for name in spec.fields]
        return lambda pos: [get(pos) for get in getters]
    if spec.object_path == "activities":
        return _activity_row_builder(spec, data, cell)
    lead_getters = {
        name: data.leads.getter(name) for name in spec.fields if name not in MEMBER_FIELD_NAMES
    }
    members, positions = data.members, data.leads.position

    def member_row(index: int) -> list[str]:
        member = members[index]
        pos = positions.get(member["leadId"])
        cells = []
        for name in spec.fields:
            if name in lead_getters:  # lead fields ride along; member fields win on clashes
                cells.append(cell(None if pos is None else lead_getters[name](pos)))
            else:
                cells.append(cell(member[name]))
        return cells

    return member_row


def _activity_row_builder(
    spec: ExportSpec, data: Dataset, cell: Callable[[Any], str]
) -> Callable[[int], list[str]]:
    table = data.activities
    variant_texts = {
        type_id: [(cell(vid), cell(value), cell(attrs)) for vid, value, attrs in entries]
        for type_id, entries in table.variants.items()
    }
    results = [cell(r) for r in ACTION_RESULTS]
    columns: dict[str, Callable[[int], str]] = {
        "marketoGUID": lambda pos: str(table.guids[pos]),
        "leadId": lambda pos: str(table.lead_ids[pos]),
        "activityDate": lambda pos: iso(table.dates[pos]),
        "activityTypeId": lambda pos: str(table.type_ids[pos]),
        "campaignId": lambda pos: str(table.campaigns[pos]) if table.campaigns[pos] else "null",
        "primaryAttributeValueId":
            lambda pos: variant_texts[table.type_ids[pos]][table.variant_index[pos]][0],
        "primaryAttributeValue":
            lambda pos: variant_texts[table.type_ids[pos]][table.variant_index[pos]][1],
        "attributes": lambda pos: variant_texts[table.type_ids[pos]][table.variant_index[pos]][2],
        "actionResult": lambda pos: results[table.results[pos]],
    }
    getters = [columns[name] for name in spec.fields]
    return lambda pos: [get(pos) for get in getters]


def _chunks(lines: Iterator[str]) -> Iterator[bytes]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= CHUNK_ROWS:
            yield "".join(batch).encode("utf-8")
            batch = []
    if batch:
        yield "".join(batch).encode("utf-8")


def make_unescaping_quoter(
    delimiter: str, on_unescaped: Callable[[], None]
) -> Callable[[str], str]:
    """Quoting the way a real lead export did (`"first"Name1","lastName1"`: embulk-input-
    marketo's lead_extract_with_quote_in_quote_field.csv): a quote followed by an ordinary
    character is written as is; one followed by a quote, the delimiter, a line end or the end
    of the value is doubled, so the file can still be read (the reading rule: a quote not
    followed by a delimiter or line end is part of the value)."""
    quote = make_quoter(delimiter)
    must_double = re.compile('"(?=["' + re.escape(delimiter) + "\r\n]|\\Z)")

    def unescaping_quote(text: str) -> str:
        if '"' not in text:
            return quote(text)
        inner = must_double.sub('""', text)
        if inner.count('"') < 2 * text.count('"'):
            on_unescaped()
        return '"' + inner + '"'

    return unescaping_quote


def write_export(
    spec: ExportSpec,
    data: Dataset,
    rows: list[int],
    path: Path,
    *,
    digit_booleans: bool = False,
    on_unescaped_quote: Callable[[], None] | None = None,
) -> ExportFile:
    """Write header + `rows` to `path`; hash while writing so the file is read only once.

    `on_unescaped_quote` (lead files, fault `unescaped_quotes`): quotes inside values are left
    unescaped where the reading rule allows, and it is called once per such value."""
    delimiter = spec.delimiter
    quote = make_quoter(delimiter)
    if on_unescaped_quote is not None and spec.object_path == "leads":
        quote = make_unescaping_quoter(delimiter, on_unescaped_quote)
    build = _row_builder(spec, data, quote, digit_booleans and spec.object_path != "leads")

    def lines() -> Iterator[str]:
        yield delimiter.join(quote(h) for h in spec.headers) + "\n"
        for pos in rows:
            yield delimiter.join(build(pos)) + "\n"

    digest = hashlib.sha256()
    size = 0
    with open(path, "wb") as out:
        for chunk in _chunks(lines()):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return ExportFile(path, len(rows), size, "sha256:" + digest.hexdigest())
