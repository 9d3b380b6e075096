"""Activities per type (setting activities_by_type): one export file feeds several streams.

`activities` and the `activities_<type>` streams form one ActivityExportGroup. The first selected
member in sync order (streams sync by name, so `activities` when it is selected) is the
*carrier*: it alone plans export jobs, one per window as `activities` would, with the union of
what the selected members need (`activityTypeIds`, `fields`). While it emits a file it routes each
row to the per-type stream of its activityTypeId, whose SCHEMA message it wrote first, straight
into that stream's RecordWriter (or the SDK's per-record path when that stream uses stream maps).
The other members plan nothing and, when the SDK syncs them later, have nothing left to emit.

State stays per stream: after each window the carrier moves the bookmark of every member that
received the window, then writes one STATE (the whole tap state, so every bookmark), and only the
carrier holds `in_flight` export ids. A member whose bookmark lies behind the others' (selected
later) gets the earlier windows alone: windows are cut at each member's start so every window has
one set of receivers, and a member never sees a window before its own bookmark.
"""

from __future__ import annotations

import typing as t
from datetime import datetime

from singer_sdk import Tap

from tap_marketo_bulk.errors import ColumnTypeError
from tap_marketo_bulk.export.backfill import emitted_range, range_holds
from tap_marketo_bulk.export.scheduler import ExportReady, ExportRequest
from tap_marketo_bulk.export.windows import Window
from tap_marketo_bulk.records.keyset import KeySet
from tap_marketo_bulk.records.parser import CoercionError, CsvRecordParser
from tap_marketo_bulk.streams.activities import (
    ACTIVITY_COLUMNS,
    ActivitiesStream,
    activities_schema,
)
from tap_marketo_bulk.streams.activity_tables import (
    COMMON_COLUMNS,
    attribute_columns,
    attribute_converter,
    exportable_types,
    stream_names,
    type_table_schema,
)
from tap_marketo_bulk.streams.bulk import ONE_SECOND, BulkExportStream
from tap_marketo_bulk.streams.output import direct_record_writer
from tap_marketo_bulk.streams.value_errors import column_type_error

if t.TYPE_CHECKING:
    from tap_marketo_bulk.engine import MarketoEngine

# Columns the carrier always asks for: the key, the window's date, and the routing column.
ROUTING_COLUMNS = ("marketoGUID", "activityDate", "activityTypeId")


class ActivityExportGroup:
    """`activities` and the per-type streams of a run; which one carries the export."""

    def __init__(self, participants: t.Callable[[], t.Sequence[t.Any]]) -> None:
        self._participants = participants  # the run's selected bulk streams, in sync order
        self.members: list[ActivityGroupMember] = []
        self._starts: dict[str, datetime] = {}
        # (backfilled_from, bookmark) of each member when the run was planned (backfill.py)
        self._emitted: dict[str, tuple[datetime | None, datetime | None]] = {}

    def selected(self) -> list[ActivityGroupMember]:
        names = {m.name for m in self.members}
        return [p for p in self._participants() if p.name in names]

    def carrier(self) -> ActivityGroupMember | None:
        selected = self.selected()
        return selected[0] if selected else None

    @property
    def carrier_name(self) -> str:
        carrier = self.carrier()
        return carrier.name if carrier is not None else "no stream"

    def plan_starts(self) -> dict[str, datetime]:
        """Each selected member's first second to export, fixed for this run's plan (with the
        range of windows it has emitted: a newest-first backfill walks back before it)."""
        selected = self.selected()
        self._starts = {m.name: m.own_window_start() for m in selected}
        self._emitted = {m.name: emitted_range(m.stream_state) for m in selected}
        return self._starts

    def cut_points(self) -> list[datetime]:
        """Where the members' emitted ranges start and end: a window is cut there, so each part
        goes to exactly the members that lack it."""
        points = list(self._starts.values())
        points += [reached for reached, _ in self._emitted.values() if reached is not None]
        return points

    def receivers(self, window: Window | None) -> list[ActivityGroupMember]:
        """The members a window's rows go to: those whose emitted range does not hold it."""
        return [
            m
            for m in self.selected()
            if m.name in self._emitted
            and (window is None or not range_holds(self._emitted[m.name], window))
        ]

    def export_body(self, window: Window) -> dict:
        receivers = self.receivers(window)
        wanted: set[str] = set(ROUTING_COLUMNS)
        type_ids: set[int] = set()
        for member in receivers:
            wanted.update(member.export_columns())
            type_ids.update(member.exported_type_ids())
        return {
            "fields": [name for name in ACTIVITY_COLUMNS if name in wanted],
            "format": "CSV",
            # One job per window for every member: one per type would multiply jobs and calls.
            "filter": {"createdAt": window.as_filter(), "activityTypeIds": sorted(type_ids)},
        }


