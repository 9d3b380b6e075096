"""Static list membership through bulk lead exports: one job per list, `staticListId` filter.

Kept apart from the stream so the way it reaches the export scheduler can change in one place:
everything the tap provides comes in through `scheduler` and `lead_properties`.
"""

from __future__ import annotations

import logging
import typing as t

from tap_marketo_bulk.errors import ExportFileError
from tap_marketo_bulk.export.scheduler import (
    ExportReady,
    ExportRequest,
    ExportScheduler,
    QuotaExhausted,
)
from tap_marketo_bulk.records.parser import CsvRecordParser, MalformedRowError


class StaticListExporter:
    """Exports the members of several static lists, one bulk lead job per list.

    `run()` yields (listId, lead record) pairs, list by list. When the day's export quota runs
    out, the lists not exported are left in `not_exported` (the caller pages them over REST,
    which costs no export quota) instead of failing the stream.
    """

    def __init__(
        self,
        scheduler: ExportScheduler,
        lead_properties: dict[str, dict],
        stream_name: str,
        logger: logging.Logger,
    ) -> None:
        self.scheduler = scheduler
        self.properties = lead_properties  # lead columns to export, `id` included
        self.stream_name = stream_name
        self.logger = logger
        self.not_exported: list[int] = []
        self.jobs = 0

    def request_for(self, list_id: int) -> ExportRequest:
        body = {
            "fields": list(self.properties),
            "format": "CSV",
            "filter": {"staticListId": list_id},
        }
        return ExportRequest(stream=self.stream_name, object_path="leads", body=body)

    def run(self, list_ids: t.Sequence[int]) -> t.Iterator[tuple[int, dict]]:
        self.not_exported = []
        parser = CsvRecordParser(self.properties, logger=self.logger)
        for event in self.scheduler.run([self.request_for(i) for i in list_ids]):
            if isinstance(event, ExportReady):
                self.jobs += 1
                list_id = int(event.request.body["filter"]["staticListId"])
                yield from self._emit(event, parser, list_id)
            elif isinstance(event, QuotaExhausted):
                self.not_exported = [int(r.body["filter"]["staticListId"]) for r in event.pending]
                self.logger.warning(
                    "%s: %s; reading %d list(s) over REST instead",
                    self.stream_name,
                    event.message,
                    len(self.not_exported),
                )
                return

    @staticmethod
    def _emit(
        ready: ExportReady, parser: CsvRecordParser, list_id: int
    ) -> t.Iterator[tuple[int, dict]]:
        if ready.path is None:  # an empty export has no file
            ready.release()
            return
        try:
            with open(ready.path, "rb") as file:
                for record in parser.parse(file):
                    yield list_id, record
        except MalformedRowError as exc:
            raise ExportFileError(
                f"{ready.request.stream}: the export file for static list {list_id} cannot be "
                f"read: {exc}"
            ) from None
        finally:
            ready.release()
