"""MarketoEngine: what every stream of a run shares, handed to each stream explicitly (no Singer).

The client, the day's export quota, the one ExportScheduler, the run's end date, the instance's
birth, the cached describes, and the ExportPlan that runs every selected bulk stream's requests
as one pipeline. The tap builds one engine per run and gives it to its streams; streams reach
everything through `stream.engine`, never through the tap object.
"""

from __future__ import annotations

import logging
import threading
import typing as t
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timezone
from functools import cached_property

from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.api.paging import read_asset_pages
from tap_marketo_bulk.errors import ConfigError, MarketoError
from tap_marketo_bulk.export.plan import ExportParticipant, ExportPlan
from tap_marketo_bulk.export.quota import QuotaTracker
from tap_marketo_bulk.export.scheduler import ExportScheduler
from tap_marketo_bulk.export.windows import format_datetime, marketo_day, parse_datetime
from tap_marketo_bulk.records.schema import describe_data_types, describe_to_properties

MIB = 1024 * 1024
FOLDERS_PATH = "/rest/asset/v1/folders.json"
# Describe answers per (instance, client, endpoint): the SDK builds streams several times a run
# (discovery, catalog, tests), and describes are API calls against a daily quota.
DESCRIBE_CACHE: dict[tuple[str, str, str], t.Any] = {}
_DESCRIBE_LOCK = threading.Lock()


