"""ExportPlan: one owner of a run's bulk exports, across every selected bulk stream.

Streams are synced one after another, but Marketo's queue should never idle between them: the plan
asks every selected bulk stream (a participant) for its requests before the first one syncs, runs
them all through the one ExportScheduler as a single ordered list, and hands each stream its own
events in turn. While stream A emits its last files, stream B's first jobs are already created and
enqueued; B's JobSubmitted events go straight to B (`on_job_submitted`, which writes them into
state) so a kill resumes them. ExportReady events come in request order, so A's files all come
before B's: records still come out stream by stream.

It also says up front what the run will take (windows, jobs, status cycles) and, after each file,
how far it is and how long is left.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import typing as t
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime, timedelta

from tap_marketo_bulk.export.events import (
    Event,
    ExportReady,
    ExportRequest,
    JobSubmitted,
    QuotaExhausted,
)
from tap_marketo_bulk.export.forecast import Forecast, StreamLeft, next_quota_day_start
from tap_marketo_bulk.export.windows import Window, format_datetime

if t.TYPE_CHECKING:
    from tap_marketo_bulk.export.scheduler import ExportScheduler

MIB = 1024 * 1024


class ExportParticipant(t.Protocol):
    """A bulk stream as the plan sees it."""

    name: str

    def prepare_export(self) -> None:
        """Checks that must pass before any job of the run is created (raise to stop)."""
        ...

    def plan_requests(self, end: datetime) -> list[ExportRequest]:
        """This run's requests, in order (probes included), ending at `end`."""
        ...

    def on_job_submitted(self, event: JobSubmitted) -> None:
        """A job of this stream was created while another stream syncs: record it in state."""
        ...


def checkpoint_key(request: ExportRequest) -> str:
    """What one planned window is: its date window, or the whole request when it has none."""
    return request.window.key if request.window is not None else request.key


