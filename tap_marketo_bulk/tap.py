"""TapMarketoBulk: settings, stream discovery from the describe endpoints, the shared engine."""

from __future__ import annotations

import logging
import sys
import typing as t
from datetime import datetime
from functools import cached_property

import click
from jsonschema import Draft7Validator
from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.plugin_base import SingerCommand

from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.engine import DESCRIBE_CACHE, MarketoEngine
from tap_marketo_bulk.errors import ConfigError, MarketoError
from tap_marketo_bulk.export.quota import QuotaTracker
from tap_marketo_bulk.export.scheduler import ExportScheduler
from tap_marketo_bulk.records.schema import describe_to_properties
from tap_marketo_bulk.settings import (
    CONFIG_SCHEMA,
    check_config,
    resolve_base_url,
    schema_error_line,
)
from tap_marketo_bulk.streams.activities import ActivitiesStream, activities_schema
from tap_marketo_bulk.streams.bulk import BulkExportStream
from tap_marketo_bulk.streams.leads import LeadsStream
from tap_marketo_bulk.streams.output import BufferedMsgSpecWriter
from tap_marketo_bulk.streams.program_members import ProgramMembersStream
from tap_marketo_bulk.streams.reference import (
    ActivityTypesStream,
    DeletedLeadsStream,
    ProgramsStream,
)

_DESCRIBE_CACHE = DESCRIBE_CACHE  # tests clear it between runs


class MarketoBulkCommand(SingerCommand):
    """The CLI: a bad setting or a Marketo refusal ends the run in one clear line, no traceback."""

    def invoke(self, ctx: click.Context) -> t.Any:
        logging.captureWarnings(capture=True)
        sys.excepthook = self.excepthook
        try:
            return click.Command.invoke(self, ctx)
        except ConfigValidationError as exc:
            self.logger.error("Invalid config: %s", "; ".join(exc.errors))
        except (ConfigError, MarketoError) as exc:
            self.logger.error("%s", exc)
        ctx.exit(1)


class TapMarketoBulk(Tap):
    """Singer tap for Marketo's Bulk Extract API."""

    name = "tap-marketo-bulk"
    config_jsonschema = CONFIG_SCHEMA
    dynamic_catalog = True
    message_writer_class = BufferedMsgSpecWriter

    # ----- settings ------------------------------------------------------------------------------

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        schema = dict(self.config_jsonschema)
        self.append_builtin_config(schema)
        errors = [
            schema_error_line(e.message, list(e.path), str(e.validator), e.validator_value)
            for e in Draft7Validator(schema).iter_errors(self._config)
        ]
        if not errors:
            errors = check_config(self._config)
        if errors and raise_errors:
            raise ConfigValidationError(errors[0], errors=errors, schema=schema)
        return errors

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
        finally:
            # Every stream is done (or one failed): end the export pipeline, cancel unused jobs.
            self.close_scheduler()

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

    def in_flight_export_ids(self) -> set[str]:
        return self.engine.in_flight_export_ids()

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
        return describe_to_properties(self.engine.lead_fields(), self.logger)

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

    # ----- streams -------------------------------------------------------------------------------

    def _bulk_schema(self, name: str, build: t.Callable[[], dict]) -> dict:
        """A bulk stream's schema: the input catalog's when given (no describe call), else built."""
        entry = self.input_catalog.get(name) if self.input_catalog is not None else None
        return entry.schema.to_dict() if entry is not None else build()

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
            ActivitiesStream(
                self,
                self._bulk_schema("activities", lambda: activities_schema(self.activity_types())),
                engine,
            ),
            ProgramMembersStream(
                self,
                self._bulk_schema(
                    "program_members", lambda: object_schema(self.program_member_properties())
                ),
                engine,
            ),
            ActivityTypesStream(self, engine),
            ProgramsStream(self, engine),
            DeletedLeadsStream(self, engine),
        ]


if __name__ == "__main__":
    TapMarketoBulk.cli()
