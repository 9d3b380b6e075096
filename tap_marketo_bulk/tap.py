"""TapMarketoBulk: settings, stream discovery from the describe endpoints, the shared engine."""

from __future__ import annotations

import logging
import sys
import typing as t
from datetime import datetime
from functools import cached_property
from pathlib import Path, PurePath

import click
from jsonschema import Draft7Validator
from singer_sdk import Tap
from singer_sdk.configuration._dict_config import parse_environment_config
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._classproperty import classproperty
from singer_sdk.plugin_base import SingerCommand
from singer_sdk.singerlib import Schema

from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.engine import DESCRIBE_CACHE, MarketoEngine
from tap_marketo_bulk.errors import (
    ColumnTypeError,
    ConfigError,
    ExportFileError,
    MarketoError,
    StateError,
)
from tap_marketo_bulk.export.quota import QuotaTracker
from tap_marketo_bulk.export.scheduler import ExportScheduler
from tap_marketo_bulk.records.schema import apply_type_overrides, describe_to_properties
from tap_marketo_bulk.settings import (
    CONFIG_SCHEMA,
    check_config,
    normalize_config,
    resolve_base_url,
    schema_error_line,
)
from tap_marketo_bulk.state_check import check_state
from tap_marketo_bulk.streams.activities_by_type import activity_streams
from tap_marketo_bulk.streams.asset_catalog import ASSET_CATALOG_STREAMS
from tap_marketo_bulk.streams.assets import (
    EmailsStream,
    ProgramTokensStream,
    SegmentationsStream,
    SegmentsStream,
)
from tap_marketo_bulk.streams.bulk import BulkExportStream
from tap_marketo_bulk.streams.custom_objects import CustomObjectStream, discover_custom_objects
from tap_marketo_bulk.streams.lead_database import (
    CampaignsStream,
    ListMembersStream,
    ListsStream,
)
from tap_marketo_bulk.streams.leads import LeadsStream
from tap_marketo_bulk.streams.merged_leads import MergedLeadsStream
from tap_marketo_bulk.streams.output import BufferedMsgSpecWriter
from tap_marketo_bulk.streams.program_details import PROGRAM_DETAIL_STREAMS
from tap_marketo_bulk.streams.program_members import ProgramMembersStream
from tap_marketo_bulk.streams.reference import (
    ActivityTypesStream,
    DeletedLeadsStream,
    ProgramsStream,
)
from tap_marketo_bulk.streams.usage import ApiUsageStream

_DESCRIBE_CACHE = DESCRIBE_CACHE  # tests clear it between runs
# Errors whose message is the whole story (it names the setting, stream or key to fix): the CLI
# prints the one line, no traceback.
ONE_LINE_ERRORS = (ConfigError, MarketoError, StateError, ColumnTypeError, ExportFileError)


class MarketoBulkCommand(SingerCommand):
    """The CLI: a bad setting or a Marketo refusal ends the run in one clear line, no traceback."""

    def invoke(self, ctx: click.Context) -> t.Any:
        logging.captureWarnings(capture=True)
        sys.excepthook = self.excepthook
        try:
            return click.Command.invoke(self, ctx)
        except ConfigValidationError as exc:
            self.logger.error("Invalid config: %s", "; ".join(exc.errors))
        except ONE_LINE_ERRORS as exc:
            self.logger.error("%s", exc)
        ctx.exit(1)

    def make_context(self, *args: t.Any, **kwargs: t.Any) -> click.Context:
        # --discover and --about run as eager option callbacks while the arguments are parsed,
        # before invoke(): a discovery error (e.g. custom_objects) must end in one line too.
        try:
            return super().make_context(*args, **kwargs)
        except ONE_LINE_ERRORS as exc:
            self.logger.error("%s", exc)
            raise click.exceptions.Exit(1) from None


