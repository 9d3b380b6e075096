"""A custom object's interrupted reconcile resumes after its last emitted window (sandbox)."""

from __future__ import annotations

import typing as t
from collections.abc import Callable

import pytest

from tap_marketo_bulk.export.windows import parse_datetime
from tests.e2e.harness import catalog_with, run_tap, tap_config

if t.TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox

pytestmark = pytest.mark.e2e

STREAM = "custom_car_c"
DAY1 = "2024-04-30T23:59:59Z"
DAY2 = "2024-05-01T23:59:59Z"
THROUGH = "2024-02-28T23:59:58Z"  # end of the second 31-day window from the birth


def test_an_interrupted_custom_object_reconcile_resumes_after_its_last_window(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sb = sandbox_factory(
        seed=5,
        leads=100,
        activities=50,
        programs=1,
        members_per_program=2,
        custom_object_rows=80,
        data_start="2024-01-01T00:00:00Z",
        data_end=DAY1,
        status_refresh_seconds=0.02,
        max_calls_per_20s=100_000,
    )
    config = tap_config(sb, end_date=DAY1, reconcile_every_days=1)
    catalog = catalog_with(config, only=[STREAM])
    day1 = run_tap(config, catalog=catalog)
    assert day1.error is None, day1.error
    first = day1.final_state["bookmarks"][STREAM]
    assert first["replication_key_value"] == DAY1 and "reconcile" not in first
    assert len(day1.records(STREAM)) == len(sb.truth.custom_objects["car_c"])

    # Killed on day 2 after the reconcile's first two windows were emitted.
    state = day1.final_state
    version = first["version"] + 1
    state["bookmarks"][STREAM]["reconcile"] = {
        "version": version,
        "started_at": DAY2,
        "bytes": 10,
        "through": THROUGH,
    }
    day2 = run_tap({**config, "end_date": DAY2}, state=state, catalog=catalog)
    assert day2.error is None, day2.error
    records = [m for m in day2.messages if m["type"] == "RECORD" and m["stream"] == STREAM]
    # Only the windows after the last emitted one, and under the interrupted reconcile's version.
    assert records and {m["version"] for m in records} == {version}
    assert min(parse_datetime(m["record"]["updatedAt"]) for m in records) > parse_datetime(THROUGH)
    expected = [r for r in sb.truth.custom_objects["car_c"] if r["updatedAt"] > THROUGH]
    assert len(records) == len(expected)
    activations = [i for i, m in enumerate(day2.messages) if m["type"] == "ACTIVATE_VERSION"]
    assert [day2.messages[i]["version"] for i in activations] == [version]
    assert activations[0] > max(i for i, m in enumerate(day2.messages) if m["type"] == "RECORD")
    final = day2.final_state["bookmarks"][STREAM]
    assert "reconcile" not in final and final["version"] == version
    assert final["replication_key_value"] == DAY2 and final["reconciled_at"] == DAY2
    assert final["reconcile_bytes"] > 10


def test_a_custom_objects_first_reconcile_is_estimated_from_its_first_sync(
    sandbox_factory: Callable[..., Sandbox], caplog: pytest.LogCaptureFixture
) -> None:
    """The first sync goes newest first under a first version (no reconcile, no bytes recorded
    for one); the first reconcile's quota cost comes from the bytes per day exported so far, and
    one that does not fit today's daily_quota_mb waits while the new window runs."""
    sb = sandbox_factory(
        seed=5, leads=100, activities=50, programs=1, members_per_program=2,
        custom_object_rows=80, data_start="2024-01-01T00:00:00Z", data_end=DAY1,
        status_refresh_seconds=0.02, max_calls_per_20s=100_000,
    )
    config = tap_config(sb, end_date=DAY1, reconcile_every_days=1)
    catalog = catalog_with(config, only=[STREAM])
    day1 = run_tap(config, catalog=catalog)
    assert day1.error is None, day1.error
    first = day1.final_state["bookmarks"][STREAM]
    assert "reconcile_bytes" not in first and first["version"]
    assert not [m for m in day1.messages if m["type"] == "ACTIVATE_VERSION"]  # nothing to mark
    exported = first["exported"]
    days = (parse_datetime(DAY2) - parse_datetime("2024-01-01T00:00:00Z")).total_seconds() / 86400
    estimate = exported["bytes"] / (exported["seconds"] / 86400) * days

    sb.advance_clock(86400)  # a new Marketo day: day 1's bytes no longer count
    tiny = estimate / 2 / 1024 / 1024  # MiB: the reconcile cannot fit today
    with caplog.at_level("WARNING"):
        day2 = run_tap({**config, "end_date": DAY2, "daily_quota_mb": tiny},
                       state=day1.final_state, catalog=catalog)
    assert day2.error is None, day2.error
    waits = [r.getMessage() for r in caplog.records if "does not fit" in r.getMessage()]
    assert waits and f"{estimate / 1024 / 1024:.1f} MiB" in waits[0], waits
    second = day2.final_state["bookmarks"][STREAM]
    assert "reconcile" not in second and second["version"] == first["version"]
    assert second["replication_key_value"] == DAY2  # the new window ran
