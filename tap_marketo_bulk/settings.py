"""The settings: their JSON schema (what `--about` lists) and checks a schema can't express."""

from __future__ import annotations

import ipaddress
import re
import typing as t
from urllib.parse import urlparse

from singer_sdk import typing as th

from tap_marketo_bulk.export.windows import parse_datetime

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
).to_dict()

_RANGES: dict[str, tuple[float, float]] = {
    "window_days": (1, 31),
    "max_concurrent_jobs": (1, 2),
    "max_calls_per_20s": (1, 100),
    "poll_interval_seconds": (0.001, 86400),
    "job_timeout_seconds": (1, 7 * 86400),
    "queue_backoff_seconds": (0.001, 3600),
    "request_timeout_seconds": (1, 3600),
    "daily_quota_mb": (0.001, 1_000_000),
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
