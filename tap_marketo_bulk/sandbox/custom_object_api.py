"""The custom-object endpoints: list, describe, and the bulk create rules and file rows.

Marketo's rules (api-notes §10): `fields` is required (attribute names from describe); `filter`
holds exactly one of `updatedAt` (31 days at most), `staticListId`/`staticListName`,
`smartListId`/`smartListName` (which may answer 1035). There is no createdAt filter: like any
filter type the endpoint does not know, it answers 1003 "Invalid filter type", as the lead and
program-member exports here do. Only first-level lead-linked objects export; a company-linked
(or CRM) object is refused with 1003 (invalid data). An unknown object name is a resource that
does not exist: 610. Without the "Read-Only Custom Object" permission every custom-object call
answers 603 Access denied (api-notes §1, §3).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .custom_objects import CUSTOM_OBJECT_PREFIX, CustomObjectDef, CustomObjectStore
from .dataset import Dataset
from .envelope import MESSAGES, ApiError, Request, success
from .reference import SMART_LISTS
from .rules import (
    ExportSpec,
    _date_range,
    _fields,
    _format_and_headers,
    _require_filter,
    _unsupported,
    window_key,
)
from .values import format_cell

LIST_PATH = "/rest/v1/customobjects.json"
DESCRIBE_PATH = re.compile(r"^/rest/v1/customobjects/(?P<name>[^/]+)/describe\.json$")
FILTERS = ("updatedAt", "staticListId", "staticListName", "smartListId", "smartListName")


def _store(data: Dataset) -> CustomObjectStore:
    store: CustomObjectStore = data.custom_objects
    if not store.access:
        raise ApiError("603", MESSAGES["603"])
    return store


def _known(store: CustomObjectStore, name: str) -> CustomObjectDef:
    definition = store.definition(name)
    if definition is None:
        raise ApiError("610", MESSAGES["610"])
    return definition


def custom_object_routes(data: Dataset) -> dict[str, Callable[[Request], dict[str, Any]]]:
    """REST routes by exact path: the list, and one describe path per object."""

    def list_objects(request: Request) -> dict[str, Any]:
        store = _store(data)
        wanted = request.query.get("names")
        names = [n.strip() for n in wanted.split(",") if n.strip()] if wanted else None
        items = [
            d.list_item() for d in store.definitions.values() if names is None or d.name in names
        ]
        return success(items)

    def describe_for(name: str) -> Callable[[Request], dict[str, Any]]:
        def describe(request: Request) -> dict[str, Any]:
            return success([_known(_store(data), name).describe()])

        return describe

    routes: dict[str, Callable[[Request], dict[str, Any]]] = {LIST_PATH: list_objects}
    for name in data.custom_objects.definitions:
        routes[f"/rest/v1/customobjects/{name}/describe.json"] = describe_for(name)
    return routes


def validate_custom_object_create(
    object_path: str, body: dict[str, Any], data: Dataset, smart_lists_supported: bool
) -> ExportSpec:
    store = _store(data)
    definition = _known(store, object_path.removeprefix(CUSTOM_OBJECT_PREFIX))
    if not definition.lead_linked:
        raise ApiError(
            "1003",
            f"Custom object '{definition.name}' is not linked to leads: bulk "
            "export supports first-level lead-linked custom objects only",
        )
    fields = _fields(body, {f.name: True for f in definition.fields})
    if fields is None:
        raise ApiError("1002", "Missing value for required parameter 'fields'")
    filter_ = _require_filter(body, FILTERS)
    if len(filter_) != 1:
        raise ApiError("1003", "Exactly one filter type is required for a custom object export")
    ((kind, value),) = filter_.items()
    file_format, headers = _format_and_headers(body, fields)
    common = {
        "object_path": object_path,
        "format": file_format,
        "fields": fields,
        "headers": headers,
        "filter": filter_,
    }
    if kind == "updatedAt":
        start, end = _date_range(kind, value)
        return ExportSpec(
            **common, filter_key=window_key(start, end), date_field=kind, start=start, end=end
        )
    if kind in ("smartListId", "smartListName"):
        if not smart_lists_supported:
            raise _unsupported()
        smart = next(
            (s for s in SMART_LISTS if s["id" if kind == "smartListId" else "name"] == value), None
        )
        if smart is None:
            raise ApiError("1003", f"Smart list not found: {value}")
        return ExportSpec(
            **common,
            filter_key=window_key(None, None, f"smartListId={smart['id']}"),
            smart_list_every=smart["every"],
        )
    static = data.static_list(
        value if kind == "staticListId" else None, value if kind == "staticListName" else None
    )
    if static is None:
        raise ApiError("1003", f"Static list not found: {value}")
    return ExportSpec(
        **common,
        filter_key=window_key(None, None, f"staticListId={static['id']}"),
        static_list_id=static["id"],
    )


def custom_object_rows(spec: ExportSpec, data: Dataset) -> list[int]:
    """Row positions of the object the export holds, in file order (creation order)."""
    name = spec.object_path.removeprefix(CUSTOM_OBJECT_PREFIX)
    definition = data.custom_objects.definitions[name]
    table = data.custom_objects.tables[definition.name]
    link = definition.link_field
    if spec.date_field == "updatedAt":
        slack = data.custom_objects.edge_slack
        start, end = spec.start - slack, spec.end + slack
        return [pos for pos, stamp in enumerate(table.updated) if start <= stamp <= end]
    if spec.smart_list_every:
        every = spec.smart_list_every
        return [pos for pos, row in enumerate(table.rows) if row[link] % every == 0]
    static = data.static_list(spec.static_list_id)
    members = set(static["leadIds"]) if static else set()
    return [pos for pos, row in enumerate(table.rows) if row[link] in members]


def custom_object_row_builder(
    spec: ExportSpec, data: Dataset, quote: Callable[[str], str]
) -> Callable[[int], list[str]]:
    rows = data.custom_objects.tables[spec.object_path.removeprefix(CUSTOM_OBJECT_PREFIX)].rows
    names = spec.fields
    return lambda pos: [quote(format_cell(rows[pos][name])) for name in names]
