"""The two ways Marketo pages its REST reference endpoints, and thin stream bases over them.

- Lead Database endpoints (`/rest/v1/...`: campaigns, lists, list members, deleted leads) page
  with `nextPageToken` (batchSize up to 300). A page may be empty or short while more remain:
  where the answer carries `moreResult`, only `moreResult: false` ends paging; otherwise a page
  without a `nextPageToken`, or with no result, is the last.
- Asset endpoints (`/rest/asset/v1/...`: programs, emails, segmentations) page by `offset`
  (maxReturn up to 200) and end with `success: true`, no `result` and the warning
  "No assets found for the given search criteria."; a short page is the last one too.

Declarative streams set `name`, `path`, `primary_keys` and `schema_dict` on one of the bases
(LeadDatabaseStream, AssetStream), the way tap-github declares its streams over one client class.
Errors, retries (606, 602, 502, ...) and token refresh stay in MarketoClient: a fault on page N
retries page N with the same offset or token, so paging resumes where it stood.
"""

from __future__ import annotations

import functools
import re
import typing as t

from singer_sdk import Tap

from tap_marketo_bulk.api.paging import (
    MAX_ASSET_RETURN,
    MAX_BATCH_SIZE,
    read_asset_pages,
    read_token_pages,
)
from tap_marketo_bulk.errors import ResourceGoneError
from tap_marketo_bulk.export.windows import format_datetime, parse_datetime
from tap_marketo_bulk.streams.table_version import TableVersionedStream

if t.TYPE_CHECKING:
    from tap_marketo_bulk.engine import MarketoEngine

ASSET_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})Z?([+-]\d{4})?$")
# Lead Database REST answered `2014-11-13 12:43:04` (UTC, no zone) in 2014 (node-marketo's
# recorded leads.json exchanges); later answers say `2014-11-13T12:43:04Z`.
SPACED_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})$")


def normalize_rest_datetime(value: t.Any) -> t.Any:
    """A Lead Database datetime as RFC 3339 UTC (`2014-11-13 12:43:04` -> `…T12:43:04Z`);
    any other value unchanged."""
    if isinstance(value, str) and (match := SPACED_TIMESTAMP.match(value)):
        return f"{match.group(1)}T{match.group(2)}Z"
    return value


def normalize_asset_timestamp(value: str | None) -> str | None:
    """Asset API timestamps look like `2010-03-27T18:27:45Z+0000`: make them RFC 3339 UTC."""
    if not value:
        return None
    match = ASSET_TIMESTAMP.match(value)
    if match and match.group(2):
        offset = match.group(2)
        return format_datetime(parse_datetime(f"{match.group(1)}{offset[:3]}:{offset[3:]}"))
    return format_datetime(parse_datetime(value))


class RestStream(TableVersionedStream):
    """A stream read from paged REST endpoints through the run's shared MarketoClient.

    Full table unless it declares a replication_key: then every run ends with ACTIVATE_VERSION
    (table_version.py), so rows Marketo no longer has are marked deleted by the loader."""

    schema_dict: t.ClassVar[dict]
    path: t.ClassVar[str] = ""
    # Marketo's field name -> the column it is emitted as. A field named `version` must be
    # renamed: target-postgres 0.8.1 fails ACTIVATE_VERSION on a table with a `version` column
    # (its soft-delete UPDATE binds a parameter of that name, which SQLAlchemy then refuses).
    renamed_fields: t.ClassVar[dict[str, str]] = {}

    def __init__(self, tap: Tap, engine: MarketoEngine) -> None:
        super().__init__(tap, schema=self.schema_dict)
        self.engine = engine  # client, describes, first_record_date (see engine.py)

    def request_params(self, context: dict | None) -> dict:
        """Query parameters beyond paging (filters); none by default."""
        return {}

    def pages(self, context: dict | None) -> t.Iterator[list[dict]]:
        raise NotImplementedError

    def to_record(self, item: dict, context: dict | None) -> dict:
        """The item (its fields renamed per `renamed_fields`) restricted to the schema's
        properties, datetimes as RFC 3339."""
        if self.renamed_fields:
            item = {self.renamed_fields.get(key, key): value for key, value in item.items()}
        record = {key: item.get(key) for key in self.schema["properties"]}
        for key in self._datetime_keys:
            record[key] = normalize_rest_datetime(record[key])
        return record

    @functools.cached_property
    def _datetime_keys(self) -> tuple[str, ...]:
        properties = self.schema["properties"]
        return tuple(k for k, v in properties.items() if v.get("format") == "date-time")

    def get_records(self, context: dict | None) -> t.Iterable[dict]:
        for page in self.pages(context):
            for item in page:
                yield self.to_record(item, context)

    def skip_vanished(self, kind: str, item: dict, error: ResourceGoneError) -> None:
        """A per-item call found its item deleted since the list call named it (a program
        between programs.json and its tokens, ...): one WARNING naming it, and the run goes on.
        Its rows of earlier runs then lose to ACTIVATE_VERSION like those of any deleted item."""
        self.logger.warning(
            "%s: %s %s (%r) was deleted after it was listed: skipped (Marketo %s: %s)",
            self.name,
            kind,
            item.get("id"),
            item.get("name"),
            error.code,
            error.message,
        )


