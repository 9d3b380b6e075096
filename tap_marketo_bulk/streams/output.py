"""Singer message output: msgspec encoding, flushed at STATE and SCHEMA messages, not per record.

Two ways RECORD messages leave the tap, byte for byte the same:
- `BufferedMsgSpecWriter.write_message(message)`: the SDK's path, one message object at a time
  (stream maps, the reference streams).
- `RecordWriter.write(records, limit)`: the bulk streams' path. The message around a record is
  constant but for `time_extracted`, so it is encoded once into a prefix and a suffix and only the
  record dict is encoded per row, straight into the writer's pending buffer. That skips the
  RecordMessage object, its to_dict(), a datetime per record and a write() call per record.

Records wait in the pending buffer (at most ~64 KiB) and are always written before any other
message, so a STATE still follows every record it covers.
"""

from __future__ import annotations

import sys
import typing as t
from datetime import datetime, timezone
from itertools import islice

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.contrib.msgspec import encoder as sdk_encoder
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.encoding.simple import Message
from singer_sdk.singerlib.messages import SingerMessageType
from singer_sdk.streams import Stream

# Pending records are handed to stdout once they reach this size: a write syscall per ~300
# activity rows instead of one per row, and a bounded amount of memory.
PENDING_LIMIT_BYTES = 64 * 1024


class BufferedMsgSpecWriter(MsgSpecWriter):
    """The SDK's fastest writer, minus its flush after every message.

    A flush per RECORD is a write syscall per row; the target only needs records before the STATE
    that covers them, so flushing at every non-RECORD message keeps checkpoints exact.
    """

    def __init__(self) -> None:
        super().__init__()
        # Encoded RECORD messages not yet handed to stdout (RecordWriter appends here).
        self.pending = bytearray()

    def write_message(self, message: Message) -> None:
        out = sys.stdout.buffer
        if self.pending:
            out.write(self.pending)
            self.pending.clear()
        out.write(self.format_message(message))
        if message.type != SingerMessageType.RECORD:
            out.flush()

    def write_pending(self) -> None:
        """Hand the pending records to stdout (buffered; flushed with the next STATE)."""
        if self.pending:
            sys.stdout.buffer.write(self.pending)
            self.pending.clear()


class RecordWriter:
    """Writes one stream's records as RECORD messages, as the SDK would, without per-row objects.

    `{"type":"RECORD","stream":<name>,"record":<record>[,"version":<v>],"time_extracted":<t>}`:
    key order and encoding (the SDK's own msgspec encoder) match RecordMessage.to_dict() through
    MsgSpecWriter. `time_extracted` is taken when a batch starts (`refresh_time`), not per row.
    """

    def __init__(self, writer: BufferedMsgSpecWriter, stream: str, version: int | None) -> None:
        self._writer = writer
        self._prefix = b'{"type":"RECORD","stream":' + sdk_encoder.encode(stream) + b',"record":'
        self._version = b"" if version is None else b',"version":' + sdk_encoder.encode(version)
        self._suffix = b""
        self.refresh_time()

    def refresh_time(self, now: datetime | None = None) -> None:
        """Stamp the records written from now on with this time (default: the current time)."""
        stamp = sdk_encoder.encode(now or datetime.now(timezone.utc))
        self._suffix = self._version + b',"time_extracted":' + stamp + b"}\n"

    def write(self, records: t.Iterator[dict[str, t.Any]], limit: int) -> int:
        """Write up to `limit` records from `records`; the number written (< limit: exhausted)."""
        writer = self._writer
        pending = writer.pending
        encode_into = sdk_encoder.encode_into
        prefix = self._prefix
        written = 0
        try:
            for record in islice(records, limit):
                pending += prefix
                encode_into(record, pending, -1)  # -1: append
                pending += self._suffix  # an attribute: refresh_time() may run between rows
                written += 1
                if len(pending) >= PENDING_LIMIT_BYTES:
                    writer.write_pending()
        finally:
            # On an error too: the records written so far were emitted, as the SDK would have.
            writer.write_pending()
        return written

    def append(self, record: dict[str, t.Any]) -> None:
        """Write one record (rows routed from another stream's file, one at a time)."""
        pending = self._writer.pending
        pending += self._prefix
        sdk_encoder.encode_into(record, pending, -1)
        pending += self._suffix
        if len(pending) >= PENDING_LIMIT_BYTES:
            self._writer.write_pending()


# Stream methods run per record by the SDK's path: a stream overriding one needs that path.
_PER_RECORD_HOOKS = (
    "post_process",
    "_process_record",
    "_generate_record_messages",
    "_write_record_message",
)


def direct_record_writer(
    stream: Stream, context: dict | None, *, write_messages: bool
) -> RecordWriter | None:
    """A RecordWriter for `stream` when its records may skip the SDK's per-record path.

    That path adds nothing to a record when: messages are written, by BufferedMsgSpecWriter; the
    stream has no partitions, no child streams, no dry-run record limit, no type conformance and
    no per-record hook of its own; and its only stream map is the default one, without
    flattening (stream maps, filters and aliases need the SDK's path). Deselected properties are
    handled by `without_deselected_properties`.
    """
    message_writer = stream._tap.message_writer
    if not (
        write_messages
        and context is None
        and isinstance(message_writer, BufferedMsgSpecWriter)
        and stream.selected
        and not stream.partitions
        and not stream.child_streams
        and stream.ABORT_AT_RECORD_COUNT is None
        and stream.TYPE_CONFORMANCE_LEVEL == TypeConformanceLevel.NONE
    ):
        return None
    cls = type(stream)
    if any(getattr(cls, hook) is not getattr(Stream, hook) for hook in _PER_RECORD_HOOKS):
        return None
    maps = stream.stream_maps
    only = maps[0] if len(maps) == 1 else None
    if (
        type(only) is not SameRecordTransform
        or only.stream_alias != stream.name
        or (only.flattening_options and only.flattening_enabled)
    ):
        return None
    return RecordWriter(message_writer, stream.name, stream._stream_version)


def without_deselected_properties(
    stream: Stream, records: t.Iterator[dict[str, t.Any]]
) -> t.Iterator[dict[str, t.Any]]:
    """`records`, or, when the catalog deselects any property, each with the SDK's own popping.

    Bulk streams request only selected columns, so in practice this serves nested properties
    (keys of activity `attributes`) deselected in the catalog.
    """
    schema, mask = stream.schema, stream.mask
    if all(selected for breadcrumb, selected in mask.items() if breadcrumb):
        return records
    return _popping(records, schema, mask)


def _popping(
    records: t.Iterator[dict[str, t.Any]], schema: dict, mask: t.Any
) -> t.Iterator[dict[str, t.Any]]:
    for record in records:
        pop_deselected_record_properties(record, schema, mask)
        yield record
