"""Validation of bulk create.json bodies, with the error codes Marketo answers.

Codes chosen: a missing `fields`/`filter` is 1002 (missing required parameter); anything present
but invalid (filter combination, date format, range > 31 days, unknown list/program, > 10
programIds, type 37) is 1003; an unknown or formula field is 1006 "Field 'x' not found"; a filter
the subscription lacks is 1035.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .catalog import (
    ACTIVITY_DEFAULT_FIELDS,
    ACTIVITY_FIELDS,
    DELETE_LEAD_TYPE_ID,
    MEMBER_FIELD_NAMES,
    FieldDef,
)
from .config import SandboxConfig
from .dataset import Dataset
from .envelope import MESSAGES, ApiError
from .reference import SMART_LISTS
from .timeline import WINDOW_SECONDS
from .timeutil import TimestampError, iso, parse_filter_datetime
from .values import DELIMITERS

OBJECTS = ("leads", "activities", "program/members")
LEAD_FILTERS = ("createdAt", "updatedAt", "staticListId", "staticListName", "smartListId",
                "smartListName")
ACTIVITY_FILTERS = ("createdAt", "activityTypeIds", "primaryAttributeValueIds",
                    "primaryAttributeValues")
MEMBER_FILTERS = ("programId", "programIds", "updatedAt", "isExhausted", "nurtureCadence",
                  "statusNames")
MAX_PROGRAM_IDS = 10
MAX_PRIMARY_VALUES = 50


@dataclass(frozen=True)
class ExportSpec:
    """A validated export request: which rows, which columns, which file format."""

    object_path: str
    format: str
    fields: tuple[str, ...]  # columns in file order (API names)
    headers: tuple[str, ...]  # header row (columnHeaderNames applied)
    filter: dict[str, Any]  # the filter as sent
    filter_key: str  # "start/end" of the date window, with qualifiers; see window_key()
    date_field: str | None = None  # "createdAt" | "updatedAt"
    start: int | None = None
    end: int | None = None
    static_list_id: int | None = None
    smart_list_every: int | None = None
    activity_type_ids: tuple[int, ...] | None = None
    primary_value_ids: tuple[int, ...] | None = None
    primary_values: tuple[str, ...] | None = None
    program_ids: tuple[int, ...] = ()
    status_names: tuple[str, ...] | None = None
    is_exhausted: bool | None = None
    nurture_cadence: str | None = None

    @property
    def delimiter(self) -> str:
        return DELIMITERS[self.format]


def _unsupported() -> ApiError:
    return ApiError("1035", MESSAGES["1035"])


def _date_range(name: str, value: Any) -> tuple[int, int]:
    if not isinstance(value, dict) or "startAt" not in value or "endAt" not in value:
        raise ApiError("1003", f"Invalid {name} filter: startAt and endAt are required")
    try:
        start = parse_filter_datetime(value["startAt"])
        end = parse_filter_datetime(value["endAt"])
    except TimestampError as exc:
        raise ApiError("1003", str(exc)) from exc
    if end < start:
        raise ApiError("1003", f"Invalid {name} filter: endAt must not be before startAt")
    if end - start > WINDOW_SECONDS:
        raise ApiError("1003", f"Invalid {name} filter: date range exceeds 31 days")
    return start, end


def _int_list(name: str, value: Any, limit: int | None = None) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise ApiError("1003", f"Invalid value for {name}: a non-empty array of integers")
    if limit is not None and len(value) > limit:
        raise ApiError("1003", f"Too many values for {name}, maximum is {limit}")
    return tuple(value)


def _fields(body: dict[str, Any], allowed: dict[str, bool] | None) -> tuple[str, ...] | None:
    """The `fields` list; `allowed` maps name -> exportable. None when `fields` was not sent."""
    if "fields" not in body or body["fields"] is None:
        return None
    fields = body["fields"]
    if not isinstance(fields, list) or not all(isinstance(f, str) and f for f in fields):
        raise ApiError("1003", "Invalid value for fields: an array of field names")
    if not fields:
        return None
    if len(set(fields)) != len(fields):
        raise ApiError("1003", "Duplicate field in fields")
    for name in fields:
        if allowed is not None and not allowed.get(name, False):
            raise ApiError("1006", f"Field '{name}' not found")
    return tuple(fields)


def _format_and_headers(
    body: dict[str, Any], fields: tuple[str, ...]
) -> tuple[str, tuple[str, ...]]:
    file_format = body.get("format") or "CSV"
    if not isinstance(file_format, str) or file_format.upper() not in DELIMITERS:
        raise ApiError("1003", f"Invalid format '{file_format}'")
    renames = body.get("columnHeaderNames") or {}
    if not isinstance(renames, dict) or not all(isinstance(v, str) for v in renames.values()):
        raise ApiError("1003", "Invalid value for columnHeaderNames")
    return file_format.upper(), tuple(renames.get(name, name) for name in fields)


def window_key(start: int | None, end: int | None, *qualifiers: str) -> str:
    """Stats key of a filter: "2024-01-01T00:00:00Z/2024-01-31T23:59:59Z" for a date window
    (the tap's Window.key), prefixed by "programId=N|" / "programIds=a,b|" / "staticListId=N|"
    / "smartListId=N|" and suffixed by "|activityTypeIds=a,b" where those filters are used."""
    parts = [q for q in qualifiers if q and not q.startswith("activityTypeIds")]
    if start is not None and end is not None:
        parts.append(f"{iso(start)}/{iso(end)}")
    parts += [q for q in qualifiers if q.startswith("activityTypeIds")]
    return "|".join(parts) or "all"


def validate_create(
    object_path: str, body: Any, data: Dataset, config: SandboxConfig
) -> ExportSpec:
    if not isinstance(body, dict):
        raise ApiError("609", MESSAGES["609"])
    if object_path == "leads":
        return _leads(body, data, config)
    if object_path == "activities":
        return _activities(body)
    return _members(body, data, config)


def _require_filter(body: dict[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    if body.get("filter") is None:
        raise ApiError("1002", "Missing value for required parameter 'filter'")
    filter_ = body["filter"]
    if not isinstance(filter_, dict):
        raise ApiError("1003", "Invalid value for filter")
    for key in filter_:
        if key not in known:
            raise ApiError("1003", f"Invalid filter type '{key}'")
    return filter_


def _leads(body: dict[str, Any], data: Dataset, config: SandboxConfig) -> ExportSpec:
    allowed = {f.name: f.exportable for f in data.lead_fields}
    fields = _fields(body, allowed)
    if fields is None:
        raise ApiError("1002", "Missing value for required parameter 'fields'")
    filter_ = _require_filter(body, LEAD_FILTERS)
    if len(filter_) != 1:
        raise ApiError("1003", "Exactly one filter type is required for a lead export")
    (kind, value), = filter_.items()
    file_format, headers = _format_and_headers(body, fields)
    common = {"object_path": "leads", "format": file_format, "fields": fields,
              "headers": headers, "filter": filter_}
    if kind in ("createdAt", "updatedAt"):
        if kind == "updatedAt" and not config.updated_at_filter_supported:
            raise _unsupported()
        start, end = _date_range(kind, value)
        return ExportSpec(**common, filter_key=window_key(start, end), date_field=kind,
                          start=start, end=end)
    if kind in ("smartListId", "smartListName"):
        if not config.smart_lists_supported:
            raise _unsupported()
        smart = next((s for s in SMART_LISTS if s["id" if kind == "smartListId" else "name"]
                      == value), None)
        if smart is None:
            raise ApiError("1003", f"Smart list not found: {value}")
        return ExportSpec(**common, filter_key=window_key(None, None, f"smartListId={smart['id']}"),
                          smart_list_every=smart["every"])
    static = data.static_list(value if kind == "staticListId" else None,
                              value if kind == "staticListName" else None)
    if static is None:
        raise ApiError("1003", f"Static list not found: {value}")
    return ExportSpec(**common, filter_key=window_key(None, None, f"staticListId={static['id']}"),
                      static_list_id=static["id"])


def _activities(body: dict[str, Any]) -> ExportSpec:
    fields = _fields(body, dict.fromkeys(ACTIVITY_FIELDS, True)) or ACTIVITY_DEFAULT_FIELDS
    filter_ = _require_filter(body, ACTIVITY_FILTERS)
    if "createdAt" not in filter_:
        raise ApiError("1003", "createdAt filter is required for an activity export")
    start, end = _date_range("createdAt", filter_["createdAt"])
    type_ids = None
    if "activityTypeIds" in filter_:
        type_ids = _int_list("activityTypeIds", filter_["activityTypeIds"])
        if DELETE_LEAD_TYPE_ID in type_ids:
            raise ApiError("1003", "Activity type id 37 (Delete Lead) is not supported")
    value_ids = values = None
    if "primaryAttributeValueIds" in filter_ and "primaryAttributeValues" in filter_:
        raise ApiError("1003", "primaryAttributeValueIds and primaryAttributeValues cannot be "
                               "used together")
    if "primaryAttributeValueIds" in filter_:
        value_ids = _int_list("primaryAttributeValueIds", filter_["primaryAttributeValueIds"],
                              MAX_PRIMARY_VALUES)
    if "primaryAttributeValues" in filter_:
        raw = filter_["primaryAttributeValues"]
        if not isinstance(raw, list) or not raw or not all(isinstance(v, str) for v in raw):
            raise ApiError("1003", "Invalid value for primaryAttributeValues")
        if len(raw) > MAX_PRIMARY_VALUES:
            raise ApiError("1003", f"Too many values for primaryAttributeValues, maximum is "
                                   f"{MAX_PRIMARY_VALUES}")
        values = tuple(raw)
    if (value_ids or values) and not type_ids:
        raise ApiError("1003", "activityTypeIds is required with primary attribute filters")
    file_format, headers = _format_and_headers(body, fields)
    types_key = f"activityTypeIds={','.join(map(str, type_ids))}" if type_ids else ""
    return ExportSpec(
        object_path="activities", format=file_format, fields=fields, headers=headers,
        filter=filter_, filter_key=window_key(start, end, types_key), date_field="createdAt",
        start=start, end=end, activity_type_ids=type_ids, primary_value_ids=value_ids,
        primary_values=values,
    )


def _members(body: dict[str, Any], data: Dataset, config: SandboxConfig) -> ExportSpec:
    allowed = dict.fromkeys(MEMBER_FIELD_NAMES, True)
    allowed.update({f.name: f.exportable for f in data.lead_fields if f.name not in allowed})
    fields = _fields(body, allowed)
    if fields is None:
        raise ApiError("1002", "Missing value for required parameter 'fields'")
    filter_ = _require_filter(body, MEMBER_FILTERS)
    if ("programId" in filter_) == ("programIds" in filter_):
        raise ApiError("1003", "Exactly one of programId or programIds is required")
    if "programId" in filter_:
        value = filter_["programId"]
        if not isinstance(value, int) or isinstance(value, bool):
            raise ApiError("1003", "Invalid value for programId")
        program_ids: tuple[int, ...] = (value,)
        program_key = f"programId={value}"
    else:
        program_ids = _int_list("programIds", filter_["programIds"], MAX_PROGRAM_IDS)
        program_key = f"programIds={','.join(map(str, program_ids))}"
        if "programId" not in fields:
            fields = ("programId", *fields)  # Marketo puts it first with programIds
    for program_id in program_ids:
        if data.program(program_id) is None:
            raise ApiError("1003", f"Program not found: {program_id}")
    start = end = None
    if "updatedAt" in filter_:
        if not config.updated_at_filter_supported:
            raise _unsupported()
        start, end = _date_range("updatedAt", filter_["updatedAt"])
    status_names = filter_.get("statusNames")
    if status_names is not None and (
        not isinstance(status_names, list) or not all(isinstance(s, str) for s in status_names)
    ):
        raise ApiError("1003", "Invalid value for statusNames")
    exhausted = filter_.get("isExhausted")
    if exhausted is not None and not isinstance(exhausted, bool):
        raise ApiError("1003", "Invalid value for isExhausted")
    cadence = filter_.get("nurtureCadence")
    if cadence is not None and cadence not in ("paus", "norm"):
        raise ApiError("1003", "Invalid value for nurtureCadence")
    file_format, headers = _format_and_headers(body, fields)
    return ExportSpec(
        object_path="program/members", format=file_format, fields=fields, headers=headers,
        filter=filter_, filter_key=window_key(start, end, program_key),
        date_field="updatedAt" if start is not None else None, start=start, end=end,
        program_ids=program_ids, status_names=tuple(status_names) if status_names else None,
        is_exhausted=exhausted, nurture_cadence=cadence,
    )


def lead_field_map(data: Dataset) -> dict[str, FieldDef]:
    return {f.name: f for f in data.lead_fields}
