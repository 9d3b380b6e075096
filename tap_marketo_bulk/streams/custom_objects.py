"""Custom objects: one `custom_<apiName>` stream per lead-linked Marketo custom object.

Discovery lists the instance's custom objects (`/rest/v1/customobjects.json`) and keeps those
with a relationship to `Lead`: Marketo's bulk export takes only first-level lead-linked objects
(api-notes §10). Each is exported like leads: `updatedAt` windows of `window_days` minus one
second, only the selected columns plus the key (`idField`, marketoGUID) and `updatedAt`. A
reconcile (reconcile.py; the first sync is one) exports every window of the object's lifetime
again, from the first record date, under a new table version: deleted records are then marked
deleted by the loader.
"""

from __future__ import annotations

import logging
import re
import typing as t
from dataclasses import dataclass
from datetime import datetime

from tap_marketo_bulk.errors import ConfigError, MarketoError
from tap_marketo_bulk.export.backfill import backfill_done
from tap_marketo_bulk.export.scheduler import ExportRequest
from tap_marketo_bulk.export.windows import Window, format_datetime, parse_datetime, plan_windows
from tap_marketo_bulk.records.schema import describe_data_types
from tap_marketo_bulk.streams.bulk import ONE_SECOND
from tap_marketo_bulk.streams.reconcile import ReconcilingStream, new_version

if t.TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_marketo_bulk.engine import MarketoEngine

LIST_PATH = "/rest/v1/customobjects.json"
SETTING = "custom_objects"
STREAM_PREFIX = "custom_"
# API names are letters, digits and underscores ("car_c"); anything else would change the path.
API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
ACCESS_DENIED = "603"
PERMISSION_HINT = "the API user's role needs the 'Read-Only Custom Object' permission"


@dataclass(frozen=True)
class CustomObject:
    """A lead-linked custom object the tap exports."""

    api_name: str
    id_field: str

    @property
    def stream_name(self) -> str:
        return STREAM_PREFIX + self.api_name

    @property
    def describe_path(self) -> str:
        return f"/rest/v1/customobjects/{self.api_name}/describe.json"


def is_lead_linked(item: dict) -> bool:
    """A relationship whose `relatedTo.name` is Lead: the only kind bulk export accepts."""
    return any(
        isinstance(rel, dict) and (rel.get("relatedTo") or {}).get("name") == "Lead"
        for rel in item.get("relationships") or []
    )


def _link_of(item: dict) -> str:
    names = {
        str((rel.get("relatedTo") or {}).get("name"))
        for rel in item.get("relationships") or []
        if isinstance(rel, dict) and (rel.get("relatedTo") or {}).get("name")
    }
    return ", ".join(sorted(names)) or "nothing"


def discover_custom_objects(
    read: t.Callable[[str], list[dict]],
    configured: list[str] | None,
    logger: logging.Logger,
) -> list[CustomObject]:
    """The custom objects to export, from the list call; [] (with a WARNING) when there are none.

    `configured` is the `custom_objects` setting: None means every lead-linked object, [] none.
    A named object that is missing or not lead-linked raises ConfigError naming the setting.
    """
    if configured is not None and not configured:
        return []
    try:
        listed = read(LIST_PATH)
    except MarketoError as exc:
        if exc.code != ACCESS_DENIED:
            raise
        if configured:
            raise ConfigError(
                f"{SETTING}: Marketo refused the custom object list ({exc.code} {exc.message}); "
                f"{PERMISSION_HINT}"
            ) from None
        logger.warning(
            "No custom object streams: Marketo refused the custom object list (%s %s); %s",
            exc.code,
            exc.message,
            PERMISSION_HINT,
        )
        return []
    by_name = {str(item.get("name")): item for item in listed if item.get("name")}
    not_exportable = {n: i for n, i in by_name.items() if not is_lead_linked(i)}
    if not_exportable:
        logger.info(
            "Custom objects not exported (bulk export takes lead-linked objects only): %s",
            ", ".join(f"{n} (linked to {_link_of(i)})" for n, i in sorted(not_exportable.items())),
        )
    if configured is None:
        chosen = [n for n in by_name if n not in not_exportable]
        if not chosen:
            logger.warning(
                "No custom object streams: this Marketo instance has no lead-linked custom objects"
            )
    else:
        for name in configured:
            if name not in by_name:
                known = ", ".join(sorted(set(by_name) - set(not_exportable))) or "none"
                raise ConfigError(
                    f"{SETTING}: no custom object with API name {name!r} on this instance "
                    f"(lead-linked ones: {known})"
                )
            if name in not_exportable:
                raise ConfigError(
                    f"{SETTING}: {name!r} is linked to {_link_of(not_exportable[name])}, not to "
                    "leads; Marketo's bulk export takes lead-linked custom objects only"
                )
        chosen = list(dict.fromkeys(configured))
    objects = []
    for name in chosen:
        if not API_NAME.match(name):
            logger.warning("Custom object %r skipped: not a valid API name", name)
            continue
        objects.append(CustomObject(name, str(by_name[name].get("idField") or "marketoGUID")))
    return objects