class LeadDatabaseStream(RestStream):
    """`nextPageToken` paging over `path`."""

    batch_size: t.ClassVar[int] = MAX_BATCH_SIZE

    def pages(self, context: dict | None) -> t.Iterator[list[dict]]:
        return read_token_pages(
            self.engine.client,
            self.path,
            self.request_params(context),
            batch_size=self.batch_size,
        )


class ActivityLogStream(RestStream):
    """A Lead Database activity log (`path`, filtered by `request_params`) read from a paging
    token for the bookmark. `sinceDatetime` is inclusive, so the ids of the activities at the
    bookmark's second are kept in state (`ids_at_bookmark`) and never emitted twice."""

    def new_activities(self, context: dict | None) -> t.Iterator[dict]:
        """The log's activities since the bookmark not emitted before, in order; the ids at the
        newest second go into state once all are read."""
        client = self.engine.client
        bookmark = self.get_starting_replication_key_value(context)
        already = set(self.stream_state.get("ids_at_bookmark") or []) if bookmark else set()
        since = bookmark or format_datetime(self.engine.first_record_date)
        token = client.get(
            "/rest/v1/activities/pagingtoken.json",
            params={"sinceDatetime": format_datetime(parse_datetime(since))},
        )["nextPageToken"]
        latest, ids_at_latest = bookmark, set(already)
        # Pages can hold fewer than batchSize while more remain: only moreResult ends it.
        for page in read_token_pages(
            client, self.path, self.request_params(context), first_token=token
        ):
            for activity in page:
                when = activity.get("activityDate")
                if when == bookmark and activity.get("id") in already:
                    continue
                if latest is None or (when and when > latest):
                    latest, ids_at_latest = when, set()
                if when == latest:
                    ids_at_latest.add(activity.get("id"))
                yield activity
        self.stream_state["ids_at_bookmark"] = sorted(ids_at_latest)


class AssetStream(RestStream):
    """Offset paging over `path`; `asset_datetimes` are normalised to RFC 3339 UTC."""

    page_size: t.ClassVar[int] = MAX_ASSET_RETURN
    asset_datetimes: t.ClassVar[tuple[str, ...]] = ("createdAt", "updatedAt")

    def pages(self, context: dict | None) -> t.Iterator[list[dict]]:
        return read_asset_pages(
            self.engine.client,
            self.path,
            self.request_params(context),
            page_size=self.page_size,
        )

    def to_record(self, item: dict, context: dict | None) -> dict:
        record = super().to_record(item, context)
        for key in self.asset_datetimes:
            if key in record:
                record[key] = normalize_asset_timestamp(item.get(key))
        return record


__all__ = [
    "MAX_ASSET_RETURN",
    "MAX_BATCH_SIZE",
    "ActivityLogStream",
    "AssetStream",
    "LeadDatabaseStream",
    "RestStream",
    "normalize_asset_timestamp",
    "normalize_rest_datetime",
    "read_asset_pages",
    "read_token_pages",
]
