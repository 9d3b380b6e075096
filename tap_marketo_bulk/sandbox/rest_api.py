"""Identity and the plain REST endpoints: describes, activity types, folders, programs, lists,
deleted leads (with their paging tokens)."""

from __future__ import annotations

import base64
import bisect
import re
from typing import Any
from urllib.parse import parse_qsl

from .auth import TokenStore
from .catalog import ACTIVITY_TYPES, MEMBER_FIELDS
from .custom_object_api import custom_object_routes
from .dataset import Dataset
from .envelope import ApiError, Reply, Request, success
from .timeutil import parse_utc

NO_ASSETS = "No assets found for the given search criteria."
MAX_ASSET_RETURN = 200
MAX_BATCH = 300


def encode_token(*parts: int) -> str:
    """Opaque upper-case paging token, like Marketo's base32 ones."""
    raw = ":".join(str(p) for p in parts).encode()
    return base64.b32encode(raw).decode().rstrip("=")


def decode_token(token: str, count: int) -> list[int]:
    try:
        raw = base64.b32decode(token + "=" * (-len(token) % 8)).decode()
        parts = [int(p) for p in raw.split(":")]
    except ValueError as exc:
        raise ApiError("1003", f"Invalid next page token '{token}'") from exc
    if len(parts) != count:
        raise ApiError("1003", f"Invalid next page token '{token}'")
    return parts


