"""Newest-first backfill: window order, the emitted range in state, resume, forecast (issue 18)."""

from __future__ import annotations

import itertools
import logging
from datetime import date, datetime, timezone
from types import SimpleNamespace

import pytest
import requests_mock

from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.errors import StateError
from tap_marketo_bulk.export.backfill import (
    BACKFILLED_FROM,
    BOOKMARK,
    NEWEST_FIRST,
    OLDEST_FIRST,
    is_emitted,
    plan_run_windows,
    plan_windows_newest_first,
    record_finished_window,
)
from tap_marketo_bulk.export.events import ExportRequest
from tap_marketo_bulk.export.forecast import Forecast, StreamLeft, next_quota_day_start
from tap_marketo_bulk.export.scheduler_state import ExportUnit, backfill_to_defer
from tap_marketo_bulk.export.windows import Window, parse_datetime, plan_windows
from tap_marketo_bulk.state_check import check_state
from tests.unit.fake_marketo import BASE_URL, FakeMarketo
from tests.unit.tap_runner import catalog_with, run_tap
from tests.unit.test_tap import CONFIG, LEADS, rows_for

LOG = logging.getLogger("test")
FIRST = parse_datetime("2024-01-01T00:00:00Z")
END = parse_datetime("2024-03-03T23:59:59Z")
NEWEST_CONFIG = {**CONFIG, "backfill_order": NEWEST_FIRST}
# Windows of 31 days aligned on the end, newest first.
NEWEST_WINDOWS = [
    ("2024-02-02T00:00:00Z", "2024-03-03T23:59:59Z"),
    ("2024-01-02T00:00:00Z", "2024-02-01T23:59:59Z"),
    ("2024-01-01T00:00:00Z", "2024-01-01T23:59:59Z"),
]


def keys(windows: list[Window]) -> list[tuple[str, str]]:
    return [(w.as_filter()["startAt"], w.as_filter()["endAt"]) for w in windows]


def plan(state: dict, order: str = NEWEST_FIRST, end: datetime = END):
    bookmark = state.get(BOOKMARK)
    return plan_run_windows(
        state,
        first=lambda: FIRST,
        new_start=lambda: parse_datetime(bookmark) + (Window(FIRST, FIRST).covered),
        end=end,
        window_days=31,
        order=order,
    )


# ----- windows ------------------------------------------------------------------------------


def test_newest_first_windows_cover_the_range_contiguously_from_the_end() -> None:
    windows = plan_windows_newest_first(FIRST, END, 31)
    assert keys(windows) == NEWEST_WINDOWS
    # Same seconds as oldest first, no gap, no overlap.
    covered = sum(w.covered.total_seconds() for w in windows)
    assert covered == sum(w.covered.total_seconds() for w in plan_windows(FIRST, END, 31))
    for newer, older in itertools.pairwise(windows):
        assert (newer.start - older.end).total_seconds() == 1
    assert plan_windows_newest_first(END, FIRST, 31) == []


def test_first_sync_plans_newest_first_and_oldest_first_as_today() -> None:
    assert keys(plan({}).in_order) == NEWEST_WINDOWS
    assert plan({}, OLDEST_FIRST).in_order == plan_windows(FIRST, END, 31)


def test_a_run_exports_what_is_new_first_then_walks_back() -> None:
    state = {BOOKMARK: "2024-02-29T23:59:59Z", BACKFILLED_FROM: "2024-02-01T00:00:00Z"}
    run = plan(state)
    assert keys(run.new) == [("2024-03-01T00:00:00Z", "2024-03-03T23:59:59Z")]
    assert keys(run.backfill) == [
        ("2024-01-01T00:00:00Z", "2024-01-31T23:59:59Z"),
    ]
    # The same under oldest_first: an unfinished newest-first backfill is finished, not skipped.
    assert plan(state, OLDEST_FIRST).in_order == run.in_order


def test_state_of_todays_tap_keeps_working_in_either_order() -> None:
    legacy = {BOOKMARK: "2024-01-31T23:59:59Z"}  # oldest first: everything up to here is done
    for order in (NEWEST_FIRST, OLDEST_FIRST):
        run = plan(legacy, order)
        assert run.backfill == []
        assert keys(run.new)[0][0] == "2024-02-01T00:00:00Z"
        assert run.new[-1].end == END


