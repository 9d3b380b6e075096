"""What a bulk stream tells the forecast (export/estimate.py): its finished windows as state
`exported` says, its own estimate of the windows left, and, while it emits a first newest-first
sync's newest window, the rows created inside it (and for leads its highest id)."""

from __future__ import annotations

import typing as t
from datetime import datetime

from tap_marketo_bulk.export.backfill import NEWEST_FIRST, emitted_range
from tap_marketo_bulk.export.estimate import Exported
from tap_marketo_bulk.export.events import ExportRequest
from tap_marketo_bulk.export.windows import Window, parse_datetime

if t.TYPE_CHECKING:
    from tap_marketo_bulk.engine import MarketoEngine


class BulkForecastMixin:
    """BulkExportStream's part of the forecast."""

    engine: MarketoEngine
    filter_name: str
    counts_max_id = False  # ids in creation order (leads): the newest window's highest is kept
    _created_rows: dict[str, int]  # rows created inside the newest window, by window key
    _max_ids: dict[str, int]  # and its highest id (counts_max_id)

    if t.TYPE_CHECKING:

        @property
        def stream_state(self) -> dict: ...

        @property
        def backfill_order(self) -> str: ...

        def file_properties(self) -> dict[str, dict]: ...

    def exported(self) -> Exported:
        """Bytes, rows and days of this stream's finished windows, over every run."""
        return Exported.from_state(self.stream_state)

    def forecast_bytes(self, windows: t.Sequence[Window]) -> float | None:
        """The file bytes of `windows` (this run's windows left); None: the plan goes by bytes
        per day. updatedAt windows during a newest-first backfill: by rows created per day in the
        newest window (export/estimate.py), plus the new windows after the bookmark by day."""
        reached, bookmark = emitted_range(self.stream_state)
        if self.filter_name != "updatedAt" or reached is None or bookmark is None:
            return None
        first = self.engine.first_record_date
        older = self.exported().bytes_by_creation((bookmark - first).total_seconds())
        return self._backfill_and_new(older, windows, reached, bookmark)

    def _backfill_and_new(
        self,
        backfill_bytes: float | None,
        windows: t.Sequence[Window],
        reached: datetime,
        bookmark: datetime,
    ) -> float | None:
        """The backfill's estimate (when a window before `reached` is left) plus the windows after
        the bookmark (new since the last run) at bytes per day; None when either is unknown."""
        if not any(w.end < reached for w in windows):
            backfill_bytes = 0.0  # the backfill is done: only new windows are left
        new_days = sum(w.covered.total_seconds() for w in windows if w.start > bookmark) / 86400
        newer = self.exported().bytes_by_day(new_days) if new_days else 0.0
        return None if backfill_bytes is None or newer is None else backfill_bytes + newer

    def _counts_created(self, request: ExportRequest) -> bool:
        """Is this the newest window of a first newest-first sync of updatedAt windows? Its
        rows created inside it give the forecast its rows per day (export/estimate.py)."""
        return (
            self.filter_name == "updatedAt"
            and request.window is not None
            and not self.stream_state.get("replication_key_value")
            and self.backfill_order == NEWEST_FIRST
            and "createdAt" in self.file_properties()
        )

    def _count_created(
        self, records: t.Iterator[dict], key: str, window: Window
    ) -> t.Iterator[dict]:
        created = self._created_rows.setdefault(key, 0)
        max_id = self._max_ids.get(key, 0)
        start = window.start
        for record in records:
            value = record.get("createdAt")
            if value and parse_datetime(str(value)) >= start:
                created += 1
            if self.counts_max_id and isinstance(lead_id := record.get("id"), int):
                max_id = max(max_id, lead_id)
            yield record
        self._created_rows[key] = created
        if max_id:
            self._max_ids[key] = max_id

