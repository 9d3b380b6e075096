"""Full-table streams and ACTIVATE_VERSION: how a row Marketo no longer has leaves the warehouse.

A full-table stream re-reads every row each run. singer-sdk 0.54 (`Stream.sync`) then gives the
run a table version (the tap's start, in seconds), stamps it on every RECORD it writes, and
writes ACTIVATE_VERSION for it, but only when `emit_activate_version_messages` is set: this tap
sets it by default (settings.py). A loader with `activate_version` marks every row of an older
version as deleted (target-postgres and target-snowflake: `_sdc_deleted_at`, or delete it with
`hard_delete`), so a campaign, list member or token that vanished from Marketo stops being current.

The SDK writes ACTIVATE_VERSION before the first record. Here it is held back until the stream's
last record is written: a run that fails halfway then leaves every row as it was (rows it did
re-read carry the new version, the others the old one) instead of marking the rows it had not
reached yet as deleted until the next run. The Singer spec allows both places; target-postgres
drains the stream's pending records before it applies the message.
"""

from __future__ import annotations

import typing as t

from singer_sdk.streams import Stream

# Default of the `emit_activate_version_messages` setting (settings.py declares it with this).
EMIT_ACTIVATE_VERSION_DEFAULT = True


class TableVersionedStream(Stream):
    """A stream whose full-table syncs end with ACTIVATE_VERSION (incremental ones never do)."""

    _held_table_version: int | None = None

    @property
    def emit_activate_version_messages(self) -> bool:
        return bool(
            self.config.get("emit_activate_version_messages", EMIT_ACTIVATE_VERSION_DEFAULT)
        )

    def _write_activate_version_message(self, full_table_version: int) -> None:
        # Called by Stream.sync before the records (their RECORDs carry this version already).
        self._held_table_version = full_table_version

    def _sync_records(self, *args: t.Any, **kwargs: t.Any) -> t.Generator[dict, t.Any, t.Any]:
        yield from super()._sync_records(*args, **kwargs)
        version, self._held_table_version = self._held_table_version, None
        if version is not None:  # every record of this version is written: activate it
            super()._write_activate_version_message(version)