def test_finished_windows_extend_the_range_at_either_end() -> None:
    state: dict = {}
    newest, middle, oldest = plan_windows_newest_first(FIRST, END, 31)
    record_finished_window(state, newest, NEWEST_FIRST)
    assert state == {BOOKMARK: "2024-03-03T23:59:59Z", BACKFILLED_FROM: "2024-02-02T00:00:00Z"}
    record_finished_window(state, middle, NEWEST_FIRST)
    assert state[BACKFILLED_FROM] == "2024-01-02T00:00:00Z"
    assert is_emitted(state, middle) and not is_emitted(state, oldest)
    new = Window(parse_datetime("2024-03-04T00:00:00Z"), parse_datetime("2024-03-05T00:00:00Z"))
    record_finished_window(state, new, NEWEST_FIRST)
    assert state[BOOKMARK] == "2024-03-05T00:00:00Z"
    # A bookmark from before the instance's birth (an older tap): windows start at the birth.
    legacy = {BOOKMARK: "2019-06-30T23:59:59Z"}
    record_finished_window(legacy, newest, NEWEST_FIRST)
    assert legacy == {BOOKMARK: "2024-03-03T23:59:59Z"}
    gap = Window(parse_datetime("2023-06-01T00:00:00Z"), parse_datetime("2023-06-02T00:00:00Z"))
    with pytest.raises(RuntimeError, match="not next to the emitted range"):
        record_finished_window(state, gap, NEWEST_FIRST)


def test_stopping_after_any_window_resumes_exactly_in_both_orders() -> None:
    """Kill after k windows: the next plan is exactly the windows not yet finished."""
    for order in (NEWEST_FIRST, OLDEST_FIRST):
        everything = plan({}, order).in_order
        for k in range(len(everything) + 1):
            state: dict = {}
            for window in everything[:k]:
                record_finished_window(state, window, order)
            rest = plan(state, order).in_order if state else everything
            assert rest == everything[k:], (order, k)


# ----- the tap ------------------------------------------------------------------------------


def test_tap_exports_newest_window_first_and_keeps_the_range_in_state() -> None:
    with requests_mock.Mocker() as mocker:
        fake = FakeMarketo(mocker, rows_for)
        catalog = catalog_with(NEWEST_CONFIG, only=["leads"])
        run = run_tap(NEWEST_CONFIG, catalog=catalog)
    assert run.error is None
    windows = [b["filter"]["updatedAt"] for b in fake.lead_creates() if b["fields"] != ["id"]]
    assert [(w["startAt"], w["endAt"]) for w in windows] == NEWEST_WINDOWS
    records = run.records("leads")
    assert [r["id"] for r in records] == [4, 2, 3, 1]  # the newest window's records first
    assert {r["id"]: r for r in records}[1] == LEADS[0]
    leads = run.final_state["bookmarks"]["leads"]
    assert leads[BOOKMARK] == "2024-03-03T23:59:59Z"
    assert leads[BACKFILLED_FROM] == "2024-01-01T00:00:00Z"
    assert leads["in_flight"] == {}
    assert leads["exported"]["seconds"] == 63 * 86400
    assert leads["exported"]["bytes"] > 0
    # The newest window (lead 4, created 2024-03-03, and lead 2, created before the window):
    # one row created inside it, highest id 4; no window was new since a last run.
    assert leads["exported"]["created_rows"] == 1
    assert leads["exported"]["created_seconds"] == 31 * 86400
    assert leads["exported"]["max_id"] == 4
    assert "new_rows" not in leads["exported"]


def test_the_forecast_samples_marketo_only_while_a_backfill_is_left() -> None:
    sampled = ("/rest/v1/leads.json", "/rest/v1/activities/pagingtoken.json")
    with requests_mock.Mocker() as mocker:
        FakeMarketo(mocker, rows_for)
        catalog = catalog_with(NEWEST_CONFIG, only=["leads", "activities"])
        first = run_tap(NEWEST_CONFIG, catalog=catalog)
        assert first.error is None
        # The backfill is done: a next run (one new day) weighs its window by bytes per day,
        # with no REST sample at all.
        mocker.reset_mock()
        later = {**NEWEST_CONFIG, "end_date": "2024-03-04T23:59:59Z"}
        second = run_tap(later, catalog=catalog, state=first.final_state)
        assert second.error is None
        paths = [r.path for r in mocker.request_history]
    assert any("/bulk/v1/leads/export" in path for path in paths)
    assert any("/bulk/v1/activities/export" in path for path in paths)
    assert not [path for path in paths if path.lower() in sampled]


