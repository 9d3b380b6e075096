"""A first sync that takes several days under a small daily quota, in both orders (issue 18).

Newest first: after day one the newest 31 days of every windowed stream equal the truth; after
the last day everything does, every record exported exactly once (the data does not change, so a
record twice means a window exported twice); as many jobs as oldest first, give or take one; day
one's last plan line says when to run next and forecasts the days left within 25%; every day
but the last spends its quota and passes it by less than one file (in both orders); a SIGKILL in
the middle of a day's backfill, then a rerun that day, stays exact. Oldest first (today's order)
is held to the same end result.
"""

from __future__ import annotations

import typing as t
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from tap_marketo_bulk.export.backfill import emitted_range
from tap_marketo_bulk.export.windows import format_datetime, parse_datetime
from tests.e2e.backfill_scenario import (
    DAILY_QUOTA_MB,
    DAY,
    KEYS,
    MIB,
    SANDBOX,
    STREAMS,
    WINDOW_FIELD,
    WINDOWED,
    Day,
    completed_jobs,
    day_quota_bytes,
    recent,
    run_day,
    run_until_finished,
    setup,
    truth,
)
from tests.e2e.test_tap_resume import Output, TapProcess

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_marketo_bulk.sandbox import Sandbox

pytestmark = pytest.mark.e2e


def assert_exactly_the_truth(sb: Sandbox, days: list[Day], *, allowed_twice=frozenset()) -> None:
    for stream in STREAMS:
        key = KEYS[stream]
        records = [r for day in days for r in day.records[stream]]
        counts = Counter(key(r) for r in records)
        twice = {k for k, n in counts.items() if n > 1} - set(allowed_twice)
        assert not twice, f"{stream}: exported more than once: {sorted(twice)[:5]}"
        latest = {key(r): r for r in records}
        assert latest == {key(r): r for r in truth(sb, stream)}, stream


def test_newest_first_takes_several_days_recent_data_on_day_one(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sb = sandbox_factory(**SANDBOX)
    config, catalog = setup(sb, "newest_first")
    days = run_until_finished(sb, config, catalog)
    assert len(days) >= 4, "the quota should make the first sync take several days"

    first = days[0]
    for stream in WINDOWED:
        expected = recent(truth(sb, stream), stream, config)
        assert expected, f"{stream}: the scenario has no recent data"
        assert recent(first.records[stream], stream, config) == expected, stream
    assert first.quota_stop is not None
    assert_exactly_the_truth(sb, days)
    newest_first_jobs = completed_jobs(sb)

    # The same instance from scratch, oldest first: as many jobs, give or take one.
    other = sandbox_factory(**SANDBOX)
    config, catalog = setup(other, "oldest_first")
    oldest = run_until_finished(other, config, catalog)
    assert_exactly_the_truth(other, oldest)
    assert abs(newest_first_jobs - completed_jobs(other)) <= 1
    # Oldest first has nothing recent after day one (the reason for newest first).
    assert recent(oldest[0].records["activities"], "activities", config) == {}

    # Day one says when to run next and forecasts the days left, within 25% of the days taken
    # (benchmarks/backfill_days.py prints both, day by day).
    assert first.more_days_forecast is not None and first.more_days_forecast >= 1
    assert first.quota_stop is not None and first.quota_stop.startswith("plan: run over")
    forecast = 1 + first.more_days_forecast
    assert abs(forecast - len(days)) <= 0.25 * len(days), (forecast, len(days))

    # Every day but the last spends its quota (the newest windows of every stream first, then
    # the backfill with what is left), and passes it by less than one export file.
    assert_each_day_spends_the_quota(sb, days)
    assert_each_day_spends_the_quota(other, oldest)


def assert_each_day_spends_the_quota(sb: Sandbox, days: list[Day]) -> None:
    limit = int(DAILY_QUOTA_MB * MIB)
    largest_file = max(job["bytes"] for job in sb.client_stats()["jobs"])
    for number, day in enumerate(days, 1):
        spent = day_quota_bytes(day)
        assert spent < limit + largest_file, (number, spent, largest_file)
        if number < len(days):
            assert spent >= limit, (number, spent)


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
def test_sigkill_mid_backfill_then_rerun_stays_exact(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path, order: str
) -> None:
    sb = sandbox_factory(**SANDBOX)
    config, catalog = setup(sb, order)
    day_one = run_day(config, catalog, None)
    sb.advance_clock(DAY)

    # Day two: killed once two more windows are finished.
    killed = TapProcess(tmp_path, config, catalog, day_one.state, "killed")
    marks: list[tuple[str, str | None]] = []

    def two_more_windows(output: Output, message: dict) -> bool:
        if message["type"] != "STATE":
            return False
        bookmarks = message["value"].get("bookmarks", {})
        mark = tuple(
            (b.get("replication_key_value"), b.get("backfilled_from"))
            for s in WINDOWED
            if (b := bookmarks.get(s))
        )
        if not marks or marks[-1] != mark:
            marks.append(mark)
        return len(marks) >= 3

    reached = killed.read_until(two_more_windows)
    killed.process.kill()
    killed.finish()
    assert reached, f"day two ended before two windows were done:\n{killed.stderr_tail()}"
    state = killed.output.last_state
    # Windows the kill cut short are exported again: their records may come twice, no others.
    cut_short = _records_of_unfinished_windows(killed.output, state)

    rerun = run_day(config, catalog, state)
    killed_day = Day({s: killed.output.records(s) for s in STREAMS}, state)
    days = run_until_finished(sb, config, catalog, [day_one, killed_day, rerun])
    assert_exactly_the_truth(sb, days, allowed_twice=cut_short)


def _records_of_unfinished_windows(output: Output, state: dict) -> set:
    """Keys the killed run emitted that its last STATE does not count as done."""
    keys = set()
    for stream in STREAMS:
        bookmark = state.get("bookmarks", {}).get(stream) or {}
        if stream == "program_members":
            keys |= {KEYS[stream](r) for r in output.records(stream)}
            continue
        reached, end = emitted_range(bookmark)

        for record in output.records(stream):
            moment = parse_datetime(record[WINDOW_FIELD[stream]])
            inside = end is not None and moment <= end and (reached is None or moment >= reached)
            if not inside:
                keys.add(KEYS[stream](record))
    return keys


def test_a_lead_updated_during_the_backfill_ends_with_its_latest_values(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    """No end_date: every run first exports what is new since the last one. Leads updated after
    day one come again in day two's newest window; the older windows the backfill exports later
    select by the current updatedAt, so they never bring the old values back after the new ones:
    the last copy of every record, what an upserting loader keeps, is the truth."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    sb = sandbox_factory(
        **{
            **SANDBOX,
            "data_start": format_datetime(now - timedelta(days=150)),
            "data_end": format_datetime(now - timedelta(days=1)),
        }
    )
    config, catalog = setup(sb, "newest_first")
    del config["end_date"]
    day_one = run_day(config, catalog, None)
    assert day_one.quota_stop is not None, "day one should leave a backfill"
    changed = sb.mutate(updated_leads=60)["updated_lead_ids"]
    sb.advance_clock(DAY)
    days = run_until_finished(sb, config, catalog, [day_one])
    assert len(days) >= 3
    day_two_leads = {r["id"] for r in days[1].records["leads"]}
    assert set(changed) <= day_two_leads  # what is new comes first
    assert_exactly_the_truth(sb, days, allowed_twice=frozenset(changed))