class MarketoEngine:
    """The shared engine of one run. `state` returns the tap's live state dict (bookmarks);
    `config` is the tap's settings (client id/secret, timing, limits, start/end dates)."""

    def __init__(
        self,
        config: Mapping[str, t.Any],
        *,
        base_url: str,
        state: Callable[[], dict],
        logger: logging.Logger,
        client_factory: Callable[..., MarketoClient] = MarketoClient,
    ) -> None:
        self.config = config
        self.base_url = base_url  # the instance root (settings.resolve_base_url)
        self._client_factory = client_factory
        self._state = state
        self.logger = logger
        # The selected bulk streams in sync order; the tap sets this once its streams exist.
        self.participants: Callable[[], Sequence[ExportParticipant]] = list

    # ----- the run's bounds -------------------------------------------------------------------

    @cached_property
    def end_date(self) -> datetime:
        """Inclusive end of this run's export (end_date, or the run's start), whole seconds."""
        if self.config.get("end_date"):
            return parse_datetime(self.config["end_date"])
        return datetime.now(timezone.utc).replace(microsecond=0)

    @cached_property
    def birth(self) -> datetime | None:
        """The instance's birth: the oldest createdAt of its top-level folders (created with the
        instance, so no record is older). Read once per run; None when Marketo refuses it."""
        try:
            folders = self._read_asset_pages(FOLDERS_PATH, {"maxDepth": 1})
            dates = [parse_datetime(str(f["createdAt"])) for f in folders if f.get("createdAt")]
        except (MarketoError, ValueError, TypeError) as exc:
            self.logger.warning(
                "could not read the instance's birth from %s (%s); start_date bounds the export",
                FOLDERS_PATH,
                exc,
            )
            return None
        if not dates:
            self.logger.warning(
                "%s listed no top-level folder with a createdAt; start_date bounds the export",
                FOLDERS_PATH,
            )
            return None
        born = min(dates).replace(microsecond=0)
        self.logger.info("instance born %s (oldest top-level folder)", format_datetime(born))
        return born

    @cached_property
    def first_record_date(self) -> datetime:
        """Where a stream without a bookmark starts: start_date, never before the birth."""
        start = self.config.get("start_date")
        start_date = parse_datetime(start) if start else None
        birth = self.birth
        if birth is None and start_date is None:
            raise ConfigError(
                "start_date: required here, because the instance's birth could not be read "
                f"from {FOLDERS_PATH} (give the API user's role Read-Only Assets, or set "
                "start_date)"
            )
        if birth is None:
            assert start_date is not None
            return start_date
        if start_date is not None and start_date < birth:
            self.logger.info(
                "start_date %s is before the instance's birth %s: starting at the birth",
                format_datetime(start_date),
                format_datetime(birth),
            )
        return birth if start_date is None else max(start_date, birth)

    # ----- the shared engine -----------------------------------------------------------------

    @cached_property
    def client(self) -> MarketoClient:
        return self._client_factory(
            self.base_url,
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
            for bookmark in self._state().get("bookmarks", {}).values()
            if isinstance(bookmark, dict) and isinstance(bookmark.get("quota"), dict)
        ]
        latest = max(saved, key=lambda q: (q.get("day", ""), q.get("bytes", 0)), default={})
        limit = int(float(self.config.get("daily_quota_mb", 500)) * MIB)
        return QuotaTracker.from_state(latest, limit, today=self.marketo_today)

    def marketo_today(self) -> date:
        """The Marketo day (US Central) by Marketo's clock, as its answers' Date header tells."""
        server_now = getattr(self.client, "server_now", None)
        return marketo_day(server_now() if server_now else datetime.now(timezone.utc))

    @cached_property
    def scheduler(self) -> ExportScheduler:
        return ExportScheduler(
            self.client,
            max_concurrent_jobs=int(self.config.get("max_concurrent_jobs", 2)),
            max_queued_jobs=int(self.config.get("max_queued_jobs", 2)),
            poll_interval=float(self.config.get("poll_interval_seconds", 60)),
            job_timeout=float(self.config.get("job_timeout_seconds", 10800)),
            queue_backoff=float(self.config.get("queue_backoff_seconds", 60)),
            quota=self.quota,
            logger=self.logger.getChild("scheduler"),
        )

    @cached_property
    def exports(self) -> ExportPlan:
        """The one plan of this run's bulk exports, across every selected bulk stream."""
        return ExportPlan(
            self.scheduler,
            end=lambda: self.end_date,
            participants=self.participants,
            keep=self.in_flight_export_ids,
            logger=self.logger.getChild("plan"),
        )

    def in_flight_export_ids(self) -> set[str]:
        """Export ids a stream's state refers to: never cancel these, the next run resumes them."""
        ids: set[str] = set()
        for bookmark in self._state().get("bookmarks", {}).values():
            if isinstance(bookmark, dict):
                ids.update((bookmark.get("in_flight") or {}).values())
        return ids

    def close_scheduler(self) -> None:
        """Stop the exports; cancel our jobs no state refers to (error exit, SIGTERM, run end)."""
        if "exports" in self.__dict__:
            self.exports.stop()
        if "scheduler" in self.__dict__:
            self.scheduler.close(keep=self.in_flight_export_ids())

    # ----- describes (cached) ----------------------------------------------------------------

    def activity_types(self) -> list[dict]:
        return self.describe("/rest/v1/activities/types.json")

    def programs(self) -> list[dict]:
        return self.describe("/rest/asset/v1/programs.json")

    def lead_fields(self) -> list[dict]:
        return self.described_fields("/rest/v1/leads/describe2.json")

    def program_member_fields(self) -> list[dict]:
        return self.described_fields("/rest/v1/programs/members/describe.json")

    def described_fields(self, path: str) -> list[dict]:
        """The `fields` of a describe answer (`result[0]`): leads, program members, custom
        objects."""
        described = self.describe(path)
        return list(described[0]["fields"]) if described else []

    def lead_properties(self) -> dict[str, dict]:
        """Lead field -> JSON schema, through the dataType map."""
        return describe_to_properties(self.lead_fields(), self.logger)

    def lead_data_types(self) -> dict[str, str]:
        """Lead field -> Marketo dataType, from describe2 (for error messages)."""
        return describe_data_types(self.lead_fields())

    def program_member_data_types(self) -> dict[str, str]:
        member_types = describe_data_types(self.program_member_fields())
        if self.config.get("program_member_lead_fields"):
            return {**self.lead_data_types(), **member_types}
        return member_types

    def describe(self, path: str) -> t.Any:
        key = (self.base_url, str(self.config["client_id"]), path)
        with _DESCRIBE_LOCK:
            if key not in DESCRIBE_CACHE:
                DESCRIBE_CACHE[key] = self._read_all(path)
            return DESCRIBE_CACHE[key]

    def _read_all(self, path: str) -> list[dict]:
        if path.startswith("/rest/asset/"):
            return self._read_asset_pages(path)
        return list(self.client.get(path).get("result") or [])

    def _read_asset_pages(self, path: str, params: dict | None = None) -> list[dict]:
        return [item for page in read_asset_pages(self.client, path, params) for item in page]