class TapMarketoBulk(Tap):
    """Singer tap for Marketo's Bulk Extract API."""

    name = "tap-marketo-bulk"
    config_jsonschema = CONFIG_SCHEMA
    dynamic_catalog = True
    message_writer_class = BufferedMsgSpecWriter

    # ----- settings ------------------------------------------------------------------------------

    @classproperty
    def _env_var_config(cls) -> dict[str, t.Any]:
        # Every TAP_MARKETO_BULK_* variable as its text: singer-sdk's own parsing would crash
        # on `0.5` for an integer and leave numbers as text; _validate_config parses them all.
        schema = cls.config_jsonschema
        cls.append_builtin_config(schema)
        as_text = {"properties": {name: {"type": "string"} for name in schema["properties"]}}
        return parse_environment_config(as_text, cls._env_var_prefix)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        schema = dict(self.config_jsonschema)
        self.append_builtin_config(schema)
        # Settings given as text (environment, Meltano `kind: string`) become typed values here,
        # before anything reads self.config.
        self._config, errors = normalize_config(self._config, schema)
        unreadable = {line.split(":", 1)[0] for line in errors}
        errors += [
            schema_error_line(e.message, list(e.path), str(e.validator), e.validator_value)
            for e in Draft7Validator(schema).iter_errors(self._config)
            if not e.path or e.path[0] not in unreadable
        ]
        if not errors:
            errors = check_config(self._config)
        if errors and raise_errors:
            raise ConfigValidationError(errors[0], errors=errors, schema=schema)
        return errors

    def __init__(self, *, state: t.Any = None, **kwargs: t.Any) -> None:
        # State is checked before the SDK builds the streams (which may call describe).
        # (A str naming a file is the SDK's deprecated state path: load_state checks it.)
        is_path = isinstance(state, PurePath) or (isinstance(state, str) and Path(state).is_file())
        if not is_path:
            state = check_state(state, self.logger)
        super().__init__(state=state, **kwargs)

    def load_state(self, state: dict[str, t.Any]) -> None:
        # A bad bookmark ends the run in one line; entries whose loss costs no data are dropped.
        super().load_state(check_state(state, self.logger))

    @classmethod
    def get_singer_command(cls) -> click.Command:
        command = super().get_singer_command()
        wrapped = MarketoBulkCommand(
            name=command.name,
            callback=command.callback,
            params=command.params,
            context_settings=command.context_settings,
            logger=cls.logger,
        )
        return wrapped

    # ----- the shared engine ---------------------------------------------------------------------

    @cached_property
    def engine(self) -> MarketoEngine:
        """What every stream shares; streams get it at construction, never reach back here."""
        engine = MarketoEngine(
            self.config,
            base_url=resolve_base_url(self.config),
            state=lambda: self.state,
            logger=self.logger,
            # Looked up at call time: tests replace tap.MarketoClient (e.g. to record its waits).
            client_factory=lambda *args, **kwargs: MarketoClient(*args, **kwargs),
        )
        engine.participants = self._bulk_participants
        return engine

    def _bulk_participants(self) -> list[BulkExportStream]:
        """The selected bulk streams, in the order sync_all syncs them."""
        return [
            stream
            for stream in self.streams.values()
            if isinstance(stream, BulkExportStream) and stream.selected
        ]

    def sync_all(self) -> None:
        try:
            super().sync_all()
            self._continue_backfills()
        finally:
            # Every stream is done (or one failed): end the export pipeline, cancel unused jobs.
            self.close_scheduler()

    def _continue_backfills(self) -> None:
        """A second pass over the bulk streams that left older windows so the newest windows of
        the streams after them came first: today's quota left goes on their backfill."""
        if "engine" not in self.__dict__ or "exports" not in self.engine.__dict__:
            return  # no bulk stream was synced
        plan = self.engine.exports
        names = plan.continue_backfills()
        if names:
            self.logger.info(
                "plan: the newest windows of every stream are exported; the backfill of %s goes "
                "on with today's export quota left",
                ", ".join(names),
            )
        for stream in self._bulk_participants():
            if stream.name in names:
                stream.sync()
                stream.finalize_state_progress_markers()
        plan.log_run_over()

    # Shortcuts to the engine (scripts and tests use them).
    @property
    def end_date(self) -> datetime:
        return self.engine.end_date

    @property
    def client(self) -> MarketoClient:
        return self.engine.client

    @property
    def quota(self) -> QuotaTracker:
        return self.engine.quota

    @property
    def scheduler(self) -> ExportScheduler:
        return self.engine.scheduler

    def _handle_termination(self, signum: int, frame: t.Any) -> None:  # pragma: no cover
        # SIGTERM/SIGINT: cancel jobs no state refers to, then let the SDK write the final state.
        self.close_scheduler()
        super()._handle_termination(signum, frame)

    def close_scheduler(self) -> None:
        if "engine" in self.__dict__:
            self.engine.close_scheduler()

    # ----- describes (cached in the engine) ------------------------------------------------------

    def activity_types(self) -> list[dict]:
        return self.engine.activity_types()

    def programs(self) -> list[dict]:
        return self.engine.programs()

    def lead_properties(self) -> dict[str, dict]:
        return self.engine.lead_properties()

    def program_member_properties(self) -> dict[str, dict]:
        properties = describe_to_properties(self.engine.program_member_fields(), self.logger)
        lead_fields = self.config.get("program_member_lead_fields") or []
        if lead_fields:
            leads = self.lead_properties()
            for name in lead_fields:
                if name not in leads:
                    raise ConfigError(f"program_member_lead_fields: no lead field named {name!r}")
                properties.setdefault(name, leads[name])
        properties.setdefault("programId", {"type": ["integer", "null"]})
        return properties

    def custom_object_streams(self) -> list[CustomObjectStream]:
        """A stream per chosen lead-linked custom object (setting custom_objects)."""
        engine = self.engine
        objects = discover_custom_objects(
            engine.describe, self.config.get("custom_objects"), self.logger
        )

        def build(path: str) -> dict:
            properties = describe_to_properties(engine.described_fields(path), self.logger)
            return {"type": "object", "properties": properties}

        return [
            CustomObjectStream(
                self,
                self._bulk_schema(o.stream_name, lambda o=o: build(o.describe_path)),
                engine,
                o,
            )
            for o in objects
        ]

    # ----- streams -------------------------------------------------------------------------------

    def _bulk_schema(self, name: str, build: t.Callable[[], dict]) -> dict:
        """A bulk stream's schema: the input catalog's when given (no describe call), else built;
        then the setting type_overrides, which forces a column's JSON type (and so its coercer)."""
        entry = self.input_catalog.get(name) if self.input_catalog is not None else None
        schema = entry.schema.to_dict() if entry is not None else build()
        overrides = (self.config.get("type_overrides") or {}).get(name)
        if not overrides:
            return schema
        schema = apply_type_overrides(schema, overrides, name, self.logger)
        if entry is not None:
            # The SDK writes SCHEMA messages from the input catalog: make it say the same.
            entry.schema = Schema.from_dict(schema)
            self.mapper.register_raw_streams_from_catalog(self.input_catalog)
        return schema

    def load_streams(self) -> list[t.Any]:
        streams = super().load_streams()
        bulk = {s.name for s in streams if isinstance(s, BulkExportStream)}
        for name in sorted(set(self.config.get("type_overrides") or {}) - bulk):
            self.logger.warning(
                "type_overrides: %r is not a bulk export stream (%s); ignored",
                name,
                ", ".join(sorted(bulk)),
            )
        return streams

    def discover_streams(self) -> list[BulkExportStream | t.Any]:
        def object_schema(properties: dict[str, dict]) -> dict:
            return {"type": "object", "properties": properties}

        engine = self.engine
        return [
            LeadsStream(
                self,
                self._bulk_schema("leads", lambda: object_schema(self.lead_properties())),
                engine,
            ),
            # `activities`, and with activities_by_type its per-type streams (one export).
            *activity_streams(self, engine, self._bulk_schema),
            ProgramMembersStream(
                self,
                self._bulk_schema(
                    "program_members", lambda: object_schema(self.program_member_properties())
                ),
                engine,
            ),
            *self.custom_object_streams(),
            ActivityTypesStream(self, engine),
            ProgramsStream(self, engine),
            DeletedLeadsStream(self, engine),
            MergedLeadsStream(self, engine),
            CampaignsStream(self, engine),
            ListsStream(self, engine),
            ListMembersStream(self, engine),
            EmailsStream(self, engine),
            SegmentationsStream(self, engine),
            SegmentsStream(self, engine),
            ProgramTokensStream(self, engine),
            *(stream(self, engine) for stream in ASSET_CATALOG_STREAMS + PROGRAM_DETAIL_STREAMS),
            ApiUsageStream(self, engine),
        ]


if __name__ == "__main__":
    TapMarketoBulk.cli()