class CustomObjectStream(ReconcilingStream):
    """One lead-linked custom object, exported by `updatedAt` windows."""

    replication_key = "updatedAt"

    def __init__(
        self, tap: Tap, schema: dict, engine: MarketoEngine, custom_object: CustomObject
    ) -> None:
        self.name = custom_object.stream_name  # before the SDK names the logger after it
        self.custom_object = custom_object
        self.object_path = f"customobjects/{custom_object.api_name}"
        super().__init__(tap, schema, engine)
        self.primary_keys = [custom_object.id_field]

    @property
    def filter_name(self) -> str:  # type: ignore[override]
        return "updatedAt"

    def marketo_data_types(self) -> dict[str, str]:
        return describe_data_types(self.engine.described_fields(self.custom_object.describe_path))

    def fields(self) -> list[str]:
        return self.selected_columns(always=(self.custom_object.id_field, "updatedAt"))

    def plan_requests(self, end: datetime) -> list[ExportRequest]:
        fields = self.fields()

        def body_for(window: Window) -> dict:
            return {"fields": fields, "format": "CSV", "filter": {"updatedAt": window.as_filter()}}

        return self.count_reconcile_requests(self.window_requests(self.plan_windows(end), body_for))

    # A first sync is no reconcile here: it goes newest first (export/backfill.py), its records
    # under a first table version; a reconcile re-exports every window oldest first (its
    # progress is `through`), and waits until the first sync's backfill has reached the start.

    def _reconcile_reason(self) -> str | None:
        state = self.stream_state
        if not state.get("replication_key_value"):
            return None  # a first sync (table_version gives it its version)
        if not backfill_done(state, self.engine.first_record_date):
            return None  # still backfilling: every row not yet exported comes anyway
        return super()._reconcile_reason()

    def reconcile_estimate(self) -> float | None:
        """The last reconcile's bytes; before the first one (the first sync was none), the
        stream's file bytes per day so far over the days from its first record date."""
        recorded = super().reconcile_estimate()
        if recorded is not None:
            return recorded
        lifetime = (self.engine.end_date - self.engine.first_record_date).total_seconds() / 86400
        return self.exported().bytes_by_day(lifetime)

    def table_version(self) -> int | None:
        state = self.stream_state
        if (
            not self._reconciling_now()
            and state.get("version") is None
            and not state.get("replication_key_value")
        ):
            # The first sync's version; it counts as the first reconcile (nothing to mark yet).
            state["version"] = new_version(None)
            state["reconciled_at"] = format_datetime(self.engine.end_date)
        return super().table_version()

    def plan_windows(self, end: datetime) -> list[Window]:
        if self.reconcile is None:
            return super().plan_windows(end)
        self._backfill_until = None  # a re-export, never backfill
        start, days = self.window_start(), int(self.config.get("window_days", 31))
        return self.with_resumed_parts(plan_windows(start, end, days) if start <= end else [])

    def window_start(self) -> datetime:
        """A reconcile starts at the first record date, or after its last finished window."""
        reconcile = self.reconcile
        if reconcile is None:
            return super().window_start()
        through = reconcile.get("through")
        return parse_datetime(through) + ONE_SECOND if through else self.engine.first_record_date

    def finish_window(self, window: Window | None) -> None:
        reconcile = self.reconcile
        if reconcile is None or window is None:
            super().finish_window(window)
            return
        # A reconcile's window re-exports rows the emitted range already holds: it moves only
        # the reconcile's progress, and the bookmark where it passes it. The in_flight entries
        # of its later windows stay: they are this reconcile's jobs, re-attached after a kill.
        self.summary["windows"] += 1
        state = self.stream_state
        bookmark = state.get("replication_key_value")
        if not bookmark or parse_datetime(bookmark) < window.end:
            state["replication_key_value"] = format_datetime(window.end)
        state["replication_key"] = self.replication_key
        state["filter"] = self.filter_name
        reconcile["through"] = format_datetime(window.end)

    def finish_reconcile(self, reconcile: dict) -> None:
        """Every window up to this run's end is exported again: the bookmark moves there."""
        through = reconcile.get("through")
        if through:
            state = self.stream_state
            state["replication_key"] = self.replication_key
            state["replication_key_value"] = through
            state["filter"] = self.filter_name
