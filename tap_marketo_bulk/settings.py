"""The settings: their JSON schema (what `--about` lists) and checks a schema can't express."""

from __future__ import annotations

import ipaddress
import json
import re
import typing as t
from urllib.parse import urlparse

from singer_sdk import typing as th

from tap_marketo_bulk.export.windows import parse_datetime
from tap_marketo_bulk.streams.table_version import EMIT_ACTIVATE_VERSION_DEFAULT

# The JSON types type_overrides accepts (records/schema.py OVERRIDE_SCHEMAS holds their schemas).
TYPE_OVERRIDE_NAMES = ("string", "integer", "number", "boolean", "date", "date-time")
MUNCHKIN_ID = re.compile(r"^\d{3}-[A-Z]{3}-\d{3}$", re.IGNORECASE)
LOOPBACK_HOSTS = {"localhost"}

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "client_id",
        th.StringType,
        required=True,
        description="Client ID of the Marketo LaunchPoint API service.",
    ),
    th.Property(
        "client_secret",
        th.StringType,
        required=True,
        secret=True,
        description="Client secret of the Marketo LaunchPoint API service.",
    ),
    th.Property(
        "base_url",
        th.StringType,
        description="Instance root, e.g. https://123-ABC-456.mktorest.com (the tap derives "
        "/identity, /rest and /bulk). Required unless munchkin_id is given. https only, "
        "except http to 127.0.0.1 / localhost.",
    ),
    th.Property(
        "munchkin_id",
        th.StringType,
        description="Munchkin ID such as 123-ABC-456; builds base_url.",
    ),
    th.Property(
        "start_date",
        th.StringType,
        description="Earliest record date to export (ISO 8601 date or datetime, UTC). Default: "
        "the instance's birth (its oldest top-level folder); never earlier than it.",
    ),
    th.Property(
        "end_date",
        th.StringType,
        description="Latest record date to export (ISO 8601, UTC). Default: now.",
    ),
    th.Property(
        "window_days",
        th.IntegerType,
        default=31,
        description="Days per export window (1..31); each window is this minus one second.",
    ),
    th.Property(
        "poll_interval_seconds",
        th.NumberType,
        default=60,
        description="Seconds between two status polls of one job (Marketo refreshes once a "
        "minute).",
    ),
    th.Property(
        "job_timeout_seconds",
        th.NumberType,
        default=10800,
        description="A job not Completed after this many seconds is cancelled.",
    ),
    th.Property(
        "queue_backoff_seconds",
        th.NumberType,
        default=60,
        description="First wait after 1029 'Too many jobs in queue'; doubles up to 4x.",
    ),
    th.Property(
        "max_concurrent_jobs",
        th.IntegerType,
        default=2,
        description="Most of the tap's jobs Processing at once (1..2); the queue is shared "
        "with other integrations.",
    ),
    th.Property(
        "max_queued_jobs",
        th.IntegerType,
        default=2,
        description="With 2 Processing, how many more of the tap's jobs wait Queued (1..2): 2 "
        "keeps both slots busy (4 of Marketo's 10 queue places).",
    ),
    th.Property(
        "max_calls_per_20s",
        th.IntegerType,
        default=80,
        description="Most REST/bulk calls the tap makes in any 20 s (Marketo allows 100 per "
        "instance, shared with other integrations).",
    ),
    th.Property(
        "leads_filter",
        th.StringType,
        default="auto",
        allowed_values=["auto", "updatedAt", "createdAt"],
        description="Lead window filter: auto probes updatedAt and falls back to createdAt.",
    ),
    th.Property(
        "request_timeout_seconds",
        th.NumberType,
        default=300,
        description="HTTP timeout of one request; also the read timeout of a download.",
    ),
    th.Property(
        "activity_type_ids",
        th.ArrayType(th.IntegerType),
        description="Activity types to export (default: every type bulk can export).",
    ),
    th.Property(
        "activities_by_type",
        th.BooleanType,
        default=False,
        description="Also one stream per exportable activity type, activities_<type name> "
        "(custom types: activities_<apiName>), each attribute in a typed column; fed by the "
        "same export jobs as activities (no extra job).",
    ),
    th.Property(
        "program_ids",
        th.ArrayType(th.IntegerType),
        description="Programs whose members to export (default: every program).",
    ),
    th.Property(
        "program_member_lead_fields",
        th.ArrayType(th.StringType),
        description="Lead fields added to each program member row.",
    ),
    th.Property(
        "custom_objects",
        th.ArrayType(th.StringType),
        description="API names of the lead-linked custom objects to export, each as stream "
        "custom_<apiName> (default: every lead-linked one; [] for none).",
    ),
    th.Property(
        "leads_static_list",
        th.StringType,
        description="Export the members of this static list (id or name) instead of date windows.",
    ),
    th.Property(
        "leads_smart_list",
        th.StringType,
        description="Export the members of this smart list (id or name) instead of date windows.",
    ),
    th.Property(
        "on_quota_exhausted",
        th.StringType,
        default="stop",
        allowed_values=["stop", "fail"],
        description="On 1029 daily quota exceeded: stop (keep state, exit 0) or fail.",
    ),
    th.Property(
        "daily_quota_mb",
        th.NumberType,
        default=500,
        description="Stop creating jobs once the tap's own exported bytes today reach this "
        "(MiB); keep quota back for other integrations.",
    ),
    th.Property(
        "backfill_order",
        th.StringType,
        default="newest_first",
        allowed_values=["newest_first", "oldest_first"],
        description="Order of a first sync's windows: newest_first (the most recent data first, "
        "then back to start_date; every run first exports what is new) or oldest_first.",
    ),
    th.Property(
        "type_overrides",
        th.ObjectType(additional_properties=th.ObjectType(additional_properties=th.StringType)),
        description="Force a column's JSON type, in discovery and when reading values: "
        'stream -> {column -> type}, e.g. {"leads": {"externalCompanyId": "string"}}; types: '
        + ", ".join(TYPE_OVERRIDE_NAMES)
        + ". For a field whose Marketo type changed after the catalog was made.",
    ),
    th.Property(
        "list_members_rest_page_limit",
        th.IntegerType,
        default=50,
        description="list_members: a static list needing more REST calls (300 members each) "
        "than this is exported by one bulk leads job instead.",
    ),
    th.Property(
        "emit_activate_version_messages",
        th.BooleanType,
        default=EMIT_ACTIVATE_VERSION_DEFAULT,
        description="Full-table streams end each run with ACTIVATE_VERSION, so a loader with "
        "activate_version marks rows Marketo no longer has (_sdc_deleted_at).",
    ),
    th.Property(
        "reconcile_every_days",
        th.IntegerType,
        default=7,
        description="program_members and custom objects: every this many days (of end_date) a "
        "reconcile exports every row again under a new table version, so the loader marks rows "
        "Marketo no longer has (_sdc_deleted_at); program_members' first sync is one.",
    ),
).to_dict()

