"""The input state, checked before the SDK or a stream reads it.

A bookmark decides what is exported: one that can't be read ends the run with one line naming the
stream and key (never a silent restart from start_date, never a skip). Entries whose loss costs no
data are dropped with a WARNING: an `in_flight` export id (its window is exported again), the
`quota` carry-over (today's count restarts at what Marketo reports), `ids_at_bookmark` (rows at
the bookmark's second may come again; loaders upsert on the key), `exported` (the forecast's
bytes per second of windows), and the reconcile keys (a reconcile then runs again, or sooner:
every row is exported again, nothing is skipped). `backfilled_from` (newest-first backfill) is
a bookmark.
"""

from __future__ import annotations

import logging
import typing as t
from collections.abc import Mapping

from tap_marketo_bulk.errors import StateError
from tap_marketo_bulk.export.windows import ONE_SECOND, parse_datetime

# state `exported` (export/estimate.py): whole numbers, forecast only
EXPORTED_KEYS = (
    "bytes",
    "seconds",
    "rows",
    "new_rows",
    "created_rows",
    "created_seconds",
    "max_id",
)

_LOGGER = logging.getLogger(__name__)

_REMOVE_HINT = "fix it, or remove the entry to export {stream} again from start_date"


def _kind(value: t.Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _is_datetime(value: t.Any) -> bool:
    """An ISO 8601 date or datetime string, as bookmarks are written."""
    if not isinstance(value, str):
        return False
    try:
        parse_datetime(value)
    except ValueError:
        return False
    return True


def check_state(state: t.Any, logger: logging.Logger | None = None) -> dict[str, t.Any]:
    """`state` with droppable bad entries dropped; StateError (one line) for the rest."""
    log = logger or _LOGGER
    if state is None:
        return {}
    if not isinstance(state, Mapping):
        raise StateError(f"state: expected a JSON object with `bookmarks`, got {_kind(state)}")
    bookmarks = state.get("bookmarks")
    if bookmarks is None:
        return {**state, "bookmarks": {}}
    if not isinstance(bookmarks, Mapping):
        raise StateError(
            f"state: `bookmarks` must be an object of stream name -> bookmark, got "
            f"{_kind(bookmarks)}; fix it, or start without state to export everything again "
            "from start_date"
        )
    return {
        **state,
        "bookmarks": {
            str(stream): _checked_bookmark(str(stream), bookmark, log)
            for stream, bookmark in bookmarks.items()
        },
    }


def _checked_bookmark(stream: str, bookmark: t.Any, log: logging.Logger) -> dict[str, t.Any]:
    where = f"state: bookmarks.{stream}"
    if not isinstance(bookmark, Mapping):
        raise StateError(
            f"{where}: expected an object, got {_kind(bookmark)}; "
            + _REMOVE_HINT.format(stream=stream)
        )
    checked = dict(bookmark)
    value = checked.get("replication_key_value")
    if value is not None and not _is_datetime(value):
        raise StateError(
            f"{where}.replication_key_value: not an ISO 8601 datetime: {value!r}; "
            + _REMOVE_HINT.format(stream=stream)
        )
    _check_backfilled_from(where, stream, checked, log)
    for key in ("replication_key", "filter"):
        if checked.get(key) is not None and not isinstance(checked[key], str):
            raise StateError(
                f"{where}.{key}: expected a string, got {_kind(checked[key])}; "
                + _REMOVE_HINT.format(stream=stream)
            )
    _check_full_export(where, stream, checked.get("full_export"))
    _check_in_flight(where, checked, log)
    _check_reconcile(where, checked, log)
    quota = checked.get("quota")
    if quota is not None and not (
        isinstance(quota, Mapping)
        and isinstance(quota.get("day", ""), str)
        and isinstance(quota.get("bytes", 0), (int, float))
        and not isinstance(quota.get("bytes", 0), bool)
    ):
        log.warning("%s.quota is not {day, bytes} (%r): ignored", where, quota)
        del checked["quota"]
    ids = checked.get("ids_at_bookmark")
    if ids is not None and not isinstance(ids, list):
        log.warning(
            "%s.ids_at_bookmark is not a list (%r): ignored; records at the bookmark's "
            "second may be emitted again",
            where,
            ids,
        )
        del checked["ids_at_bookmark"]
    return checked


def _check_backfilled_from(
    where: str, stream: str, bookmark: dict[str, t.Any], log: logging.Logger
) -> None:
    """How far back a newest-first backfill reached: it decides which older windows are still
    exported, so an unreadable one ends the run (dropping it would skip them). `exported` only
    feeds the forecast: a bad one is dropped."""
    reached = bookmark.get("backfilled_from")
    if reached is not None:
        end = bookmark.get("replication_key_value")
        problem = None
        if not _is_datetime(reached):
            problem = f"not an ISO 8601 datetime: {reached!r}"
        elif end is None:
            problem = "set without replication_key_value"
        elif parse_datetime(reached) > parse_datetime(end) + ONE_SECOND:
            problem = f"{reached} is after replication_key_value {end}"
        if problem:
            raise StateError(
                f"{where}.backfilled_from: {problem}; " + _REMOVE_HINT.format(stream=stream)
            )
    exported = bookmark.get("exported")
    if exported is not None and not (
        isinstance(exported, Mapping)
        and all(
            isinstance(exported.get(k, 0), int) and not isinstance(exported.get(k), bool)
            for k in EXPORTED_KEYS
        )
    ):
        log.warning(
            "%s.exported is not {bytes, seconds, rows[, new_rows, created_rows, created_seconds, "
            "max_id]} of whole numbers (%r): ignored (forecast only)",
            where,
            exported,
        )
        del bookmark["exported"]


def _check_full_export(where: str, stream: str, full: t.Any) -> None:
    """program_members' record of its full exports decides which programs are exported in full
    again: an unreadable one ends the run (dropping it could skip a new program's old members)."""
    if full is None:
        return
    problem = None
    if not isinstance(full, Mapping):
        problem = f"expected an object, got {_kind(full)}"
    else:
        started = full.get("started_at")
        programs = full.get("programs", [])
        if started is not None and not _is_datetime(started):
            problem = f"started_at is not an ISO 8601 datetime: {started!r}"
        if not isinstance(programs, list) or not all(
            isinstance(p, int) and not isinstance(p, bool) for p in programs
        ):
            problem = f"programs is not a list of program ids: {programs!r}"
    if problem:
        raise StateError(f"{where}.full_export: {problem}; " + _REMOVE_HINT.format(stream=stream))


def _check_in_flight(where: str, bookmark: dict[str, t.Any], log: logging.Logger) -> None:
    """Export ids of submitted jobs: a bad one is dropped; its window is exported again."""
    in_flight = bookmark.get("in_flight")
    if in_flight is None:
        return
    if not isinstance(in_flight, Mapping):
        log.warning(
            "%s.in_flight is not an object of window -> export id (%s): ignored; those "
            "windows are exported again",
            where,
            _kind(in_flight),
        )
        bookmark["in_flight"] = {}
        return
    kept = {}
    for key, export_id in in_flight.items():
        if isinstance(export_id, str) and export_id:
            kept[str(key)] = export_id
        else:
            log.warning(
                "%s.in_flight[%r] is not an export id (%r): ignored; that window is exported again",
                where,
                key,
                export_id,
            )
    bookmark["in_flight"] = kept


def _is_count(value: t.Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _reconcile_problem(reconcile: t.Any, version: t.Any) -> str | None:
    """What is wrong with a reconcile in progress, or None."""
    if not isinstance(reconcile, Mapping):
        return f"expected an object, got {_kind(reconcile)}"
    if not (_is_count(reconcile.get("version")) and reconcile["version"] > 0):
        return f"version is not a positive integer: {reconcile.get('version')!r}"
    if _is_count(version) and reconcile["version"] <= version:
        return f"version {reconcile['version']} is not above the table version {version}"
    for key in ("started_at", "through"):
        if key in reconcile and not _is_datetime(reconcile[key]):
            return f"{key} is not an ISO 8601 datetime: {reconcile[key]!r}"
    if not _is_datetime(reconcile.get("started_at")):
        return "started_at is missing"
    if not _is_count(reconcile.get("bytes", 0)):
        return f"bytes is not a byte count: {reconcile.get('bytes')!r}"
    programs = reconcile.get("programs", [])
    if not isinstance(programs, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) for p in programs
    ):
        return f"programs is not a list of program ids: {programs!r}"
    return None


def _check_reconcile(where: str, bookmark: dict[str, t.Any], log: logging.Logger) -> None:
    """The table version and reconcile keys (streams/reconcile.py). Each bad one is dropped
    with a WARNING: without it a reconcile runs again (every row exported again under a new
    version), so no row is lost and no removed row stays live past that reconcile."""
    version = bookmark.get("version")
    if version is not None and not (_is_count(version) and version > 0):
        log.warning(
            "%s.version is not a table version (%r): ignored; a reconcile runs on this run",
            where,
            version,
        )
        del bookmark["version"]
    reconciled_at = bookmark.get("reconciled_at")
    if reconciled_at is not None and not _is_datetime(reconciled_at):
        log.warning(
            "%s.reconciled_at is not an ISO 8601 datetime (%r): ignored; a reconcile runs on "
            "this run",
            where,
            reconciled_at,
        )
        del bookmark["reconciled_at"]
    estimate = bookmark.get("reconcile_bytes")
    if estimate is not None and not _is_count(estimate):
        log.warning(
            "%s.reconcile_bytes is not a byte count (%r): ignored; the next reconcile's quota "
            "cost is unknown",
            where,
            estimate,
        )
        del bookmark["reconcile_bytes"]
    reconcile = bookmark.get("reconcile")
    problem = None if reconcile is None else _reconcile_problem(reconcile, bookmark.get("version"))
    if problem:
        log.warning(
            "%s.reconcile: %s: ignored; the interrupted reconcile starts again under a new "
            "version when due (its rows already loaded stay live until then)",
            where,
            problem,
        )
        del bookmark["reconcile"]