def int_param(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError("1003", f"Invalid value for {name}: '{raw}'") from exc
    if value < 0 or (maximum is not None and value > maximum):
        raise ApiError("1003", f"Invalid value for {name}: '{raw}', the maximum is {maximum}")
    return value


def lenient_time(value: str) -> int:
    """REST (non-bulk) datetimes: milliseconds allowed, and dropped."""
    return parse_utc(re.sub(r"\.\d+", "", value))


def identity(request: Request, tokens: TokenStore) -> Reply:
    """GET or POST /identity/oauth/token; parameters in the query or a form body."""
    params = dict(request.query)
    if request.method == "POST" and request.body:
        params.update(parse_qsl(request.body.decode("utf-8", "replace")))
    if params.get("grant_type") != "client_credentials":
        return Reply(400, {"error": "invalid_request",
                           "error_description": "Missing or unsupported grant_type"})
    issued = tokens.issue(params.get("client_id", ""), params.get("client_secret", ""))
    if issued is None:
        return Reply(401, {"error": "unauthorized", "error_description": "Bad client credentials"})
    return Reply(200, issued)


class RestEndpoints:
    def __init__(self, data: Dataset) -> None:
        self._data = data

    @property
    def dataset(self) -> Dataset:
        return self._data

    def routes(self) -> dict[str, Any]:
        # these build on this module's helpers
        from .activities_api import lead_activities
        from .asset_catalog_api import AssetCatalogEndpoints
        from .assets_api import AssetEndpoints

        return {
            "/rest/v1/leads/describe2.json": self.describe_leads,
            "/rest/v1/leads/describe.json": self.describe_leads_legacy,
            "/rest/v1/programs/members/describe.json": self.describe_members,
            "/rest/v1/activities/types.json": self.activity_types,
            "/rest/asset/v1/folders.json": self.folders,
            "/rest/asset/v1/programs.json": self.programs,
            "/rest/v1/activities/pagingtoken.json": self.paging_token,
            "/rest/v1/activities/deletedleads.json": self.deleted_leads,
            "/rest/v1/activities.json": lambda request: lead_activities(self._data, request),
            "/rest/v1/lists.json": self.lists,
            "/rest/v1/leads.json": self.leads_by_id,
            **custom_object_routes(self._data),
            **AssetEndpoints(self._data).routes(),
            **AssetCatalogEndpoints(self._data).routes(),
        }

    def describe_leads(self, request: Request) -> dict[str, Any]:
        fields = [f.describe() for f in self._data.lead_fields]
        return success([{"name": "API Lead", "searchableFields": [["email"], ["id"]],
                         "fields": fields}])

    def describe_leads_legacy(self, request: Request) -> dict[str, Any]:
        result = []
        for index, spec in enumerate(self._data.lead_fields, start=1):
            entry: dict[str, Any] = {"id": index, "displayName": spec.display_name or spec.name,
                                     "dataType": spec.data_type}
            if spec.length is not None:
                entry["length"] = spec.length
            entry["rest"] = {"name": spec.name, "readOnly": not spec.updateable}
            entry["soap"] = {"name": spec.name[:1].upper() + spec.name[1:],
                             "readOnly": not spec.updateable}
            result.append(entry)
        return success(result)

    def describe_members(self, request: Request) -> dict[str, Any]:
        return success([{
            "name": "API Program Membership",
            "description": "Map for API program membership fields",
            "createdAt": "2021-03-20T01:30:05Z",
            "updatedAt": "2021-03-20T01:30:05Z",
            "dedupeFields": ["leadId", "programId"],
            "searchableFields": [["leadId"], ["myCustomField"], ["reachedSuccess"],
                                 ["statusName"]],
            "fields": [f.describe() for f in MEMBER_FIELDS],
        }])

    def activity_types(self, request: Request) -> dict[str, Any]:
        return success([dict(t) for t in ACTIVITY_TYPES])

    @staticmethod
    def _asset_page(request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
        max_return = int_param(request, "maxReturn", 20, MAX_ASSET_RETURN)
        offset = int_param(request, "offset", 0)
        page = items[offset : offset + (max_return or 20)]
        if not page:  # the Asset API ends paging this way, not with an empty list
            return success(None, warnings=[NO_ASSETS])
        return success(page, warnings=[])

    def folders(self, request: Request) -> dict[str, Any]:
        max_depth = int_param(request, "maxDepth", 2)
        items = [f for f in self._data.folders if f["path"].count("/") <= max_depth]
        return self._asset_page(request, items)

    def programs(self, request: Request) -> dict[str, Any]:
        items = list(self._data.programs)
        for bound, keep in (("earliestUpdatedAt", lambda u, b: u >= b),
                            ("latestUpdatedAt", lambda u, b: u <= b)):
            if request.query.get(bound):
                try:
                    limit = lenient_time(request.query[bound])
                except ValueError as exc:
                    raise ApiError("1003", f"Invalid value for {bound}") from exc
                items = [p for p in items
                         if keep(parse_utc(p["updatedAt"].removesuffix("+0000")), limit)]
        filter_type = request.query.get("filterType")
        if filter_type:
            values = set(request.query.get("filterValues", "").split(","))
            key = {"id": "id", "programId": "id", "workspace": "workspace"}.get(filter_type)
            if key is None and filter_type != "folderId":
                raise ApiError("1003", f"Invalid filterType '{filter_type}'")
            if key is None:
                items = [p for p in items if str(p["folder"]["value"]) in values]
            else:
                items = [p for p in items if str(p[key]) in values]
        return self._asset_page(request, items)

    def leads_by_id(self, request: Request) -> dict[str, Any]:
        """Get Leads by Filter Type (Adobe rest/lead-database/leads.md, Query): "filterValues
        accepts up to 300 comma-separated values"; leads not found are left out, and "if no
        records match, the response indicates success and contains an empty result array".
        Only filterType=id here; `fields` picks among id, createdAt and updatedAt."""
        filter_type = request.query.get("filterType")
        raw = request.query.get("filterValues")
        if not filter_type or not raw:
            raise ApiError("1002", "Missing value for required parameter 'filterType/filterValues'")
        if filter_type != "id":
            raise ApiError("1003", f"Invalid filterType '{filter_type}' (the sandbox has id only)")
        try:
            ids = [int(part) for part in raw.split(",") if part.strip()]
        except ValueError as exc:
            raise ApiError("1003", f"Invalid value for filterValues: '{raw}'") from exc
        if len(ids) > MAX_BATCH:
            raise ApiError("1003", f"filterValues: at most {MAX_BATCH} values, got {len(ids)}")
        wanted = (request.query.get("fields") or "id,createdAt,updatedAt").split(",")
        table = self._data.leads
        getters = {
            name: table.getter(name) for name in wanted if name in ("id", "createdAt", "updatedAt")
        }
        getters.setdefault("id", table.getter("id"))
        with self._data.lock:
            found = [table.position[i] for i in ids if i in table.position]
            result = [{k: get(pos) for k, get in getters.items()} for pos in found]
        return success(result)

    def paging_token(self, request: Request) -> dict[str, Any]:
        since = request.query.get("sinceDatetime")
        if not since:
            raise ApiError("1002", "Missing value for required parameter 'sinceDatetime'")
        try:
            # REST accepts milliseconds here, unlike bulk filters
            epoch = lenient_time(since)
        except ValueError as exc:
            raise ApiError("1003", f"Invalid value for sinceDatetime '{since}'") from exc
        return {**success(None), "nextPageToken": encode_token(epoch, 0, 0)}

    def deleted_leads(self, request: Request) -> dict[str, Any]:
        """Pages in activityDate order. Odd pages hold a third of batchSize and the first page
        of a non-empty result is empty, both with moreResult true, as Marketo's can be."""
        token = request.query.get("nextPageToken")
        if not token:
            raise ApiError("1002", "Missing value for required parameter 'nextPageToken'")
        batch = int_param(request, "batchSize", MAX_BATCH, MAX_BATCH) or MAX_BATCH
        since, offset, page_no = decode_token(token, 3)
        records = self._data.deleted_leads
        dates = [parse_utc(r["activityDate"]) for r in records]
        start = max(offset, bisect.bisect_left(dates, since))
        size = 0 if page_no == 0 else (batch if page_no % 2 == 0 else max(1, batch // 3))
        page = records[start : start + size]
        following = start + len(page)
        body = success(page or None)
        body["nextPageToken"] = encode_token(since, following, page_no + 1)
        body["moreResult"] = following < len(records)
        return body

    def lists(self, request: Request) -> dict[str, Any]:
        batch = int_param(request, "batchSize", MAX_BATCH, MAX_BATCH) or MAX_BATCH
        offset = decode_token(request.query["nextPageToken"], 1)[0] if request.query.get(
            "nextPageToken") else 0
        items = [{k: v for k, v in s.items() if k != "leadIds"} for s in self._data.static_lists]
        if request.query.get("id"):
            wanted = set(request.query["id"].split(","))
            items = [i for i in items if str(i["id"]) in wanted]
        if request.query.get("name"):
            wanted = set(request.query["name"].split(","))
            items = [i for i in items if i["name"] in wanted]
        page = items[offset : offset + batch]
        body = success(page)
        if offset + batch < len(items):
            body["nextPageToken"] = encode_token(offset + batch)
        return body
