"""What the windows left hold, sampled over REST before exporting them (the forecast's rows).

Activities: the bulk export gives no count before a job has run, and activities come in bursts
(one email send is a day's worth), so the windows exported so far tell little about the others.
Get Lead Activities (Adobe marketo-developer rest/lead-database/activities.md) reads activities in
activityDate order from a paging token for a date: one page from each window's start counts the
window exactly when the window holds less than a page, and otherwise gives its density over the
time the page spans. Calls: per window sampled one paging token and one page per 10 type ids
(a short page with moreResult true is followed, up to MAX_PAGES); at most MAX_WINDOWS windows,
spread evenly; the others, and a window that gave only empty pages, at the sampled windows'
activities per second.

Leads: ids are given in creation order, so the highest id exported tells how many leads were
ever created; Get Leads by Filter Type (rest/lead-database/leads.md, filterType=id, 300 ids a
call) on ids spread evenly up to it tells which share of them still exists (deleted and merged
leads leave gaps). One call.
"""

from __future__ import annotations

import logging
import typing as t
from collections.abc import Sequence

from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.export.windows import Window, format_datetime, parse_datetime

PAGING_TOKEN_PATH = "/rest/v1/activities/pagingtoken.json"
ACTIVITIES_PATH = "/rest/v1/activities.json"
MAX_TYPE_IDS = 10  # activityTypeIds per call (Adobe)
BATCH_SIZE = 300  # Marketo's largest page
MAX_PAGES = 3  # per window and type group: short pages while moreResult is true
MAX_WINDOWS = 24  # windows sampled per call of sample_rows; the others at their mean
LEADS_PATH = "/rest/v1/leads.json"
MAX_FILTER_VALUES = 300  # ids per Get Leads by Filter Type call (Adobe)


def sample_rows(
    client: MarketoClient, windows: Sequence[Window], type_ids: Sequence[int]
) -> dict[str, float]:
    """Estimated activities per window (by window key) of the given types."""
    if not windows or not type_ids:
        return {w.key: 0.0 for w in windows}
    picked = _spread(list(windows), MAX_WINDOWS)
    groups = [list(type_ids[i : i + MAX_TYPE_IDS]) for i in range(0, len(type_ids), MAX_TYPE_IDS)]
    sampled = {w.key: _sum_groups(client, w, groups) for w in picked}
    counts = {key: n for key, n in sampled.items() if n is not None}
    known = [w for w in picked if w.key in counts]
    if not known:
        raise ValueError("no window's activities could be counted (empty pages only)")
    # Windows not sampled (or only empty pages): at the sampled windows' activities per second.
    per_second = sum(counts.values()) / sum(w.covered.total_seconds() for w in known)
    return {w.key: counts.get(w.key, per_second * w.covered.total_seconds()) for w in windows}


def sample_rows_or_none(
    client: MarketoClient,
    windows: Sequence[Window],
    type_ids: Sequence[int],
    logger: logging.Logger,
) -> dict[str, float] | None:
    """sample_rows, or None with one INFO line when Marketo refuses the calls (the forecast
    then goes by bytes per day)."""
    return _or_none(lambda: sample_rows(client, windows, type_ids), ACTIVITIES_PATH, logger)


def live_lead_share(client: MarketoClient, max_id: int) -> float:
    """The share of lead ids 1..max_id that still exist, from ids spread evenly over them."""
    count = min(MAX_FILTER_VALUES, max(1, max_id))
    ids = sorted({1 + (i * max_id) // count for i in range(count)})
    page = client.get(
        LEADS_PATH,
        params={"filterType": "id", "filterValues": ",".join(map(str, ids)), "fields": "id"},
    )
    found = {int(lead["id"]) for lead in page.get("result") or []}
    return len(found & set(ids)) / len(ids)


def live_lead_share_or_none(
    client: MarketoClient, max_id: int, logger: logging.Logger
) -> float | None:
    return _or_none(lambda: live_lead_share(client, max_id), LEADS_PATH, logger)


def _or_none(sample: t.Callable[[], t.Any], path: str, logger: logging.Logger) -> t.Any:
    try:
        return sample()
    except Exception as exc:  # a forecast never fails the sync
        logger.info("forecast: by bytes per day exported (sampling %s failed: %s)", path, exc)
        return None


def _spread(windows: list[Window], most: int) -> list[Window]:
    if len(windows) <= most:
        return windows
    step = len(windows) / most
    return [windows[int(i * step)] for i in range(most)]


def _sum_groups(client: MarketoClient, window: Window, groups: list[list[int]]) -> float | None:
    """One paging token for the window's start, read once per group of type ids; None when a
    group learned nothing (empty pages only, moreResult still true)."""
    since = format_datetime(window.start)
    token = str(client.get(PAGING_TOKEN_PATH, params={"sinceDatetime": since})["nextPageToken"])
    counts = [_window_rows(client, window, group, token) for group in groups]
    return None if None in counts else sum(t.cast(list[float], counts))


def _window_rows(
    client: MarketoClient, window: Window, type_ids: list[int], token: str
) -> float | None:
    next_token = token
    inside = 0
    last = None
    for _ in range(MAX_PAGES):
        page = client.get(
            ACTIVITIES_PATH,
            params={
                "nextPageToken": next_token,
                "activityTypeIds": ",".join(str(i) for i in type_ids),
                "batchSize": BATCH_SIZE,
            },
        )
        for activity in page.get("result") or []:
            at = parse_datetime(str(activity["activityDate"]))
            if at > window.end:
                return float(inside)  # the window ends inside this page: counted exactly
            inside += 1
            last = at
        more = bool(page.get("moreResult")) and page.get("nextPageToken")
        if not more:
            return float(inside)  # nothing after: counted exactly
        if inside >= BATCH_SIZE:
            break  # a full page inside the window: its density stands for the window
        next_token = str(page["nextPageToken"])
    if last is None:
        return None  # only empty pages so far: Marketo is still scanning, nothing learned
    return _extrapolate(inside, last, window)


def _extrapolate(inside: int, last: t.Any, window: Window) -> float:
    """`inside` activities from the window's start to `last`: the window at that density."""
    if last is None or inside == 0:
        return float(inside)
    spanned = (last - window.start).total_seconds() + 1
    whole = window.covered.total_seconds()
    return inside * max(1.0, whole / spanned)