def cut_at(windows: list[Window], cuts: t.Iterable[datetime]) -> list[Window]:
    """`windows` with every one that holds a cut point inside split there (cut starts a part)."""
    points = sorted(set(cuts))
    out: list[Window] = []
    for window in windows:
        start = window.start
        for point in points:
            if start < point <= window.end:
                out.append(Window(start, point - ONE_SECOND))
                start = point
        out.append(Window(start, window.end))
    return out


class ActivityGroupMember(BulkExportStream):
    """A bulk activity stream of the group: carries the export, or receives rows from it."""

    object_path = "activities"
    filter_name = "createdAt"
    replication_key = "activityDate"
    group: ActivityExportGroup

    # ----- what each member says it needs ------------------------------------------------------

    def export_columns(self) -> list[str]:
        raise NotImplementedError

    def exported_type_ids(self) -> list[int]:
        raise NotImplementedError

    # ----- carrier or not --------------------------------------------------------------------

    def is_carrier(self) -> bool:
        return self.group.carrier() is self

    def own_window_start(self) -> datetime:
        return super().window_start()

    def window_start(self) -> datetime:
        if self.is_carrier():  # the export starts where the member furthest behind stands
            return min(self.group.plan_starts().values())
        return self.own_window_start()

    def file_properties(self) -> dict[str, dict]:
        """The export file's columns, typed as the `activities` stream types them."""
        for member in self.group.members:
            if isinstance(member, ActivitiesStream):
                return member.schema["properties"]
        return ACTIVITY_COLUMNS

    def plan_requests(self, end: datetime) -> list[ExportRequest]:
        if not self.is_carrier():
            return []  # the carrier's jobs bring this stream's rows
        self.group.plan_starts()
        windows = cut_at(self.plan_windows(end), self.group.cut_points())
        return self.window_requests(windows, self.group.export_body)

    # ----- the carrier's sync ----------------------------------------------------------------

    def get_records(self, context: dict | None) -> t.Iterable[dict]:
        if not self.is_carrier():
            self.logger.info(
                "%s: its rows came with the export jobs of %s", self.name, self.group.carrier_name
            )
            return
        others = [m for m in self.group.selected() if m is not self]
        if others:
            self.logger.info(
                "%s: its export jobs also feed %s (no job of their own)",
                self.name,
                ", ".join(m.name for m in others),
            )
        for member in others:
            # Before any of its records: a target must know the stream first.
            member._write_schema_message()
            member.open_side_writer()
        try:
            yield from super().get_records(context)
        finally:
            for member in others:
                member.close_side_writer()

    def _emit_file(
        self, ready: ExportReady, parser: CsvRecordParser, key_fields: tuple, seen: KeySet
    ) -> t.Iterator[dict]:
        receivers = self.group.receivers(ready.request.window)
        to_self = self in receivers
        by_type: dict[int, ActivityTypeStream] = {}
        for member in receivers:
            if isinstance(member, ActivityTypeStream):
                by_type[member.type_id] = member
                member.prepare_typing()
                member.current_export_key = ready.request.key  # named by a value error
                if member is not self:
                    member.refresh_side_writer()
        own_rows = to_self and not isinstance(self, ActivityTypeStream)
        rows = super()._emit_file(ready, parser, key_fields, seen)
        for row_number, row in enumerate(rows, start=1):
            table = by_type.get(row.get("activityTypeId"))  # type: ignore[arg-type]
            if table is not None:
                typed = table.typed_record(row, row_number)
                if table is self:
                    yield typed
                else:
                    table.side_write(typed)
            if own_rows:
                yield row

    def finish_window(self, window: Window | None) -> None:
        if window is None or not self.is_carrier():
            super().finish_window(window)
            return
        # Every member that received this window has all of its rows: move its bookmark (the
        # carrier's next checkpoint writes them all in one STATE).
        for member in self.group.receivers(window):
            BulkExportStream.finish_window(member, window)

    def _log_summary(self, seconds: float) -> None:
        super()._log_summary(seconds)
        if self.is_carrier():
            counts = ", ".join(
                f"{m.name} {m.summary['records']}"
                for m in self.group.selected()
                if isinstance(m, ActivityTypeStream)
            )
            if counts:
                self.logger.info("%s: rows per activity type stream: %s", self.name, counts)


class GroupedActivitiesStream(ActivityGroupMember, ActivitiesStream):
    """`activities` when activities_by_type is on: same records, same columns."""

    def export_columns(self) -> list[str]:
        return self.selected_columns(always=("marketoGUID", "activityDate"))

    def exported_type_ids(self) -> list[int]:
        return self.activity_type_ids()


