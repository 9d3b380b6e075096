"""DirectRecordStream: a Stream whose records may bypass the SDK's per-record path.

The SDK's per-record path (RecordMessage, stream maps, conformance, utc_now(), a write and a counter
increment per record) costs more than parsing the row. Where none of its per-record features is in
use, records go straight from get_records to RecordWriter, which writes the same bytes. Stream maps,
flattening, partitions, child streams, dry-run limits, batch mode or a subclass overriding a
per-record hook take the SDK's path unchanged (see output.direct_record_writer).
"""

from __future__ import annotations

import typing as t

from singer_sdk.streams import Stream

from tap_marketo_bulk.streams.output import (
    RecordWriter,
    direct_record_writer,
    without_deselected_properties,
)


class DirectRecordStream(Stream):
    """The bulk streams' base for writing records: bookmarks are never a record's value."""

    _record_writer: RecordWriter | None = None

    def _sync_records(
        self, context: dict | None = None, *, write_messages: bool = True
    ) -> t.Generator[dict, t.Any, t.Any]:
        writer = self._direct_record_writer(context, write_messages=write_messages)
        if writer is None:
            yield from super()._sync_records(context, write_messages=write_messages)
            return
        # What Stream._sync_records does for a stream without partitions (context None), with
        # the record loop replaced. Records are not yielded back: sync(), the only caller that
        # writes messages, discards them.
        record_counter = self.get_record_counter()
        timer = self.get_sync_timer()
        frequency = self.STATE_MSG_FREQUENCY
        self._record_writer = writer
        try:
            with record_counter, timer:
                record_counter.with_context({})
                timer.with_context({})
                state_partition_context = self._get_state_partition_context(None)
                self._write_starting_replication_value(None)
                records = without_deselected_properties(self, iter(self.get_records(None)))
                while True:
                    # Blocks of STATE_MSG_FREQUENCY rows: the SDK writes a STATE at each multiple.
                    written = writer.write(records, frequency)
                    if written:
                        self.state_manager.is_flushed = False
                        record_counter.increment(written)
                    if written < frequency:
                        break
                    self._write_state_message()
                    writer.refresh_time()
                if state_partition_context is None:
                    self._finalize_state(self.get_context_state(None))
        finally:
            self._record_writer = None
        self._finalize_state(self.stream_state)
        self._write_state_message()

    def _direct_record_writer(
        self, context: dict | None, *, write_messages: bool
    ) -> RecordWriter | None:
        """A RecordWriter when records may bypass the SDK's per-record path, else None."""
        # A subclass bookmarking per record again needs the SDK's per-record state increments.
        if type(self)._increment_stream_state is not DirectRecordStream._increment_stream_state:
            return None
        return direct_record_writer(self, context, write_messages=write_messages)

    def _increment_stream_state(self, latest_record: dict, *, context: dict | None = None) -> None:
        # Bookmarks are finished windows (BulkExportStream.finish_window), never a record's value:
        # records within a window are unordered; a window is done once its whole file is emitted.
        return
