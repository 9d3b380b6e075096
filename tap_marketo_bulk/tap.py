"""TapMarketoBulk: settings, stream discovery from the describe endpoints, the shared engine."""

from __future__ import annotations

import logging
import sys
import threading
import typing as t
from datetime import datetime, timezone
from functools import cached_property

import click
from jsonschema import Draft7Validator
from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.plugin_base import SingerCommand

from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.errors import ConfigError, MarketoError
from tap_marketo_bulk.export.quota import QuotaTracker
from tap_marketo_bulk.export.scheduler import ExportScheduler
from tap_marketo_bulk.export.windows import parse_datetime
from tap_marketo_bulk.records.schema import describe_to_properties
from tap_marketo_bulk.settings import (
    CONFIG_SCHEMA,
    check_config,
    resolve_base_url,
    schema_error_line,
)
from tap_marketo_bulk.streams.activities import ActivitiesStream, activities_schema
from tap_marketo_bulk.streams.assets import (
    EmailsStream,
    ProgramTokensStream,
    SegmentationsStream,
    SegmentsStream,
)
from tap_marketo_bulk.streams.bulk import BulkExportStream
from tap_marketo_bulk.streams.lead_database import (
    CampaignsStream,
    ListMembersStream,
    ListsStream,
)
from tap_marketo_bulk.streams.leads import LeadsStream
from tap_marketo_bulk.streams.output import BufferedMsgSpecWriter
from tap_marketo_bulk.streams.program_members import ProgramMembersStream
from tap_marketo_bulk.streams.reference import (
    ActivityTypesStream,
    DeletedLeadsStream,
    ProgramsStream,
)
from tap_marketo_bulk.streams.rest import read_asset_pages

MIB = 1024 * 1024
# Describe answers per (instance, client, endpoint): the SDK builds streams several times a run
# (discovery, catalog, tests), and describes are API calls against a daily quota.
_DESCRIBE_CACHE: dict[tuple[str, str, str], t.Any] = {}
_DESCRIBE_LOCK = threading.Lock()


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

    @cached_property
    def end_date(self) -> datetime:
        """Inclusive end of this run's export (end_date, or the run's start), whole seconds."""
        if self.config.get("end_date"):
            return parse_datetime(self.config["end_date"])
        return datetime.now(timezone.utc).replace(microsecond=0)

    # ----- the shared engine ---------------------------------------------------------------------

    @cached_property
    def client(self) -> MarketoClient:
        return MarketoClient(
            resolve_base_url(self.config),
            self.config["client_id"],
            self.config["client_secret"],
            request_timeout=float(self.config.get("request_timeout_seconds", 300)),
            logger=self.logger.getChild("client"),
            max_calls_per_20s=int(self.config.get("max_calls_per_20s", 80)),
        )

    @cached_property
    def quota(self) -> QuotaTracker:
        """Bytes exported today, carried over from the latest day any bulk stream's state holds."""
        saved = [
            bookmark["quota"]
            for bookmark in self.state.get("bookmarks", {}).values()
            if isinstance(bookmark, dict) and isinstance(bookmark.get("quota"), dict)
        ]
        latest = max(saved, key=lambda q: (q.get("day", ""), q.get("bytes", 0)), default={})
        limit = int(float(self.config.get("daily_quota_mb", 500)) * MIB)
        return QuotaTracker.from_state(latest, limit)

    @cached_property
    def scheduler(self) -> ExportScheduler:
        return ExportScheduler(
            self.client,
            max_concurrent_jobs=int(self.config.get("max_concurrent_jobs", 2)),
            poll_interval=float(self.config.get("poll_interval_seconds", 60)),
            job_timeout=float(self.config.get("job_timeout_seconds", 10800)),
            queue_backoff=float(self.config.get("queue_backoff_seconds", 60)),
            quota=self.quota,
            logger=self.logger.getChild("scheduler"),
        )

    def in_flight_export_ids(self) -> set[str]:
        """Export ids a stream's state refers to: never cancel these, the next run resumes them."""
        ids: set[str] = set()
        for bookmark in self.state.get("bookmarks", {}).values():
            if isinstance(bookmark, dict):
                ids.update((bookmark.get("in_flight") or {}).values())
        return ids

    def _handle_termination(self, signum: int, frame: t.Any) -> None:  # pragma: no cover
        # SIGTERM/SIGINT: cancel jobs no state refers to, then let the SDK write the final state.
        self.close_scheduler()
        super()._handle_termination(signum, frame)

    def close_scheduler(self) -> None:
        if "scheduler" in self.__dict__:
            self.scheduler.close(keep=self.in_flight_export_ids())

    # ----- describes (cached) --------------------------------------------------------------------

    def _describe(self, path: str) -> t.Any:
        key = (resolve_base_url(self.config), str(self.config["client_id"]), path)
        with _DESCRIBE_LOCK:
            if key not in _DESCRIBE_CACHE:
                _DESCRIBE_CACHE[key] = self._read_all(path)
            return _DESCRIBE_CACHE[key]

    def _read_all(self, path: str) -> list[dict]:
        if path.startswith("/rest/asset/"):
            return self._read_asset_pages(path)
        return list(self.client.get(path).get("result") or [])

    def _read_asset_pages(self, path: str) -> list[dict]:
        return [item for page in read_asset_pages(self.client, path) for item in page]

    def activity_types(self) -> list[dict]:
        return self._describe("/rest/v1/activities/types.json")

    def programs(self) -> list[dict]:
        return self._describe("/rest/asset/v1/programs.json")

    def lead_properties(self) -> dict[str, dict]:
        described = self._describe("/rest/v1/leads/describe2.json")
        return describe_to_properties(described[0]["fields"] if described else [], self.logger)

    def program_member_properties(self) -> dict[str, dict]:
        described = self._describe("/rest/v1/programs/members/describe.json")
        properties = describe_to_properties(
            described[0]["fields"] if described else [], self.logger
        )
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

        return [
            LeadsStream(
                self, self._bulk_schema("leads", lambda: object_schema(self.lead_properties()))
            ),
            ActivitiesStream(
                self,
                self._bulk_schema("activities", lambda: activities_schema(self.activity_types())),
            ),
            ProgramMembersStream(
                self,
                self._bulk_schema(
                    "program_members", lambda: object_schema(self.program_member_properties())
                ),
            ),
            ActivityTypesStream(self),
            ProgramsStream(self),
            DeletedLeadsStream(self),
            CampaignsStream(self),
            ListsStream(self),
            ListMembersStream(self),
            EmailsStream(self),
            SegmentationsStream(self),
            SegmentsStream(self),
            ProgramTokensStream(self),
        ]


if __name__ == "__main__":
    TapMarketoBulk.cli()