class ActivityTypeStream(ActivityGroupMember):
    """`activities_<type>`: one activity type's rows, each attribute in its own typed column."""

    def __init__(
        self,
        tap: Tap,
        schema: dict,
        engine: MarketoEngine,
        group: ActivityExportGroup,
        activity_type: dict,
        name: str,
    ) -> None:
        self.name = name  # before the SDK names the logger after it
        self.group = group
        self.type_id = int(activity_type["id"])
        super().__init__(tap, schema, engine)
        self.primary_keys = ["marketoGUID"]
        properties = self.schema["properties"]
        # Columns of types.json that the schema (built, or the input catalog's) still has.
        self.attribute_columns = [
            c
            for c in attribute_columns(activity_type.get("attributes") or [])
            if c.column in properties
        ]
        self._attributes = {c.attribute for c in self.attribute_columns}
        self._unknown_logged: set[str] = set()
        self._common: list[str] = []
        self._plan: list[tuple[str, str, t.Callable[[t.Any], t.Any]]] = []
        self._side_writer: t.Any = None
        self._side_sink: t.Callable[[dict], None] | None = None

    def marketo_data_types(self) -> dict[str, str]:
        return {c.column: c.data_type for c in self.attribute_columns}

    def export_columns(self) -> list[str]:
        common = self.selected_columns(always=ROUTING_COLUMNS)
        wanted = [name for name in common if name in COMMON_COLUMNS]
        if self._selected_attributes():
            wanted.append("attributes")
        return wanted

    def exported_type_ids(self) -> list[int]:
        return [self.type_id]

    def _selected_attributes(self) -> list:
        return [c for c in self.attribute_columns if self.mask.get(("properties", c.column), True)]

    # ----- rows from the carrier's file --------------------------------------------------------

    def typed_record(self, row: dict, row_number: int = 0) -> dict:
        """This table's record from one `activities` row: attributes into typed columns
        (after prepare_typing)."""
        record = {name: row.get(name) for name in self._common}
        attributes = row.get("attributes") or {}
        for column, attribute, convert in self._plan:
            value = attributes.get(attribute)
            try:
                record[column] = convert(value)
            except ValueError as exc:
                raise self._value_error(column, value, exc, row_number) from None
        if not self._attributes.issuperset(attributes):
            self._log_unknown(attributes)
        return record

    def prepare_typing(self) -> None:
        """The selected columns and each attribute's converter (once per file)."""
        properties = self.schema["properties"]
        selected = set(self.selected_columns(always=("marketoGUID",)))
        self._common = [name for name in COMMON_COLUMNS if name in selected]
        self._plan = [
            (c.column, c.attribute, attribute_converter(properties[c.column]))
            for c in self.attribute_columns
            if c.column in selected
        ]

    def _log_unknown(self, attributes: dict) -> None:
        unknown = sorted(set(attributes) - self._attributes - self._unknown_logged)
        if unknown:
            self._unknown_logged.update(unknown)
            self.logger.warning(
                "%s: attributes %s of activity type %d have no column in this stream's schema "
                "(not in activities/types.json when the catalog was made): left out here, kept "
                "in the activities stream's `attributes`; discover again to add their columns",
                self.name,
                ", ".join(repr(u) for u in unknown),
                self.type_id,
            )

    def _value_error(
        self, column: str, value: t.Any, exc: ValueError, row_number: int
    ) -> ColumnTypeError:
        error = CoercionError(column, str(value), str(exc), row_number, 0)
        return column_type_error(self, error)

    # ----- writing when another stream carries the export --------------------------------------

    def open_side_writer(self) -> None:
        self._side_writer = direct_record_writer(self, None, write_messages=True)
        # Stream maps, flattening...: the SDK's own per-record path.
        self._side_sink = (
            self._side_writer.append
            if self._side_writer is not None
            else self._write_record_message
        )

    def refresh_side_writer(self) -> None:
        if self._side_writer is not None:
            self._side_writer.refresh_time()

    def side_write(self, record: dict) -> None:
        assert self._side_sink is not None
        self._side_sink(record)
        self.summary["records"] += 1

    def close_side_writer(self) -> None:
        self._side_writer = self._side_sink = None


def activity_streams(
    tap: Tap, engine: MarketoEngine, bulk_schema: t.Callable[[str, t.Callable[[], dict]], dict]
) -> list[BulkExportStream]:
    """`activities`, and with activities_by_type one stream per exportable activity type."""

    def activities_built() -> dict:
        return activities_schema(engine.activity_types())

    if not tap.config.get("activities_by_type"):
        return [ActivitiesStream(tap, bulk_schema("activities", activities_built), engine)]
    group = ActivityExportGroup(lambda: engine.participants())
    activities = GroupedActivitiesStream(tap, bulk_schema("activities", activities_built), engine)
    activities.group = group
    group.members.append(activities)
    types = exportable_types(engine.activity_types(), tap.config.get("activity_type_ids"))
    names = stream_names(types)
    for activity_type in types:
        name = names[int(activity_type["id"])]
        schema = bulk_schema(name, lambda a=activity_type: type_table_schema(a, tap.logger))
        group.members.append(ActivityTypeStream(tap, schema, engine, group, activity_type, name))
    return list(group.members)
