"""GroundTruth: exactly the records a correct tap emits for the sandbox's current data."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .asset_catalog_truth import AssetCatalogTruth, catalog_counts
from .assets_truth import AssetTruth, reference_counts
from .catalog import ACTIVITY_TYPES, MEMBER_FIELDS
from .dataset import Dataset
from .merges import merged_lead_rows
from .timeutil import iso, parse_utc
from .values import documented_value, format_cell


class GroundTruth(AssetTruth, AssetCatalogTruth):
    """Typed records per stream, rebuilt after every `Sandbox.mutate()`.

    Lists are cached per data version: treat them as read-only. Every value is what Marketo's
    documentation says the text in the file means (values.DOCUMENTED_VALUE, api-notes section
    9): integer/score -> int; percent/float/currency -> float; boolean -> bool; reference ->
    str (CRM ids such as "0015000000aBcDeAAA" or "001656783185136518", byte for byte);
    date -> "YYYY-MM-DD"; datetime -> "YYYY-MM-DDTHH:MM:SSZ"; strings exact (NUL, CR, newlines,
    U+2028, 30,000-byte textareas kept); empty -> None.
    """

    def __init__(self, dataset: Dataset) -> None:
        self._data = dataset
        self._cache: dict[str, tuple[int, Any]] = {}

    def _cached(self, key: str, build: Callable[[], Any]) -> Any:
        with self._data.lock:
            version = self._data.version
            hit = self._cache.get(key)
            if hit is None or hit[0] != version:
                hit = (version, build())
                self._cache[key] = hit
            return hit[1]

    @property
    def leads(self) -> list[dict[str, Any]]:
        """One dict per lead, ordered by `id`: every describe2 field except formula fields
        (`mktoName`), keyed by its API name, e.g. {"id": 7, "createdAt": "...Z",
        "updatedAt": "...Z", "email": ..., "leadScore": 12, "annualRevenue": 1234.5,
        "unsubscribed": False, "dateOfBirth": "1980-02-03", "comments": "a\\nb", ...}.
        `updatedAt` is also the value the bulk updatedAt filter matches."""

        def build() -> list[dict[str, Any]]:
            table = self._data.leads
            getters = table.exportable_getters()
            rows = [table.record(pos, getters) for pos in range(len(table))]
            rows.sort(key=lambda row: row["id"])
            return rows

        return self._cached("leads", build)

    @property
    def activities(self) -> list[dict[str, Any]]:
        """One dict per activity in the bulk data (never type 37), by activityDate then GUID:
        {"marketoGUID": "700000001" (str), "leadId": int, "activityDate": "...Z",
        "activityTypeId": int, "campaignId": int | None, "primaryAttributeValueId": int | None,
        "primaryAttributeValue": str | None, "attributes": dict (native JSON types) | None,
        "actionResult": "succeeded" | "skipped" | "failed"}. `actionResult` is only in files
        when requested; drop it when the tap does not ask for it."""

        def build() -> list[dict[str, Any]]:
            table = self._data.activities
            return [table.record(pos) for pos in range(len(table))]

        return self._cached("activities", build)

    @property
    def program_members(self) -> list[dict[str, Any]]:
        """One dict per membership, unique by (leadId, programId), ordered by programId then
        leadId, with every program member describe field: acquiredBy (bool),
        attendanceLikelihood (int|None), createdAt, isExhausted, leadId, membershipDate,
        nurtureCadence, program (name), programId, reachedSuccess, reachedSuccessDate,
        registrationLikelihood, statusName, statusReason, trackName, updatedAt, waitlistPriority,
        myCustomField, registrationCode, webinarUrl."""

        def build() -> list[dict[str, Any]]:
            types = {f.name: f.data_type for f in MEMBER_FIELDS}
            rows = [
                {name: documented_value(kind, format_cell(member[name]))
                 for name, kind in types.items()}
                for member in self._data.members
            ]
            rows.sort(key=lambda row: (row["programId"], row["leadId"]))
            return rows

        return self._cached("program_members", build)

    @property
    def members_by_key(self) -> dict[tuple[int, int], dict[str, Any]]:
        """`program_members` keyed by (leadId, programId)."""
        return {(m["leadId"], m["programId"]): m for m in self.program_members}

    @property
    def programs(self) -> list[dict[str, Any]]:
        """Programs as /rest/asset/v1/programs.json returns them ({id, name, description,
        createdAt, updatedAt, url, type, channel, folder: {type, value, folderName}, status,
        workspace, sfdcId, sfdcName, headStart}) except createdAt/updatedAt normalized to
        "YYYY-MM-DDTHH:MM:SSZ"."""

        def build() -> list[dict[str, Any]]:
            rows = copy.deepcopy(self._data.programs)
            for row in rows:
                for key in ("createdAt", "updatedAt"):
                    row[key] = iso(parse_utc(row[key].removesuffix("+0000")))
            return rows

        return self._cached("programs", build)

    @property
    def activity_types(self) -> list[dict[str, Any]]:
        """Activity types exactly as /rest/v1/activities/types.json returns them ({id, name,
        description, apiName?, primaryAttribute? {name, dataType}, attributes? [...]}),
        including 37 Delete Lead."""
        return copy.deepcopy(list(ACTIVITY_TYPES))

    @property
    def deleted_leads(self) -> list[dict[str, Any]]:
        """Deleted leads exactly as /rest/v1/activities/deletedleads.json returns them, by
        activityDate: {id, marketoGUID, leadId, activityDate, activityTypeId: 37,
        primaryAttributeValueId, primaryAttributeValue, attributes: []}."""
        return self._cached("deleted_leads", lambda: copy.deepcopy(self._data.deleted_leads))

    @property
    def merged_leads(self) -> list[dict[str, Any]]:
        """One row per lead merged into another, from the Merge Leads (type 32) activities that
        name it in "Merge IDs": {leadId (the winner), mergedLeadId, mergedAt}, by mergedLeadId."""
        return self._cached("merged_leads", lambda: merged_lead_rows(self._data.activities))

    @property
    def static_lists(self) -> list[dict[str, Any]]:
        """Static lists: {id, name, description, programName, workspaceName, createdAt,
        updatedAt, leadIds: [int, ...]} (leadIds ascending; /rest/v1/lists.json omits leadIds)."""
        return self._cached("static_lists", lambda: copy.deepcopy(self._data.static_lists))

    @property
    def folders(self) -> list[dict[str, Any]]:
        """Folders as /rest/asset/v1/folders.json returns them, as the tap's `folders` stream
        emits them: createdAt/updatedAt "YYYY-MM-DDTHH:MM:SSZ", plus `type` (folderId.type). The
        oldest top-level createdAt is the instance birth: data_start."""

        def build() -> list[dict[str, Any]]:
            rows = copy.deepcopy(self._data.folders)
            for row in rows:
                row["type"] = row["folderId"]["type"]
                for key in ("createdAt", "updatedAt"):
                    row[key] = iso(parse_utc(row[key].removesuffix("+0000")))
            return rows

        return self._cached("folders", build)

    @property
    def lead_fields(self) -> list[dict[str, Any]]:
        """The describe2.json `fields` list (includes the formula field `mktoName`)."""
        return [f.describe() for f in self._data.lead_fields]

    @property
    def member_fields(self) -> list[dict[str, Any]]:
        """The programs/members/describe.json `fields` list."""
        return [f.describe() for f in MEMBER_FIELDS]

    @property
    def custom_objects(self) -> dict[str, list[dict[str, Any]]]:
        """Rows of every custom object by API name, ordered by marketoGUID, each with every
        describe field. Values as Marketo's field types describe them: string/text/textarea/
        email/phone/url and reference -> str (CRM ids such as "0015000000aBcDeAAA" or
        "001656783185136518", zeros kept); integer/score -> int; percent/float/currency ->
        float; boolean -> bool; date -> "YYYY-MM-DD"; datetime -> "...Z"; empty -> None.
        Objects not linked to leads are here too (bulk export refuses them)."""
        store = self._data.custom_objects
        return {name: store.truth(name) for name in store.definitions}

    @property
    def custom_object_definitions(self) -> list[dict[str, Any]]:
        """Every custom object as describe.json returns it (list item plus `fields`)."""
        return [d.describe() for d in self._data.custom_objects.definitions.values()]

    @property
    def instance_birth(self) -> str:
        return iso(self._data.start)

    def leads_between(self, start: str, end: str, field: str = "createdAt") -> list[dict]:
        """Leads whose `field` (createdAt or updatedAt) is in [start, end] (inclusive)."""
        low, high = parse_utc(start), parse_utc(end)
        return [r for r in self.leads if low <= parse_utc(r[field]) <= high]

    def activities_between(self, start: str, end: str) -> list[dict[str, Any]]:
        low, high = parse_utc(start), parse_utc(end)
        return [r for r in self.activities if low <= parse_utc(r["activityDate"]) <= high]

    def counts(self) -> dict[str, int]:
        data = self._data
        with data.lock:
            return {
                "leads": len(data.leads),
                "activities": len(data.activities),
                "program_members": len(data.members),
                "programs": len(data.programs),
                "activity_types": len(ACTIVITY_TYPES),
                "deleted_leads": len(data.deleted_leads),
                "merged_leads": len(self.merged_leads),
                "static_lists": len(data.static_lists),
                **reference_counts(data),
                **catalog_counts(data),
            }