_RANGES: dict[str, tuple[float, float]] = {
    "window_days": (1, 31),
    "max_concurrent_jobs": (1, 2),
    "max_queued_jobs": (1, 2),
    "max_calls_per_20s": (1, 100),
    "poll_interval_seconds": (0.001, 86400),
    "job_timeout_seconds": (1, 7 * 86400),
    "queue_backoff_seconds": (0.001, 3600),
    "request_timeout_seconds": (1, 3600),
    "daily_quota_mb": (0.001, 1_000_000),
    "list_members_rest_page_limit": (1, 100_000),
    "reconcile_every_days": (1, 3650),
}


def resolve_base_url(config: t.Mapping[str, t.Any]) -> str:
    """The instance root from `base_url` or `munchkin_id`, without a trailing slash."""
    if config.get("base_url"):
        return str(config["base_url"]).rstrip("/")
    return f"https://{config['munchkin_id']}.mktorest.com"


def _check_base_url(url: str) -> str | None:
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        return f"base_url: not an http(s) URL ({url!r})"
    if parsed.path not in {"", "/"}:
        return "base_url: give the instance root only (the tap adds /rest, /bulk, /identity)"
    if parsed.scheme == "http" and not _is_loopback(parsed.hostname):
        return f"base_url: http only to 127.0.0.1/localhost; use https for {parsed.hostname}"
    return None


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_config(config: t.Mapping[str, t.Any]) -> list[str]:
    """Problems the JSON schema can't express, each one line starting with the setting's name."""
    errors: list[str] = []
    if not config.get("base_url") and not config.get("munchkin_id"):
        errors.append("base_url: required unless munchkin_id is given")
    elif config.get("base_url"):
        problem = _check_base_url(str(config["base_url"]))
        if problem:
            errors.append(problem)
    elif not MUNCHKIN_ID.match(str(config["munchkin_id"])):
        errors.append(f"munchkin_id: expected the form 123-ABC-456, got {config['munchkin_id']!r}")

    dates = {}
    for name in ("start_date", "end_date"):
        if config.get(name) is None:
            continue
        try:
            dates[name] = parse_datetime(str(config[name]))
        except ValueError:
            errors.append(f"{name}: not an ISO 8601 date or datetime: {config[name]!r}")
    if len(dates) == 2 and dates["start_date"] > dates["end_date"]:
        errors.append("end_date: must not be before start_date")

    for name, (low, high) in _RANGES.items():
        value = config.get(name)
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and not (low <= value <= high)
        ):
            errors.append(f"{name}: must be between {low:g} and {high:g} (got {value})")
    if config.get("leads_static_list") and config.get("leads_smart_list"):
        errors.append("leads_smart_list: set leads_static_list or leads_smart_list, not both")
    errors.extend(_check_type_overrides(config.get("type_overrides")))
    return errors


