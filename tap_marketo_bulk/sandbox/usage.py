"""Daily REST API usage per API user, as the Usage API reports it, on a clock tests advance.

Marketo (marketo-developer help/rest-api/usage.md): `GET /rest/v1/stats/usage.json` answers the
current day, `GET /rest/v1/stats/usage/last7days.json` the past 7 days, one result item per day:
`{date: "YYYY-MM-DD", total, users: [{userId, count}]}` ("Usage Result Object", "Usage User
Object"); the daily quota resets at midnight US Central, so days are Marketo (Central) days.

The sandbox's "today" is the Marketo day of `data_end` plus `days_advanced` (never the wall clock:
the truth stays a pure function of the config); today is partial: each user's count so far is
half of what the day ends with. Counts are drawn per (seed, day), so a day reads the same from
usage.json, from last7days.json, and from the truth.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from typing import Any

from .timeutil import marketo_day

API_USERS = ("etl@sandbox.example", "crm-sync@sandbox.example", "webhooks@sandbox.example")
LAST_DAYS = 7  # usage.md: "Retrieves the API usage for the past 7 days"
PARTIAL_SHARE = 0.5  # the share of a day's calls already made when that day is today


class UsageLog:
    def __init__(self, seed: int, data_end: int) -> None:
        self._seed = seed
        self._first_today = dt.date.fromisoformat(marketo_day(data_end))
        self._days_advanced = 0
        self._lock = threading.Lock()

    @property
    def today(self) -> dt.date:
        with self._lock:
            return self._first_today + dt.timedelta(days=self._days_advanced)

    def advance_days(self, days: int) -> None:
        """Let `days` Marketo days pass: today becomes complete, a new partial day starts."""
        with self._lock:
            self._days_advanced += days

    def day(self, date: dt.date) -> dict[str, Any]:
        """One result item: every user with calls that day (a user may make none)."""
        rng = random.Random(f"{self._seed}:usage:{date.isoformat()}")
        share = PARTIAL_SHARE if date == self.today else 1.0
        users = []
        for user in API_USERS:
            full = rng.choice((0, rng.randint(1, 9), rng.randint(100, 20_000)))
            count = int(full * share)
            if count:
                users.append({"userId": user, "count": count})
        return {"date": date.isoformat(), "total": sum(u["count"] for u in users), "users": users}

    def last7days(self) -> list[dict[str, Any]]:
        """The 7 days ending today (today partial), newest first."""
        today = self.today
        return [self.day(today - dt.timedelta(days=n)) for n in range(LAST_DAYS)]

    def current(self) -> list[dict[str, Any]]:
        return [self.day(self.today)]

    def rows(self) -> list[dict[str, Any]]:
        """What a tap emits from last7days.json now: one {date, userId, count} per user and
        day, by date then userId."""
        out = [
            {"date": item["date"], "userId": user["userId"], "count": user["count"]}
            for item in self.last7days()
            for user in item["users"]
        ]
        return sorted(out, key=lambda r: (r["date"], r["userId"]))
