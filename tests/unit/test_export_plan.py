"""ExportPlan: one pipeline across streams, each stream's events dispatched to it in turn."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone

import pytest

from tap_marketo_bulk.export.events import (
    Event,
    ExportReady,
    ExportRequest,
    JobSubmitted,
    QuotaExhausted,
)
from tap_marketo_bulk.export.plan import ExportPlan
from tap_marketo_bulk.export.quota import QuotaTracker
from tap_marketo_bulk.export.windows import Window

END = datetime(2024, 3, 31, 23, 59, 59, tzinfo=timezone.utc)
LOG = logging.getLogger("test.plan")


def request(stream: str, day: int) -> ExportRequest:
    start = datetime(2024, 1, day, tzinfo=timezone.utc)
    window = Window(start, start.replace(hour=23, minute=59, second=59))
    return ExportRequest(stream, stream, {"filter": {"createdAt": window.as_filter()}}, window)


CALLS: list[tuple[str, str]] = []  # prepare_export / plan_requests, in call order


class Participant:
    def __init__(self, name: str, days: list[int]) -> None:
        self.name = name
        self.days = days
        self.submitted: list[str] = []
        self.planned_with: datetime | None = None

    def prepare_export(self) -> None:
        CALLS.append(("prepare", self.name))

    def plan_requests(self, end: datetime) -> list[ExportRequest]:
        CALLS.append(("plan", self.name))
        self.planned_with = end
        return [request(self.name, day) for day in self.days]

    def on_job_submitted(self, event: JobSubmitted) -> None:
        self.submitted.append(event.export_id)


class ScriptedScheduler:
    """Plays back events for the requests it is given: a job submitted for each of the first
    `ahead` requests up front, then one file and the next submission at a time."""

    max_concurrent_jobs = 2
    poll_interval = 60.0

    def __init__(self, ahead: int = 3, quota_after: int | None = None) -> None:
        self.quota = QuotaTracker(100 * 1024 * 1024)
        self.ahead = ahead
        self.quota_after = quota_after
        self.runs: list[list[ExportRequest]] = []

    def run(self, requests: Iterable[ExportRequest]) -> Iterator[Event]:
        requests = list(requests)
        self.runs.append(requests)
        return self._play(requests)

    def _play(self, requests: list[ExportRequest]) -> Iterator[Event]:
        ids = [f"{r.stream}-{r.window.start.day}" for r in requests]  # type: ignore[union-attr]
        for i in range(min(self.ahead, len(requests))):
            yield JobSubmitted(requests[i], ids[i])
        for i, req in enumerate(requests):
            if self.quota_after is not None and i == self.quota_after:
                yield QuotaExhausted("quota", requests[i:])
                return
            yield ExportReady(req, ids[i], None, 0, 0)
            if i + self.ahead < len(requests):
                yield JobSubmitted(requests[i + self.ahead], ids[i + self.ahead])


def plan_for(scheduler: ScriptedScheduler, participants: list[Participant]) -> ExportPlan:
    return ExportPlan(
        scheduler,  # type: ignore[arg-type]
        end=lambda: END,
        participants=lambda: participants,
        keep=set,
        logger=LOG,
    )


def consume(plan: ExportPlan, stream: str) -> list[tuple[str, str]]:
    out = []
    for event in plan.events(stream):
        kind = type(event).__name__
        out.append((kind, getattr(event, "export_id", "") or getattr(event, "message", "")))
    return out


def test_one_pipeline_runs_every_stream_and_hands_each_its_own_events_in_turn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    leads, activities = Participant("leads", [1, 2]), Participant("activities", [1, 2])
    scheduler = ScriptedScheduler(ahead=3)
    plan = plan_for(scheduler, [leads, activities])
    with caplog.at_level(logging.INFO):
        assert [r.stream for r in plan.requests("leads")] == ["leads", "leads"]
    # Planned together, up front: one scheduler run over both streams' requests.
    assert activities.planned_with == END
    assert [[r.stream for r in run] for run in scheduler.runs] == [
        ["leads", "leads", "activities", "activities"]
    ]
    assert "plan: leads: 2 windows, 2 export jobs" in caplog.text
    assert "4 export jobs in all, at least 2 status cycles" in caplog.text

    assert consume(plan, "leads") == [
        ("JobSubmitted", "leads-1"),
        ("JobSubmitted", "leads-2"),
        ("ExportReady", "leads-1"),
        ("ExportReady", "leads-2"),
    ]
    # While leads was emitting, activities' first jobs were submitted and handed to it at once.
    assert activities.submitted == ["activities-1", "activities-2"]
    assert leads.submitted == []
    assert plan.requests("activities")[0].stream == "activities"  # no second planning
    assert consume(plan, "activities") == [
        ("ExportReady", "activities-1"),
        ("ExportReady", "activities-2"),
    ]
    assert len(scheduler.runs) == 1


def test_every_stream_is_checked_before_any_is_planned_or_any_job_created() -> None:
    CALLS.clear()
    leads, activities = Participant("leads", [1]), Participant("activities", [1])
    scheduler = ScriptedScheduler(ahead=3)
    plan = plan_for(scheduler, [leads, activities])
    plan.requests("leads")
    assert CALLS == [
        ("prepare", "leads"),
        ("prepare", "activities"),
        ("plan", "leads"),
        ("plan", "activities"),
    ]

    class Refusing(Participant):
        def prepare_export(self) -> None:
            raise ValueError("catalog out of date")

    scheduler = ScriptedScheduler(ahead=3)
    plan = plan_for(scheduler, [Participant("leads", [1]), Refusing("activities", [1])])
    with pytest.raises(ValueError, match="catalog out of date"):
        plan.requests("leads")
    assert scheduler.runs == []  # no job of any stream was created


def test_quota_exhausted_gives_each_stream_its_own_pending_requests() -> None:
    leads, activities = Participant("leads", [1, 2]), Participant("activities", [1, 2])
    plan = plan_for(ScriptedScheduler(ahead=1, quota_after=1), [leads, activities])
    plan.requests("leads")
    events = list(plan.events("leads"))
    assert isinstance(events[-1], QuotaExhausted)
    assert [r.stream for r in events[-1].pending] == ["leads"]
    later = list(plan.events("activities"))
    assert len(later) == 1 and isinstance(later[0], QuotaExhausted)
    assert [r.window.start.day for r in later[0].pending] == [1, 2]  # type: ignore[union-attr]


def test_a_stream_with_nothing_to_export_is_skipped_over() -> None:
    empty, activities = Participant("leads", []), Participant("activities", [1])
    scheduler = ScriptedScheduler()
    plan = plan_for(scheduler, [empty, activities])
    assert plan.requests("leads") == []
    assert plan.requests("activities")[0].stream == "activities"
    assert consume(plan, "activities") == [
        ("JobSubmitted", "activities-1"),
        ("ExportReady", "activities-1"),
    ]
    assert plan.requests("leads") == []  # synced again later: still nothing, no new plan
    assert len(scheduler.runs) == 1


def test_progress_counts_windows_per_stream_and_in_all() -> None:
    ticks = iter([0.0, 10.0])
    leads, activities = Participant("leads", [1, 2]), Participant("activities", [1, 2])
    plan = ExportPlan(
        ScriptedScheduler(),  # type: ignore[arg-type]
        end=lambda: END,
        participants=lambda: [leads, activities],
        keep=set,
        logger=LOG,
        clock=lambda: next(ticks),
    )
    plan.requests("leads")
    plan.window_done("leads")
    # One of four windows took 10 s: three more take about 30 s.
    progress = plan.progress("leads")
    assert progress.startswith("1 of 2 windows (all streams 1 of 4), about 30 s left; forecast: ")