def _check_type_overrides(overrides: t.Any) -> list[str]:
    """type_overrides: {stream: {column: one of TYPE_OVERRIDE_NAMES}}, one line per problem."""
    if overrides is None:
        return []
    example = '{"leads": {"externalCompanyId": "string"}}'
    if not isinstance(overrides, dict):
        return [f"type_overrides: expected an object like {example}, got {overrides!r}"]
    errors = []
    for stream, columns in overrides.items():
        if not isinstance(columns, dict):
            errors.append(
                f"type_overrides: {stream}: expected an object of column -> type, got {columns!r}"
            )
            continue
        for column, json_type in columns.items():
            if json_type not in TYPE_OVERRIDE_NAMES:
                errors.append(
                    f"type_overrides: {stream}.{column}: {json_type!r} is not one of "
                    + ", ".join(TYPE_OVERRIDE_NAMES)
                )
    return errors


def schema_error_line(message: str, path: t.Sequence[t.Any], validator: str, params: t.Any) -> str:
    """A jsonschema error as `setting: problem`, the setting named first."""
    if validator == "required":
        missing = re.search(r"'([^']+)' is a required property", message)
        if missing:
            return f"{missing.group(1)}: required setting is missing"
    if path:
        return f"{path[0]}: {message}"
    return message


# ----- settings given as text ---------------------------------------------------------------------
# Environment variables (`--config=ENV`) and Meltano settings declared `kind: string` arrive as
# text. Every setting whose schema isn't a string is parsed here, by its JSON schema, so built-in
# SDK settings and new settings get the same treatment; a value that doesn't parse names it.

BOOLEAN_WORDS = {
    **dict.fromkeys(("true", "1", "yes", "on"), True),
    **dict.fromkeys(("false", "0", "no", "off"), False),
}


class SettingTextError(ValueError):
    """A setting's text can't be read as the type its schema wants."""


def schema_types(schema: t.Mapping[str, t.Any]) -> set[str]:
    """The JSON types a property schema allows (`type`, or the types of its `anyOf` branches)."""
    types: set[str] = set()
    for branch in schema.get("anyOf", [schema]):
        declared = branch.get("type", []) if isinstance(branch, t.Mapping) else []
        types.update([declared] if isinstance(declared, str) else declared)
    return types


def _parse_integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        number = _parse_number(text, "an integer")
        if not float(number).is_integer():
            raise SettingTextError(f"expected an integer, got {text!r}") from None
        return int(number)


def _parse_number(text: str, expected: str = "a number") -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise SettingTextError(f"expected {expected}, got {text!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise SettingTextError(f"expected {expected}, got {text!r}")
    return number


def _parse_json(text: str, kind: type, expected: str) -> t.Any:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise SettingTextError(f"expected {expected}, got {text!r} ({exc.msg})") from None
    if not isinstance(value, kind):
        raise SettingTextError(f"expected {expected}, got {text!r}")
    return value


def parse_setting_text(text: str, schema: t.Mapping[str, t.Any]) -> t.Any:
    """`text` as the value `schema` wants: numbers, booleans, JSON or comma-separated lists, JSON
    objects. Text for a schema that allows strings stays text."""
    types = schema_types(schema)
    stripped = text.strip()
    if "string" in types or not types:
        return text
    if "array" in types:
        if stripped.startswith("["):
            items = _parse_json(stripped, list, "a JSON list or comma-separated values")
        else:  # `1,2,3` / `email,firstName`, as singer-sdk also accepts for lists
            items = [item.strip() for item in stripped.split(",") if item.strip()]
        return normalize_value(items, schema)
    if "object" in types:
        return _parse_json(stripped, dict, "a JSON object")
    if "boolean" in types:
        if stripped.lower() not in BOOLEAN_WORDS:
            raise SettingTextError(f"expected true or false, got {text!r}")
        return BOOLEAN_WORDS[stripped.lower()]
    if "integer" in types:
        return _parse_integer(stripped)
    if "number" in types:
        return _parse_number(stripped)
    return text


def normalize_value(value: t.Any, schema: t.Mapping[str, t.Any]) -> t.Any:
    """`value` with text parsed where `schema` wants another type, array items included."""
    if isinstance(value, str):
        return parse_setting_text(value, schema)
    items = schema.get("items")
    if isinstance(value, list) and isinstance(items, t.Mapping):
        return [normalize_value(item, items) for item in value]
    return value


def normalize_config(
    config: t.Mapping[str, t.Any], schema: t.Mapping[str, t.Any]
) -> tuple[dict[str, t.Any], list[str]]:
    """The config with every setting given as text parsed by its schema, and one line per setting
    that didn't parse. Empty text for a non-text setting counts as unset (an exported but empty
    environment variable), so the default applies."""
    properties = schema.get("properties", {})
    normalized: dict[str, t.Any] = {}
    errors: list[str] = []
    for name, value in config.items():
        prop = properties.get(name)
        if prop is None:
            normalized[name] = value
            continue
        if isinstance(value, str) and not value.strip() and "string" not in schema_types(prop):
            continue
        try:
            normalized[name] = normalize_value(value, prop)
        except SettingTextError as exc:
            errors.append(f"{name}: {exc}")
            normalized[name] = value
    return normalized, errors
