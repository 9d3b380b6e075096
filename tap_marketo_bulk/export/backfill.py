"""Which windows a run exports, in which order, and what a finished window does to the bookmark.

A windowed bulk stream's state says what is emitted as one contiguous range of seconds:
`[backfilled_from, replication_key_value]` (both inclusive). Without `backfilled_from` the range
starts at the stream's first second (state of an oldest-first sync, or of this tap before
newest-first existed).

- `oldest_first`: windows from the bookmark (or the first second) up to the run's end, ascending;
  each finished window moves the bookmark up. Exactly the tap's behaviour before this module.
- `newest_first` (default): first what is new since the bookmark (ascending, so the range stays
  contiguous), then the backfill from `backfilled_from` down to the first second, newest window
  first; each finished backfill window moves `backfilled_from` down. A first sync has no new part:
  its first window is the newest one, ending at the run's end.

Requests are handed out in order, so each finished window touches one end of the range: a kill,
quota stop or crash leaves a range the next run continues exactly (nothing skipped, nothing twice).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta

from tap_marketo_bulk.export.windows import (
    ONE_SECOND,
    Window,
    format_datetime,
    parse_datetime,
    plan_windows,
)

NEWEST_FIRST = "newest_first"
OLDEST_FIRST = "oldest_first"
BACKFILL_ORDERS = (NEWEST_FIRST, OLDEST_FIRST)
BOOKMARK = "replication_key_value"
BACKFILLED_FROM = "backfilled_from"


def plan_windows_newest_first(start: datetime, end: datetime, window_days: int) -> list[Window]:
    """Cover [start, end] with windows of `window_days` days aligned on `end`, newest first.

    The first window is [end - window_days days + 1 s, end]; each next one ends one second before
    the previous start; the last one starts exactly at `start` (and may be shorter).
    """
    ascending = plan_windows(start, end, 1)  # validates and normalizes like plan_windows
    if not ascending:
        return []
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        raise ValueError(f"window_days must be a whole number of days >= 1, got {window_days!r}")
    first, last = ascending[0].start, ascending[-1].end
    span = timedelta(days=window_days) - ONE_SECOND
    windows: list[Window] = []
    window_end = last
    while window_end >= first:
        window_start = max(window_end - span, first)
        windows.append(Window(window_start, window_end))
        window_end = window_start - ONE_SECOND
    return windows


@dataclass(frozen=True)
class RunWindows:
    """A run's windows: `new` (after the bookmark ascending, or a first sync's newest window)
    then `backfill` (older windows, newest first; empty under oldest_first)."""

    new: list[Window]
    backfill: list[Window]

    @property
    def in_order(self) -> list[Window]:
        return [*self.new, *self.backfill]


def emitted_range(state: t.Mapping[str, t.Any]) -> tuple[datetime | None, datetime | None]:
    """(backfilled_from, bookmark) as datetimes; None where state has no such key."""
    bookmark = state.get(BOOKMARK)
    reached = state.get(BACKFILLED_FROM)
    return (
        parse_datetime(reached) if reached and bookmark else None,
        parse_datetime(bookmark) if bookmark else None,
    )


def plan_run_windows(
    state: t.Mapping[str, t.Any],
    *,
    first: t.Callable[[], datetime],
    new_start: t.Callable[[], datetime],
    end: datetime,
    window_days: int,
    order: str,
    bookmark_valid: bool = True,
) -> RunWindows:
    """The windows this run exports, given the stream's state (see the module docstring).

    `first()`: the stream's first second (start_date, never before the instance's birth), asked
    only when something from there is exported; `new_start()`: the first second after the
    bookmark to export; `bookmark_valid`: False when the bookmark was made with another filter.
    """
    if order not in BACKFILL_ORDERS:
        raise ValueError(f"backfill_order must be one of {', '.join(BACKFILL_ORDERS)}: {order!r}")
    reached, bookmark = emitted_range(state) if bookmark_valid else (None, None)
    if bookmark is None:
        if order == OLDEST_FIRST:
            return RunWindows(plan_windows(first(), end, window_days), [])
        newest_first = plan_windows_newest_first(first(), end, window_days)
        return RunWindows(newest_first[:1], newest_first[1:])
    new = plan_windows(new_start(), end, window_days)
    if reached is None or reached <= (start := first()):
        return RunWindows(new, [])  # nothing older left to export
    # An unfinished newest-first backfill goes on walking back whatever the setting says now:
    # only that keeps the emitted range one contiguous range.
    return RunWindows(new, plan_windows_newest_first(start, reached - ONE_SECOND, window_days))


def record_finished_window(state: t.MutableMapping[str, t.Any], window: Window, order: str) -> None:
    """Every file of `window` is emitted: extend the emitted range by it.

    A window after the bookmark moves it (windows are planned from the bookmark on); an older one
    must touch `backfilled_from` (else RuntimeError: a gap would be marked done); windows inside
    the range change nothing.
    """
    reached, bookmark = emitted_range(state)
    if bookmark is None:
        state[BOOKMARK] = format_datetime(window.end)
        if order == NEWEST_FIRST:
            state[BACKFILLED_FROM] = format_datetime(window.start)
        return
    if window.end > bookmark:
        # Planned from the bookmark on (a gap only where nothing can be: before the birth).
        state[BOOKMARK] = format_datetime(window.end)
    elif reached is None or window.start >= reached:
        return  # already inside the range
    elif window.end >= reached - ONE_SECOND:
        state[BACKFILLED_FROM] = format_datetime(window.start)
    else:
        raise RuntimeError(
            f"window {window.key} is not next to the emitted range "
            f"{format_datetime(reached) if reached else '(start)'}/{format_datetime(bookmark)}"
        )


def is_emitted(state: t.Mapping[str, t.Any], window: Window) -> bool:
    """Does the emitted range hold all of `window`? (Its in_flight entry is then stale.)"""
    return range_holds(emitted_range(state), window)


def range_holds(emitted: tuple[datetime | None, datetime | None], window: Window) -> bool:
    """Does the range (backfilled_from, or the start when None; bookmark) hold all of `window`?"""
    reached, bookmark = emitted
    if bookmark is None or window.end > bookmark:
        return False
    return reached is None or window.start >= reached


def backfill_done(state: t.Mapping[str, t.Any], first: datetime) -> bool:
    reached, bookmark = emitted_range(state)
    return bookmark is not None and (reached is None or reached <= first)


def resume_parts(window: Window, resumable: list[Window]) -> list[Window]:
    """`window` as planned, or, where an earlier run split it, the parts state holds export
    ids for, with the gaps between them filled: the parts' jobs are re-attached, not redone."""
    parts = sorted(
        w for w in resumable if w != window and window.start <= w.start and w.end <= window.end
    )
    if not parts:
        return [window]
    out: list[Window] = []
    cursor = window.start
    for part in parts:
        if part.start < cursor:
            continue  # overlaps a part already taken (a split of a split)
        if part.start > cursor:
            out.append(Window(cursor, part.start - ONE_SECOND))
        out.append(part)
        cursor = part.end + ONE_SECOND
    if cursor <= window.end:
        out.append(Window(cursor, window.end))
    return out