def test_tap_failing_in_the_backfill_resumes_with_the_older_windows_only() -> None:
    older = NEWEST_WINDOWS[1][0]
    with requests_mock.Mocker() as mocker:
        FakeMarketo(mocker, rows_for, fail_windows=[older])
        catalog = catalog_with(NEWEST_CONFIG, only=["leads"])
        first = run_tap(NEWEST_CONFIG, catalog=catalog)
    assert first.error is not None
    assert sorted(r["id"] for r in first.records("leads")) == [4]
    state = first.final_state
    assert state["bookmarks"]["leads"][BACKFILLED_FROM] == NEWEST_WINDOWS[0][0]
    with requests_mock.Mocker() as mocker:
        healthy = FakeMarketo(mocker, rows_for)
        second = run_tap(NEWEST_CONFIG, state=state, catalog=catalog)
    assert second.error is None
    starts = [
        b["filter"]["updatedAt"]["startAt"] for b in healthy.lead_creates() if b["fields"] != ["id"]
    ]
    # Nothing new since the bookmark (end_date is fixed): the two older windows, newest first.
    assert starts == [NEWEST_WINDOWS[1][0], NEWEST_WINDOWS[2][0]]
    assert sorted(r["id"] for r in second.records("leads")) == [1, 2, 3]
    assert second.final_state["bookmarks"]["leads"][BACKFILLED_FROM] == "2024-01-01T00:00:00Z"


# ----- state check --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bookmark",
    [
        {BOOKMARK: "2024-03-01T00:00:00Z", BACKFILLED_FROM: "yesterday"},
        {BACKFILLED_FROM: "2024-03-01T00:00:00Z"},
        {BOOKMARK: "2024-03-01T00:00:00Z", BACKFILLED_FROM: "2024-04-01T00:00:00Z"},
    ],
)
def test_state_check_refuses_an_unreadable_backfilled_from(bookmark: dict) -> None:
    with pytest.raises(StateError, match=r"bookmarks\.leads\.backfilled_from: "):
        check_state({"bookmarks": {"leads": bookmark}})


def test_state_check_drops_a_bad_exported_with_a_warning(caplog) -> None:
    good = {BOOKMARK: "2024-03-01T00:00:00Z", BACKFILLED_FROM: "2024-02-01T00:00:00Z"}
    checked = check_state({"bookmarks": {"leads": {**good, "exported": "lots"}}})
    assert checked["bookmarks"]["leads"] == good
    assert "exported is not {bytes, seconds, rows" in caplog.text
    kept = {**good, "exported": {"bytes": 10, "seconds": 86400}}
    assert check_state({"bookmarks": {"leads": kept}})["bookmarks"]["leads"] == kept


# ----- forecast -----------------------------------------------------------------------------

MB = 1_000_000


def test_forecast_counts_quota_days_in_sync_order() -> None:
    # leads: 10 days covered left at 1 MB a day = 10 MB; activities: 4 windows of 2 days, 5 MB a
    # day = 40 MB. 5 MB left today, 20 MB a day after.
    forecast = Forecast(
        [StreamLeft("leads", 1, 10.0, 1 * MB), StreamLeft("activities", 4, 8.0, 5 * MB)],
        date(2026, 12, 4),
        5 * MB,
        20 * MB,
    )
    (_, leads_bytes, leads_days), (_, act_bytes, act_days) = forecast.ends()
    assert (leads_bytes, leads_days) == (10 * MB, 1)  # 5 today, 5 tomorrow
    assert (act_bytes, act_days) == (40 * MB, 3)  # 50 in all: 5 + 20 + 20 + 5
    assert forecast.total() == (5, 50 * MB, 3)
    assert forecast.total_text() == (
        "5 windows left, ~50.0 MB, 3 more days at daily_quota_mb (ends 2026-12-07)"
    )
    unknown = Forecast([StreamLeft("leads", 3, 9.0, None)], date(2026, 12, 4), 0, MB)
    assert unknown.total()[1] is None
    assert unknown.total_text() == "3 windows left, MB and days once a stream exported a window"


def test_forecast_takes_an_estimate_and_never_says_today_once_the_quota_is_spent() -> None:
    # A stream's own estimate wins over its bytes per day (10 days x 1 MB would be 10 MB).
    estimated = StreamLeft("leads", 2, 10.0, 1 * MB, estimate=0.5 * MB)
    assert estimated.bytes == 0.5 * MB
    # Today's quota spent (a quota stop): 2 windows of ~0 bytes still take one more day.
    empty = StreamLeft("leads", 2, 10.0, 1 * MB, estimate=0.0)
    stopped = Forecast([empty], date(2026, 12, 4), 0, MB)
    assert stopped.total() == (2, 0.0, 1)
    assert stopped.ends()[0][2] == 1
    # With quota left today, the same windows end today; with nothing left, nothing is due.
    today = Forecast([empty], date(2026, 12, 4), MB, MB)
    assert today.total() == (2, 0.0, 0)
    done = Forecast([StreamLeft("leads", 0, 0.0, 1 * MB)], date(2026, 12, 4), 0, MB)
    assert done.total() == (0, 0.0, 0)


