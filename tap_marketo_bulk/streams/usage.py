"""`api_usage`: REST API calls per API user and day, from Marketo's Usage API.

Marketo keeps 7 days (marketo-developer help/rest-api/usage.md: `GET /rest/v1/stats/usage.json`
"the current day", `GET /rest/v1/stats/usage/last7days.json` "the past 7 days", each result item
`{date: "YYYY-MM-DD", total, users: [{userId, count}]}`; swagger-mapi.json UsageData says
date-time, so both forms are read). A daily schedule keeps the whole history in the warehouse.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_marketo_bulk.export.windows import parse_datetime
from tap_marketo_bulk.streams.rest import RestStream

LAST_7_DAYS = "/rest/v1/stats/usage/last7days.json"
TODAY = "/rest/v1/stats/usage.json"


def usage_day(value: t.Any) -> str:
    """A usage item's `date` ("2015-10-17" or "2015-10-17T00:00:00Z") as YYYY-MM-DD: the Marketo
    (US Central) day it counts, kept as Marketo labels it (no time zone shift)."""
    text = str(value)
    try:
        parse_datetime(text)
    except ValueError as exc:
        raise ValueError(f"api_usage: Marketo answered a usage date {value!r}") from exc
    return text[:10]


def usage_rows(days: t.Iterable[dict]) -> list[dict]:
    """{date, userId, count} per user and day, the later answer for a day winning, sorted by
    date then userId."""
    by_key: dict[tuple[str, str], dict] = {}
    for item in days:
        date = usage_day(item.get("date"))
        for user in item.get("users") or []:
            key = (date, str(user.get("userId")))
            by_key[key] = {"date": date, "userId": key[1], "count": user.get("count")}
    return [by_key[key] for key in sorted(by_key)]


class ApiUsageStream(RestStream):
    """Daily API calls per API user; primary key (date, userId).

    Incremental by `date`: a run reads last7days.json and then usage.json (today's count, read
    last so it is the most recent) and emits the days from its bookmark on, the bookmark day
    included. That day was usually still in progress when it was last read (its count partial),
    so it is emitted again with its final count (same key, upserted); a second run on the same
    day re-emits only today. Days older than the bookmark are never emitted again. Marketo
    forgets days after 7: run at least weekly or the gap is lost for good."""

    name = "api_usage"
    primary_keys: t.ClassVar[list[str]] = ["date", "userId"]
    replication_key = "date"
    is_sorted = True  # rows are emitted by date
    schema_dict = th.PropertiesList(
        th.Property("date", th.DateType, required=True),
        th.Property("userId", th.StringType, required=True),
        th.Property("count", th.IntegerType),
    ).to_dict()

    def get_records(self, context: dict | None) -> t.Iterable[dict]:
        client = self.engine.client
        days = list(client.get(LAST_7_DAYS).get("result") or [])
        days += list(client.get(TODAY).get("result") or [])
        bookmark = self.stream_state.get("replication_key_value")
        since = usage_day(bookmark) if bookmark else None
        for row in usage_rows(days):
            if since is None or row["date"] >= since:
                yield row


__all__ = ["ApiUsageStream", "usage_day", "usage_rows"]
