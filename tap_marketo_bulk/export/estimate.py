"""What a stream's windows left will weigh (the forecast's bytes), by the model that fits how the
stream's windows are filtered. State key `exported` keeps what the models need across runs.

- Bytes per day (any stream; the fallback): file bytes per day of windows exported so far.
- updatedAt windows (leads, custom objects): a row sits in the window of its last update, and
  updates crowd the newest windows (a score change or a CRM sync touches many rows a day), so
  the newest windows' bytes per day overstate older windows many times. A row is never updated
  before it is created: the newest window holds every row created in it. Rows created per day
  there, times the stream's lifetime, is its rows; minus the rows exported, times bytes per row,
  is what is left. Leads do better: ids come in creation order, so the highest id of the newest
  window times the share of ids still live (rest_sample.py) is their number.
- createdAt windows (activities): a row never moves, and Marketo's volume comes in bursts (one
  email send is a day's activities), so a few windows tell little about the others: the stream
  samples the windows left over REST (rest_sample.py) and weighs those rows at its bytes per
  row.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from tap_marketo_bulk.export.windows import Window

EXPORTED = "exported"
DAY_SECONDS = 86400


def record_window(
    state: t.MutableMapping[str, t.Any],
    window: Window,
    nbytes: int,
    rows: int,
    created_in_window: int | None = None,
    max_id: int | None = None,
    *,
    new: bool = False,
) -> None:
    """Add a finished window's file bytes, rows and covered seconds to `exported` (`new`: a
    window after the bookmark, new since the last run, whose rows also count in `new_rows`); the
    rows created inside a stream's first (newest) updatedAt window are kept once. Whole numbers
    only: loaders parse a state's decimals as Decimal, which some cannot write back."""
    exported = state.get(EXPORTED)
    if not isinstance(exported, dict) or "rows" not in exported:
        # Bytes without their rows (a state of an earlier version) would skew bytes per row:
        # the forecast's figures start again from this window.
        exported = state[EXPORTED] = {"bytes": 0, "seconds": 0, "rows": 0}
    seconds = int(window.covered.total_seconds())
    exported["bytes"] = int(exported.get("bytes", 0)) + max(0, int(nbytes))
    exported["seconds"] = int(exported.get("seconds", 0)) + seconds
    exported["rows"] = int(exported.get("rows", 0)) + max(0, int(rows))
    if new:  # a window after the bookmark: its rows may come again (updated since)
        exported["new_rows"] = int(exported.get("new_rows", 0)) + max(0, int(rows))
    if created_in_window is not None and "created_rows" not in exported:
        exported["created_rows"] = max(0, int(created_in_window))
        exported["created_seconds"] = seconds
    if max_id is not None and "max_id" not in exported:
        exported["max_id"] = int(max_id)


@dataclass(frozen=True)
class Exported:
    """What state `exported` says of a stream's finished windows, over every run."""

    bytes: int = 0
    seconds: int = 0
    rows: int = 0
    created_rows: int | None = None  # rows created inside the first (newest) updatedAt window
    created_seconds: int = 0
    max_id: int | None = None  # the highest lead id of the newest window
    new_rows: int = 0  # rows of windows new since the last run (rows updated again among them)

    @classmethod
    def from_state(cls, state: t.Mapping[str, t.Any]) -> Exported:
        exported = state.get(EXPORTED)
        if not isinstance(exported, t.Mapping):
            return cls()
        created, max_id = exported.get("created_rows"), exported.get("max_id")
        return cls(
            int(exported.get("bytes", 0)),
            int(exported.get("seconds", 0)),
            int(exported.get("rows", 0)),
            None if created is None else int(created),
            int(exported.get("created_seconds", 0)),
            None if max_id is None else int(max_id),
            int(exported.get("new_rows", 0)),
        )

    @property
    def days(self) -> float:
        return self.seconds / DAY_SECONDS

    @property
    def backfilled_rows(self) -> int:
        """Rows of the newest window and the backfill: what the row models subtract. Rows of
        windows new since the last run are left out; many are rows exported before and updated
        again, and counting them twice would make what is left look smaller every day."""
        return max(0, self.rows - self.new_rows)

    @property
    def bytes_per_row(self) -> float | None:
        return self.bytes / self.rows if self.rows > 0 else None

    def bytes_by_day(self, days_left: float) -> float | None:
        """The fallback: bytes per day so far times the days of windows left."""
        return self.bytes / self.days * days_left if self.seconds > 0 else None

    def bytes_by_creation(self, lifetime_seconds: float) -> float | None:
        """updatedAt windows: (rows created per day in the newest window x lifetime - rows
        backfilled) x bytes per row; None without a newest window's count."""
        per_row = self.bytes_per_row
        if not self.created_rows or self.created_seconds <= 0 or per_row is None:
            return None  # nothing created in the newest window: no rate to go by
        rows = self.created_rows / self.created_seconds * max(0.0, lifetime_seconds)
        return max(0.0, rows - self.backfilled_rows) * per_row

    def bytes_by_live_ids(self, live_share: float) -> float | None:
        """Leads: (highest id x share of ids live - rows backfilled) x bytes per row."""
        per_row = self.bytes_per_row
        if not self.max_id or per_row is None:
            return None
        return max(0.0, self.max_id * live_share - self.backfilled_rows) * per_row

    def bytes_of_rows(self, rows: float) -> float | None:
        """Sampled rows weighed at bytes per row so far."""
        per_row = self.bytes_per_row
        return None if per_row is None else rows * per_row
