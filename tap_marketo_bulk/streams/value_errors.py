"""The one line a run ends with when a value from Marketo does not fit its column's type.

An admin can change a field's dataType, and a catalog made before still has the old type: the
line names the stream, the column, the Marketo dataType (as describe says it now, when it can be
asked), the catalog's type, the value (shortened) and the setting that lets the data through.
"""

from __future__ import annotations

import json
import typing as t

from tap_marketo_bulk.errors import ColumnTypeError
from tap_marketo_bulk.records.parser import CoercionError, shorten
from tap_marketo_bulk.records.schema import json_type_name_for, type_name

VALUE_CHARS_IN_ERRORS = 60


def column_type_error(stream: t.Any, error: CoercionError) -> ColumnTypeError:
    """ColumnTypeError for `error`, a value a BulkExportStream's column coercer rejected."""
    try:
        data_type = stream.marketo_data_types().get(error.column)
    except Exception:  # a describe failing now must not hide the value's own error
        data_type = None
    where = getattr(stream, "current_export_key", "") or "this run"
    return _error(
        stream.name, error, stream.schema["properties"].get(error.column), data_type, where
    )


def _error(
    stream: str,
    error: CoercionError,
    column_schema: t.Mapping[str, t.Any] | None,
    data_type: str | None,
    where: str,
) -> ColumnTypeError:
    catalog_type = type_name(column_schema or {})
    if data_type:
        types = f"Marketo dataType {data_type}, catalog type {catalog_type}"
        suggested = json_type_name_for(data_type)
        if suggested == catalog_type:  # Marketo's type is the catalog's: keep every value as text
            suggested = "string"
    else:
        types = f"catalog type {catalog_type}; Marketo dataType unknown"
        suggested = "string"
    override = json.dumps({stream: {error.column: suggested}})
    return ColumnTypeError(
        f"{stream}: column {error.column!r} ({types}) has the value "
        f"{shorten(error.value, VALUE_CHARS_IN_ERRORS)}, which is not a valid {catalog_type} "
        f"(row {error.row_number} of the export for {where}). Set type_overrides to "
        f"{override} (or discover the catalog again) and rerun; state stays at the last "
        "window emitted in full."
    )


def check_catalog_types(stream: t.Any, overridden: t.Iterable[str] = ()) -> None:
    """Fail before any export where the catalog would convert text silently.

    A column the catalog calls integer, number or boolean but Marketo now describes as text
    (a reference field holding CRM ids, say) would turn "001656783185136518" into a number,
    losing its zeros, until a value with a letter stopped the run. Columns set in type_overrides
    are the user's choice and not checked. Nothing to compare for streams without a describe.
    """
    try:
        data_types = stream.marketo_data_types()
    except Exception as exc:  # a describe failing now must not stop a run that may not need it
        stream.logger.warning(
            "%s: could not compare the catalog with describe: %s", stream.name, exc
        )
        return
    skip = set(overridden)
    for column in stream.selected_columns():  # a deselected column is never exported
        data_type = data_types.get(column)
        if not data_type or column in skip or json_type_name_for(data_type) != "string":
            continue
        catalog_type = type_name(stream.schema["properties"][column])
        if catalog_type in ("integer", "number", "boolean"):
            override = json.dumps({stream.name: {column: "string"}})
            raise ColumnTypeError(
                f"{stream.name}: column {column!r} is {catalog_type} in the catalog but Marketo "
                f"describes it as {data_type} (text): values such as '007' would lose their "
                f"zeros. Set type_overrides to {override} (or discover the catalog again) and "
                f"rerun; nothing of {stream.name} was exported."
            )
