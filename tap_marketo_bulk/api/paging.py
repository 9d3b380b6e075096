"""Marketo's two REST paging styles, as page iterators over a MarketoClient (no Singer).

- Lead Database endpoints (`/rest/v1/...`) page with `nextPageToken` (batchSize up to 300); a page
  may be empty or short while more remain: where the answer carries `moreResult`, only
  `moreResult: false` ends paging; otherwise a page without a `nextPageToken`, or with no result,
  is the last.
- Asset endpoints (`/rest/asset/v1/...`) page by `offset` (maxReturn up to 200) and end with
  `success: true`, no `result` and the warning "No assets found for the given search criteria.";
  a short page is the last one too.

Errors, retries and token refresh stay in MarketoClient: a fault on page N retries page N.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from tap_marketo_bulk.api.client import MarketoClient

MAX_BATCH_SIZE = 300  # Lead Database batchSize maximum (and default)
MAX_ASSET_RETURN = 200  # Asset API maxReturn maximum (default 20)


def read_token_pages(
    client: MarketoClient,
    path: str,
    params: dict | None = None,
    *,
    batch_size: int = MAX_BATCH_SIZE,
    first_token: str | None = None,
) -> t.Iterator[list[dict]]:
    """Lead Database paging: yields each page's `result` (possibly empty) in order."""
    token = first_token
    while True:
        query = {**(params or {}), "batchSize": batch_size}
        if token:
            query["nextPageToken"] = token
        page = client.get(path, params=query)
        result = list(page.get("result") or [])
        yield result
        following = page.get("nextPageToken")
        if "moreResult" in page:
            # Activity-style paging: short and empty pages may come while more remain.
            if not page["moreResult"] or not following:
                return
        elif not following or not result:
            return
        token = following


def read_asset_pages(
    client: MarketoClient,
    path: str,
    params: dict | None = None,
    *,
    page_size: int = MAX_ASSET_RETURN,
) -> t.Iterator[list[dict]]:
    """Asset API offset paging: yields each non-empty page; "No assets found" ends it."""
    offset = 0
    while True:
        page = client.get(path, params={**(params or {}), "maxReturn": page_size, "offset": offset})
        result = list(page.get("result") or [])
        if result:
            yield result
        if len(result) < page_size:
            return
        offset += len(result)