class ExportPlan:
    """Plans every participant once, runs all their requests as one pipeline, dispatches events."""

    def __init__(
        self,
        scheduler: ExportScheduler,
        *,
        end: Callable[[], datetime],
        participants: Callable[[], Sequence[ExportParticipant]],
        keep: Callable[[], Collection[str]],
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scheduler = scheduler
        self._end = end
        self._participants = participants
        self._keep = keep
        self.logger = logger
        self._clock = clock
        self._by_name: dict[str, ExportParticipant] = {}
        self._order: list[str] = []  # streams still to sync, in sync order
        self._requests: dict[str, list[ExportRequest]] = {}
        self._events: Iterator[Event] | None = None
        self._stash: list[Event] = []  # the next stream's first file, read while finishing one
        self._quota_left: dict[str, QuotaExhausted] = {}
        self.windows_planned: Counter[str] = Counter()
        self.windows_done: Counter[str] = Counter()
        self.jobs_planned: Counter[str] = Counter()
        self.days_planned: Counter[str] = Counter()  # days of windows planned (the forecast)
        self.days_done: Counter[str] = Counter()
        self.bytes_done: Counter[str] = Counter()
        self._planned_windows: dict[str, dict[str, Window]] = {}  # per stream, by key
        self._done: defaultdict[str, set[str]] = defaultdict(set)  # keys of windows done
        self._planned_order: list[str] = []  # every stream planned this run, in sync order
        self._only: Collection[str] | None = None  # a second pass: these participants only
        self._said_left = False
        self._started: float | None = None

    # ----- the consumer side ------------------------------------------------------------------

    def requests(self, stream: str) -> list[ExportRequest]:
        """The stream's planned requests (planning every participant on the first call)."""
        if self._requests.get(stream) == [] and stream not in self._order:
            return []  # planned with nothing to export, and skipped over since
        self._ensure_head(stream)
        return list(self._requests.get(stream, []))

    def events(self, stream: str) -> Iterator[Event]:
        """The stream's events: its JobSubmitted and ExportReady, in order, and QuotaExhausted
        (with its own pending requests) when the day's quota ran out. Ends when the next file
        belongs to a later stream; stopping early leaves the other streams' exports running."""
        self._ensure_head(stream)
        try:
            if stream in self._quota_left:
                yield self._quota_left.pop(stream)
                return
            while self._events is not None or self._stash:
                event = self._next()
                if event is None:
                    break
                if isinstance(event, JobSubmitted) and event.request.stream != stream:
                    self._by_name[event.request.stream].on_job_submitted(event)
                    continue
                if isinstance(event, ExportReady) and event.request.stream != stream:
                    self._stash.insert(0, event)
                    break
                if isinstance(event, QuotaExhausted):
                    own = self._split_quota_event(event)
                    if own is not None:
                        yield own
                    break
                yield event
        finally:
            self._finished(stream)

    def window_done(self, stream: str, window: Window | None = None, nbytes: int = 0) -> None:
        self.windows_done[stream] += 1
        if window is not None:
            self._done[stream].add(window.key)
        self.bytes_done[stream] += nbytes
        if window is not None:
            self.days_done[stream] += window.covered.total_seconds() / 86400

    def progress(self, stream: str) -> str:
        """`3 of 46 windows (all streams 3 of 95), about 1 h 20 min left`."""
        done, total = sum(self.windows_done.values()), sum(self.windows_planned.values())
        text = (
            f"{self.windows_done[stream]} of {self.windows_planned[stream]} windows "
            f"(all streams {done} of {total})"
        )
        if self._started is not None and 0 < done < total:
            elapsed = self._clock() - self._started
            text += f", about {_duration(elapsed / done * (total - done))} left"
        return text + "; " + self.forecast_text(stream)

    # ----- the forecast -----------------------------------------------------------------------

    def forecast(self, *, stopped: bool = False) -> Forecast:
        """What every stream planned this run has left; `stopped`: today's quota is spent."""
        quota = self.scheduler.quota
        left = []
        for name in self._planned_order:
            participant = self._by_name.get(name)
            planned, done = self._planned_windows.get(name, {}), self._done[name]
            windows = [w for key, w in planned.items() if key not in done]
            exported = getattr(participant, "exported", None)
            so_far = exported() if exported is not None else None
            estimate = getattr(participant, "forecast_bytes", None)
            left.append(
                StreamLeft(
                    name,
                    max(0, self.windows_planned[name] - self.windows_done[name]),
                    max(0.0, self.days_planned[name] - self.days_done[name]),
                    so_far.bytes / so_far.days if so_far is not None and so_far.days else None,
                    self.bytes_done[name] / done if (done := self.windows_done[name]) else None,
                    estimate(windows) if estimate is not None and windows else None,
                )
            )
        # A stream with no window exported yet is not counted (the lines say so): another
        # stream's bytes per day tell nothing of it (activities are not leads).
        remaining = 0 if stopped else quota.remaining
        return Forecast(left, quota.day, remaining, quota.limit_bytes)

    def forecast_text(self, stream: str | None = None) -> str:
        """`forecast: leads 3 windows left, ~4.1 MB, ...; all streams 9 windows left, ...`."""
        forecast = self.forecast()
        parts = [
            f"{left.stream} {forecast.stream_text(left, own, days)}"
            for left, own, days in forecast.ends()
            if stream is None or left.stream == stream
        ]
        return "forecast: " + "; ".join([*parts, f"all streams {forecast.total_text()}"])

    def quota_stop_text(self) -> str:
        """When the next run should start, and how many more days the rest takes."""
        forecast = self.forecast(stopped=True)
        windows, nbytes, days = forecast.total()
        start = next_quota_day_start(forecast.today)
        text = (
            f"next run after midnight US Central ({format_datetime(start)}); "
            f"{windows} window{'s' if windows != 1 else ''} left"
        )
        if nbytes is None or days is None:
            return text
        unknown = forecast.unknown()
        return text + (
            f", ~{nbytes / 1e6:.1f} MB: {days} more day{'s' if days != 1 else ''} "
            f"at daily_quota_mb (ends {(forecast.today + timedelta(days=days)).isoformat()})"
            + (f"; not counting {', '.join(unknown)} (no window exported yet)" if unknown else "")
        )

    def stop(self) -> None:
        """Stop the pipeline (its unused jobs are cancelled by the scheduler's close())."""
        events, self._events = self._events, None
        self._stash.clear()
        self._order.clear()
        close = getattr(events, "close", None)
        if close is not None:
            # ValueError: running (a signal handler stops us); the scheduler's close() ends it.
            with contextlib.suppress(ValueError):
                close()

    # ----- internals --------------------------------------------------------------------------

    def _ensure_head(self, stream: str) -> None:
        """Plan on the first call; a stream synced out of the planned order plans again from
        itself (jobs already submitted are in state and re-attached; others are cancelled)."""
        while self._order and self._order[0] != stream and not self._requests.get(self._order[0]):
            self._order.pop(0)  # nothing to export: it has no events to wait for
        if self._order and self._order[0] == stream:
            return
        if self._events is not None or self._order:
            self.stop()
            self.scheduler.close(keep=self._keep())
        self._plan_from(stream)

    def _next(self) -> Event | None:
        if self._stash:
            return self._stash.pop(0)
        assert self._events is not None
        event = next(self._events, None)
        if event is None:
            self._events = None
        return event

    def _finished(self, stream: str) -> None:
        if stream in self._order:
            self._order.remove(stream)
        if not self._order and not self._stash:
            events, self._events = self._events, None
            if events is not None:
                # Every stream is done: drain what is left (nothing, normally) and end the run.
                for event in events:
                    if isinstance(event, ExportReady):
                        event.release()
                    elif isinstance(event, JobSubmitted):
                        self._by_name[event.request.stream].on_job_submitted(event)

    # ----- the run's second pass and its end --------------------------------------------------

    def left_for_later(self) -> list[str]:
        """Streams of the last pass with windows left (in sync order): backfill windows left so
        the newest windows of the streams after them came first, or the quota's end."""
        return [n for n in self._planned_order if self.windows_done[n] < self.windows_planned[n]]

    def continue_backfills(self) -> list[str]:
        """Streams whose older windows the pass left for later while today's quota is not spent:
        the next sync of those streams plans them (and only them) again, so the rest of today's
        quota goes on their backfill, newest first. [] when there is nothing to continue."""
        if self._order or self._events is not None or self.scheduler.quota.exhausted:
            return []
        names = self.left_for_later()
        self._only = set(names) if names else None
        return names

    def log_run_over(self) -> None:
        """The run's last plan line: when windows are left (quota), when to run next."""
        if self.left_for_later() and not self._said_left:
            self._said_left = True
            self.logger.info("plan: run over, windows left: %s", self.quota_stop_text())

    def _split_quota_event(self, event: QuotaExhausted) -> QuotaExhausted | None:
        """Give each stream still to sync its own part of the pending requests."""
        head = self._order[0]
        for name in self._order:
            pending = [r for r in event.pending if r.stream == name]
            self._quota_left[name] = QuotaExhausted(event.message, pending)
        events, self._events = self._events, None
        close = getattr(events, "close", None)
        if close is not None:
            close()  # QuotaExhausted is the run's last event
        return self._quota_left.pop(head, None)

    def _plan_from(self, stream: str) -> None:
        """Plan `stream` and every participant synced after it; start the one pipeline."""
        participants = [
            p for p in self._participants() if self._only is None or p.name in self._only
        ]
        names = [p.name for p in participants]
        later = participants[names.index(stream) :] if stream in names else []
        if not later:
            raise RuntimeError(f"stream {stream} is not a selected bulk stream of this run")
        end = self._end()
        self._by_name = {p.name: p for p in participants}
        self._order = [p.name for p in later]
        for participant in later:
            participant.prepare_export()
        self._requests = {p.name: p.plan_requests(end) for p in later}
        self._planned_order = list(self._order)
        for name, requests in self._requests.items():
            self.windows_planned[name] = len({checkpoint_key(r) for r in requests})
            self.windows_done[name] = 0
            self.jobs_planned[name] = len(requests)
            windows = {r.window.key: r.window for r in requests if r.window is not None}
            self._planned_windows[name] = windows
            self._done[name] = set()
            self.days_planned[name] = sum(w.covered.total_seconds() for w in windows.values())
            self.days_planned[name] /= 86400
            self.days_done[name] = 0.0
            self.bytes_done[name] = 0
        self._log_plan()
        everything = [r for name in self._order for r in self._requests[name]]
        self._started = self._clock()
        self._events = self.scheduler.run(everything) if everything else None

    def _log_plan(self) -> None:
        scheduler = self.scheduler
        jobs = sum(self.jobs_planned[name] for name in self._order)
        cycles = math.ceil(jobs / scheduler.max_concurrent_jobs)
        for name in self._order:
            resumed = sum(1 for r in self._requests[name] if r.resume_export_id)
            self.logger.info(
                "plan: %s: %s, %s%s",
                name,
                _count(self.windows_planned[name], "window"),
                _count(self.jobs_planned[name], "export job"),
                f" ({resumed} resumed from state)" if resumed else "",
            )
        quota = scheduler.quota
        used = quota.to_state()["bytes"]
        limit = quota.limit_bytes
        self.logger.info(
            "plan: %d export jobs in all, at least %d status cycles (ceil(%d jobs / %d at once)) "
            "of %s each: about %s; export quota used today %.1f MiB%s",
            jobs,
            cycles,
            jobs,
            scheduler.max_concurrent_jobs,
            _duration(scheduler.poll_interval),
            _duration(cycles * scheduler.poll_interval),
            used / MIB,
            f" of {limit / MIB:g} MiB" if limit else "",
        )
        self.logger.info("plan: %s", self.forecast_text())


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
