"""GET /rest/v1/activities.json (Get Lead Activities), from a paging token.

Adobe marketo-developer rest/lead-database/activities.md: `nextPageToken` (from
activities/pagingtoken.json) and `activityTypeIds` (comma-separated, at most 10) are required;
`batchSize` at most 300; results come in activityDate order with `attributes` as a list of
{name, value}; "it is possible for a response to contain ... fewer than batchSize results while
moreResult is true": only moreResult false ends paging.
"""

from __future__ import annotations

import bisect
from typing import Any

from .dataset import Dataset
from .envelope import ApiError, Request, success
from .rest_api import MAX_BATCH, decode_token, encode_token, int_param

MAX_TYPE_IDS = 10
# Rows one page looks through: a rare type gets short pages (moreResult true), as Marketo's can,
# and a million activities take ~20 calls.
SCAN_ROWS = 50_000


def _type_ids(request: Request) -> set[int]:
    raw = request.query.get("activityTypeIds")
    if not raw:
        raise ApiError("1002", "Missing value for required parameter 'activityTypeIds'")
    try:
        ids = {int(part) for part in raw.split(",") if part.strip()}
    except ValueError as exc:
        raise ApiError("1003", f"Invalid value for activityTypeIds: '{raw}'") from exc
    if not ids or len(ids) > MAX_TYPE_IDS:
        raise ApiError("1003", f"activityTypeIds: 1 to {MAX_TYPE_IDS} ids, got '{raw}'")
    return ids


def _rest_record(data: Dataset, pos: int) -> dict[str, Any]:
    record = data.activities.record(pos)
    record.pop("actionResult")
    record["id"] = int(record["marketoGUID"])
    attributes = record.pop("attributes") or {}
    record["attributes"] = [{"name": k, "value": v} for k, v in attributes.items()]
    return record


def lead_activities(data: Dataset, request: Request) -> dict[str, Any]:
    """Activities of the requested types from the token's sinceDatetime, in activityDate order.
    The token carries (since, next position, page number); a page looks through SCAN_ROWS rows
    at most."""
    token = request.query.get("nextPageToken")
    if not token:
        raise ApiError("1002", "Missing value for required parameter 'nextPageToken'")
    wanted = _type_ids(request)
    batch = int_param(request, "batchSize", MAX_BATCH, MAX_BATCH) or MAX_BATCH
    since, offset, page_no = decode_token(token, 3)
    with data.lock:
        table = data.activities
        start = max(offset, bisect.bisect_left(table.dates, since))
        stop = min(len(table), start + SCAN_ROWS)
        page: list[dict[str, Any]] = []
        pos = start
        while pos < stop and len(page) < batch:
            if table.type_ids[pos] in wanted:
                page.append(_rest_record(data, pos))
            pos += 1
        total = len(table)
    body = success(page or None)
    body["nextPageToken"] = encode_token(since, pos, page_no + 1)
    body["moreResult"] = pos < total
    return body
