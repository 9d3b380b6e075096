"""Where the REST reference streams used to live: they are now declared by domain over the two
paging bases of rest.py (lead_database.py, assets.py). Kept so existing imports still work."""

from __future__ import annotations

from tap_marketo_bulk.streams.assets import ProgramsStream
from tap_marketo_bulk.streams.lead_database import ActivityTypesStream, DeletedLeadsStream
from tap_marketo_bulk.streams.rest import RestStream as ReferenceStream
from tap_marketo_bulk.streams.rest import normalize_asset_timestamp

__all__ = [
    "ActivityTypesStream",
    "DeletedLeadsStream",
    "ProgramsStream",
    "ReferenceStream",
    "normalize_asset_timestamp",
]