def test_next_run_starts_after_midnight_us_central() -> None:
    assert next_quota_day_start(date(2026, 12, 4)) == datetime(2026, 12, 5, 6, tzinfo=timezone.utc)
    assert next_quota_day_start(date(2026, 7, 4)) == datetime(2026, 7, 5, 5, tzinfo=timezone.utc)


def test_client_learns_marketos_clock_from_the_date_header() -> None:
    with requests_mock.Mocker() as mocker:
        mocker.get(
            f"{BASE_URL}/identity/oauth/token",
            json={"access_token": "t", "expires_in": 3600, "token_type": "bearer"},
        )
        mocker.get(
            f"{BASE_URL}/rest/v1/leads/describe2.json",
            json={"success": True, "result": []},
            headers={"Date": "Sat, 05 Dec 2026 07:00:00 GMT"},
        )
        client = MarketoClient(BASE_URL, "id", "secret", logger=LOG)
        client.get("/rest/v1/leads/describe2.json")
    assert client.server_offset is not None
    server_now = client.server_now()
    assert server_now.tzinfo is not None
    # Within a few seconds of the Date header, whatever our own clock says.
    assert abs((server_now - datetime(2026, 12, 5, 7, tzinfo=timezone.utc)).total_seconds()) < 60


# ----- the scheduler leaves older windows to a later run -------------------------------------


def _unit(
    stream: str, *, backfill: bool, status: str | None = None, estimate=None, paced=False
):
    request = ExportRequest(
        stream, stream, {}, backfill=backfill, paced=paced, estimated_bytes=estimate
    )
    return ExportUnit(request, job=SimpleNamespace(status=status) if status else None)


def test_backfill_waits_for_a_size_then_leaves_room_for_later_streams_newest_windows() -> None:
    head_a = _unit("a", backfill=False, status="Processing")
    older_a = [_unit("a", backfill=True), _unit("a", backfill=True)]
    head_b = _unit("b", backfill=False, estimate=10.0)  # b's newest window: 10 bytes by its state
    units = [head_a, *older_a, head_b]
    # Nothing completed yet, a job under way: wait for its size.
    assert backfill_to_defer(units, older_a[0], 100, lambda s: None) == ("wait", [])
    # Nothing under way either: one job goes first, to learn the size.
    assert backfill_to_defer(units[1:], older_a[0], 100, lambda s: None) == ("go", [])
    # 10 bytes a job: under way 10 + this 10 + b's newest 10 = 30 fit in 100; not in 25.
    assert backfill_to_defer(units, older_a[0], 100, lambda s: 10.0) == ("go", [])
    assert backfill_to_defer(units, older_a[0], 25, lambda s: 10.0) == ("defer", older_a)
    # A request's own estimate (its stream's bytes per day so far) wins over bytes per job.
    units[-1] = _unit("b", backfill=False, estimate=0.0)
    assert backfill_to_defer(units, older_a[0], 25, lambda s: 10.0) == ("go", [])
    # A later newest window of unknown size (a first sync): the older windows wait for the
    # second pass, however much quota is left.
    units[-1] = _unit("b", backfill=False)
    assert backfill_to_defer(units, older_a[0], 10**9, lambda s: 10.0) == ("defer", older_a)
    # The last stream with work left is never deferred: it waits while the jobs under way are
    # estimated to spend what is left today (10 under way against 1 left), else it goes.
    assert backfill_to_defer(units[:3], older_a[0], 1, lambda s: 10.0) == ("wait", [])
    assert backfill_to_defer(units[:3], older_a[0], 11, lambda s: 10.0) == ("go", [])
    assert backfill_to_defer(units[1:3], older_a[0], 1, lambda s: 10.0) == ("go", [])
    # Windows that are new since the last run are never deferred.
    assert backfill_to_defer(units, head_b, 0, lambda s: 10.0) == ("go", [])
    # No daily_quota_mb: no deferral.
    assert backfill_to_defer(units, older_a[0], None, lambda s: 10.0) == ("go", [])


def test_an_oldest_first_window_waits_while_the_jobs_under_way_spend_the_quota_left() -> None:
    under_way = _unit("a", backfill=False, status="Processing", estimate=30.0, paced=True)
    paced = _unit("a", backfill=False, paced=True)
    units = [under_way, paced]
    assert backfill_to_defer(units, paced, 30, lambda s: 10.0) == ("wait", [])
    assert backfill_to_defer(units, paced, 31, lambda s: 10.0) == ("go", [])
    # Nothing under way: it goes, whatever is left (the quota's own count stops the run).
    assert backfill_to_defer([paced], paced, 1, lambda s: 10.0) == ("go", [])
    # A newest window (not paced) never waits.
    head = _unit("a", backfill=False)
    assert backfill_to_defer([under_way, head], head, 0, lambda s: 10.0) == ("go", [])
