"""REST endpoints for campaigns, static list members, emails, segmentations and program tokens;
path-parameter routes; faults armed mid-pagination.

Paging as Marketo documents it: Lead Database calls take `batchSize` (default and maximum 300)
and answer a `nextPageToken` while more remain (list-membership.md shows one on a page that
has more); Asset calls take `maxReturn` (default 20, maximum 200) and `offset`, and end with the
"No assets found" warning and no `result` (api-notes section 2).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from .dataset import Dataset
from .envelope import ApiError, Request, success
from .rest_api import (
    MAX_BATCH,
    NO_ASSETS,
    RestEndpoints,
    decode_token,
    encode_token,
    int_param,
    lenient_time,
)
from .timeutil import parse_utc

# Get Leads by List Id returns these when `fields` is not given (list-membership.md).
DEFAULT_LIST_FIELDS = ("email", "updatedAt", "createdAt", "lastName", "firstName", "id")
Handler = Callable[..., dict[str, Any]]


def token_page(request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A Lead Database page: `nextPageToken` only while more items remain."""
    batch = int_param(request, "batchSize", MAX_BATCH, MAX_BATCH) or MAX_BATCH
    token = request.query.get("nextPageToken")
    offset = decode_token(token, 1)[0] if token else 0
    page = items[offset : offset + batch]
    body = success(page)
    if offset + batch < len(items):
        body["nextPageToken"] = encode_token(offset + batch)
    return body


def updated_between(request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Asset browse filters earliestUpdatedAt / latestUpdatedAt (inclusive)."""
    for bound, keep in (
        ("earliestUpdatedAt", lambda u, b: u >= b),
        ("latestUpdatedAt", lambda u, b: u <= b),
    ):
        if request.query.get(bound):
            try:
                limit = lenient_time(request.query[bound])
            except ValueError as exc:
                raise ApiError("1003", f"Invalid value for {bound}") from exc
            items = [
                i for i in items if keep(parse_utc(i["updatedAt"].removesuffix("+0000")), limit)
            ]
    return items


class AssetEndpoints:
    def __init__(self, data: Dataset) -> None:
        self._data = data

    def routes(self) -> dict[str, Handler]:
        """Paths; `{name}` parts are integer path parameters (see `match_route`)."""
        return {
            "/rest/v1/campaigns.json": self.campaigns,
            "/rest/v1/lists/{list_id}/leads.json": self.list_leads,
            "/rest/asset/v1/emails.json": self.emails,
            "/rest/asset/v1/segmentation.json": self.segmentations,
            "/rest/asset/v1/segmentation/{segmentation_id}/segments.json": self.segments,
            "/rest/asset/v1/folder/{folder_id}/tokens.json": self.tokens,
        }

    def campaigns(self, request: Request) -> dict[str, Any]:
        items = list(self._data.campaigns)
        if request.query.get("id"):
            wanted = set(request.query["id"].split(","))
            items = [c for c in items if str(c["id"]) in wanted]
        return token_page(request, items)

    def list_leads(self, request: Request, list_id: int) -> dict[str, Any]:
        static = self._data.static_list(list_id)
        if static is None:
            raise ApiError("1013", "Static list not found")
        fields = [f for f in (request.query.get("fields") or "").split(",") if f]
        table = self._data.leads
        known = {f.name for f in table.fields if f.exportable}
        for name in fields:
            if name not in known:
                raise ApiError("1006", f"Field '{name}' not found")
        getters = {name: table.getter(name) for name in (fields or DEFAULT_LIST_FIELDS)}
        with self._data.lock:
            rows = [
                table.record(table.position[lead_id], getters)
                for lead_id in static["leadIds"]
                if lead_id in table.position
            ]
        return token_page(request, rows)

    def emails(self, request: Request) -> dict[str, Any]:
        items = updated_between(request, list(self._data.emails))
        status = request.query.get("status")
        if status:
            if status.lower() not in ("approved", "draft"):
                raise ApiError("1003", f"Invalid value for status '{status}'")
            items = [e for e in items if e["status"] == status.lower()]
        return RestEndpoints._asset_page(request, items)

    def segmentations(self, request: Request) -> dict[str, Any]:
        return RestEndpoints._asset_page(request, list(self._data.segmentations))

    def segments(self, request: Request, segmentation_id: int) -> dict[str, Any]:
        items = [s for s in self._data.segments if s["segmentationId"] == segmentation_id]
        return RestEndpoints._asset_page(request, items)

    def tokens(self, request: Request, folder_id: int) -> dict[str, Any]:
        folder_type = request.query.get("folderType")
        if folder_type not in ("Program", "Folder"):
            raise ApiError("1003", "folderType must be 'Program' or 'Folder'")
        if folder_type == "Folder":
            return success(None, warnings=[NO_ASSETS])
        if self._data.program(folder_id) is None:
            # a program id that names no program (deleted since a list named it): error-codes.md,
            # 702 "No data found for a given search scenario", "No records matched the given
            # search parameters"; issue 17 saw such an answer fail program_tokens
            raise ApiError("702", "No data found for given search scenario")
        tokens = [dict(t) for t in self._data.program_tokens.get(folder_id, [])]
        return success(
            [{"folder": {"type": "Program", "value": folder_id}, "tokens": tokens}], warnings=[]
        )


_TEMPLATE_PART = re.compile(r"\\\{(\w+)\\\}")


@functools.lru_cache(maxsize=64)
def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + _TEMPLATE_PART.sub(r"(?P<\1>\\d+)", re.escape(template)) + "$")


def match_route(routes: dict[str, Handler], path: str) -> Handler | None:
    """The handler of a `{param}` route matching `path`, bound to its integer parameters."""
    for template, handler in routes.items():
        if "{" not in template:
            continue
        match = _pattern(template).match(path)
        if match:
            params = {k: int(v) for k, v in match.groupdict().items()}
            return functools.partial(handler, **params)
    return None


def arm_after_call(faults: Any, path: str) -> None:
    """`faults.arm_after`: [path suffix, calls, fault] entries; once that many calls to a path
    ending with the suffix were answered, the fault hits the next call: "rate_limit_burst"
    (606), "http_502", or "expire_tokens" (every token answers 602). Each entry fires once."""
    entries = getattr(faults, "arm_after", None)
    if not entries:
        return
    for entry in list(entries):
        suffix, remaining, fault = entry
        if not path.endswith(suffix):
            continue
        entries.remove(entry)
        if remaining > 1:
            entries.append((suffix, remaining - 1, fault))
        elif fault == "expire_tokens":
            faults.expire_all_tokens_now()
        else:
            with faults._lock:
                setattr(faults, fault, getattr(faults, fault) + 1)
