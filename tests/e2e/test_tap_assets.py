"""The asset catalogue, channels, tags, program tags and costs, and api_usage against the
sandbox's ground truth: across several offset pages, through 606 and 602 mid-paging, forms and
programs deleted mid-run, and incremental runs (smart lists and campaigns by updatedAt, usage by
day)."""

from __future__ import annotations

import functools
import logging
import time
import typing as t

import pytest

from tap_marketo_bulk import tap as tap_module
from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.streams.rest import AssetStream
from tests.e2e.harness import (
    STREAM_KEYS,
    as_emitted,
    by_key,
    catalog_with,
    duplicates,
    run_tap,
    tap_config,
)

if t.TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox

pytestmark = pytest.mark.e2e

# Asset pages of PAGE items (maxReturn=PAGE, offset): 30 of each asset take 3 pages, 12 forms 2
# and a short last one, 8 folders 2, 5 channels 2, 3 tag types 1 full and 1 empty page.
PAGE = 4
SANDBOX: dict[str, t.Any] = {
    "seed": 19,
    "leads": 60,
    "activities": 60,
    "programs": 9,
    "members_per_program": 2,
    "forms": 12,
    "catalog_assets": 30,
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-03-31T23:59:59Z",
}
CATALOG = [
    "forms", "form_fields", "landing_pages", "email_templates", "snippets", "files", "folders",
    "smart_lists", "smart_campaigns", "channels", "tag_types", "program_tags", "program_costs",
]
STREAMS = [*CATALOG, "programs", "api_usage"]


@pytest.fixture(scope="module")
def sb() -> t.Iterator[Sandbox]:
    from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(**SANDBOX)) as sandbox:
        yield sandbox


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AssetStream, "page_size", PAGE)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Client-side waits (606: ~20 s) recorded and cut to 10 ms."""
    asked: list[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        time.sleep(min(seconds, 0.01))

    monkeypatch.setattr(tap_module, "MarketoClient", functools.partial(MarketoClient, sleep=sleep))
    return asked


def key_of(stream: str) -> t.Callable[[dict], t.Any]:
    columns = STREAM_KEYS[stream]
    return lambda row: tuple(row[c] for c in columns)


def truth(sb: Sandbox, stream: str) -> list[dict]:
    return as_emitted(stream, getattr(sb.truth, stream))


def assert_equals_truth(sb: Sandbox, records: list[dict], stream: str,
                        expected: list[dict] | None = None) -> None:
    """Same keys, and each record holds exactly the truth's values; a column the sandbox does
    not send (swagger has more) is None."""
    key = key_of(stream)
    expected = truth(sb, stream) if expected is None else expected
    assert duplicates(records, key) == [], stream
    got, want = by_key(records, key), by_key(expected, key)
    assert set(got) == set(want), stream
    for k, row in want.items():
        record = got[k]
        assert {c: record.get(c) for c in row} == row, (stream, k)
        assert all(record[c] is None for c in set(record) - set(row)), (stream, k)


@pytest.mark.usefixtures("small_pages")
def test_every_new_stream_equals_the_truth_across_several_pages(sb: Sandbox) -> None:
    for stream in ("landing_pages", "email_templates", "snippets", "files", "smart_lists",
                   "smart_campaigns", "forms", "folders", "channels"):
        assert len(truth(sb, stream)) > PAGE, stream  # more than one page each
    assert len(sb.truth.smart_campaigns) > 2 * PAGE
    assert sb.truth.form_fields and sb.truth.program_tags and sb.truth.program_costs
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_with(config, only=STREAMS))
    assert run.error is None, run.error
    for stream in STREAMS:
        assert_equals_truth(sb, run.records(stream), stream)
    # Asset datetimes come out RFC 3339, nested ones (a campaign's schedule) too.
    stamps = [r["updatedAt"] for r in run.records("smart_campaigns") + run.records("files")]
    stamps += [r["recurrence"]["startAt"] for r in run.records("smart_campaigns")
               if r["recurrence"]]
    stamps += [r["startDate"] for r in run.records("program_costs")]
    assert stamps and all(s.endswith("Z") and "+" not in s for s in stamps)
    # programs gained the browse fields; channels carry their statuses in order
    assert any(r["sfdcId"] for r in run.records("programs"))
    webinar = next(r for r in run.records("channels") if r["name"] == "Webinar")
    assert [s["name"] for s in webinar["progressionStatuses"]][:2] == ["Invited", "Registered"]


@pytest.mark.usefixtures("small_pages")
def test_606_and_602_mid_paging_lose_and_repeat_nothing(sb: Sandbox, waits: list[float]) -> None:
    sb.faults.arm_after.extend([
        ("/smartCampaigns.json", 2, "rate_limit_burst"),  # 606 on the 3rd page
        ("/landingPages.json", 1, "expire_tokens"),  # 602 on the 2nd page
        ("/fields.json", 3, "rate_limit_burst"),  # 606 on the 4th form's fields
        ("/program/1003.json", 1, "expire_tokens"),  # 602 on the next program by id
        ("/forms.json", 2, "expire_tokens"),
        ("/stats/usage/last7days.json", 1, "rate_limit_burst"),  # 606 on usage.json
    ])
    errors_before = dict(sb.client_stats()["errors"])
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_with(config, only=STREAMS))
    assert run.error is None, run.error
    for stream in STREAMS:
        assert_equals_truth(sb, run.records(stream), stream)
    errors = sb.client_stats()["errors"]
    assert errors.get("606", 0) - errors_before.get("606", 0) >= 2
    assert errors.get("602", 0) - errors_before.get("602", 0) >= 3
    assert any(w >= 20 for w in waits)  # 606: the tap waited out Marketo's 20 s window
    assert sb.faults.arm_after == []  # every fault fired


@pytest.mark.usefixtures("small_pages")
def test_smart_lists_and_campaigns_deleted_between_runs_are_left_out_of_the_next_version(
    sb: Sandbox,
) -> None:
    """Full table: every run reads them all and ends with ACTIVATE_VERSION, so the loader marks
    one deleted in Marketo since the last run (an updatedAt filter would never show it)."""
    config = tap_config(sb)
    catalog = catalog_with(config, only=["smart_lists", "smart_campaigns"])
    first = run_tap(config, catalog=catalog)
    assert first.error is None, first.error
    data = sb._data
    with data.lock:
        gone = {"smart_lists": data.smart_lists.pop(3)["id"],
                "smart_campaigns": data.smart_campaigns.pop(5)["id"]}
        data.version += 1  # the truth follows
    second = run_tap(config, state=first.final_state, catalog=catalog)
    assert second.error is None, second.error
    for stream, deleted in gone.items():
        assert deleted in {r["id"] for r in first.records(stream)}
        assert_equals_truth(sb, second.records(stream), stream)  # all of them, without it
        assert deleted not in {r["id"] for r in second.records(stream)}
        types = [m["type"] for m in second.messages if m.get("stream") == stream]
        assert types[-1] == "ACTIVATE_VERSION", stream
        versions = {m["version"] for m in second.messages
                    if m.get("stream") == stream and m["type"] in ("RECORD", "ACTIVATE_VERSION")}
        assert len(versions) == 1, stream  # the records carry the version that is activated


@pytest.mark.usefixtures("small_pages")
def test_a_form_or_program_deleted_mid_run_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(**SANDBOX)) as sandbox:
        form = sandbox.truth.forms[2]
        program = next(p for p in sandbox.truth.programs
                       if sandbox._data.program_details[p["id"]]["tags"])
        sandbox.delete_after_browse(forms=(form["id"],), programs=(program["id"],))
        config = tap_config(sandbox)
        with caplog.at_level(logging.WARNING):
            run = run_tap(config, catalog=catalog_with(
                config, only=["forms", "form_fields", "program_tags", "program_costs"]))
        assert run.error is None, run.error
        # browse still lists them; their by-id rows are gone, every other one is there
        assert form["id"] in {r["id"] for r in run.records("forms")}
        for stream in ("form_fields", "program_tags", "program_costs"):
            assert_equals_truth(sandbox, run.records(stream), stream)
        assert form["id"] not in {r["formId"] for r in run.records("form_fields")}
        assert program["id"] not in {r["programId"] for r in run.records("program_tags")}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"form {form['id']}" in w and "702" in w for w in warnings), warnings
    assert any(f"program_tags: program {program['id']}" in w for w in warnings), warnings


def test_a_second_api_usage_run_adds_only_new_days(sb: Sandbox) -> None:
    config = tap_config(sb)
    catalog = catalog_with(config, only=["api_usage"])
    first = run_tap(config, catalog=catalog)
    assert first.error is None, first.error
    assert_equals_truth(sb, first.records("api_usage"), "api_usage")
    first_days = sorted({r["date"] for r in first.records("api_usage")})
    assert len(first_days) >= 5  # 7 days, minus days without any call
    today = first_days[-1]
    assert first.final_state["bookmarks"]["api_usage"]["replication_key_value"] == today
    warehouse = by_key(first.records("api_usage"), key_of("api_usage"))

    # The same day again: only today (still partial) comes again, nothing older.
    again = run_tap(config, state=first.final_state, catalog=catalog)
    assert again.error is None, again.error
    assert {r["date"] for r in again.records("api_usage")} == {today}

    sb.advance_days(2)
    try:
        second = run_tap(config, state=first.final_state, catalog=catalog)
        assert second.error is None, second.error
        rows = second.records("api_usage")
        days = sorted({r["date"] for r in rows})
        # yesterday's partial day once more, now final, and the two new days; no older day
        assert days[0] == today and len(days) == 3, days
        assert_equals_truth(sb, rows, "api_usage",
                            expected=[r for r in sb.truth.api_usage if r["date"] >= today])
        partial = {k: v["count"] for k, v in warehouse.items() if k[0] == today}
        final = {key_of("api_usage")(r): r["count"] for r in rows if r["date"] == today}
        assert all(final[k] >= n for k, n in partial.items()) and final != partial
        warehouse.update(by_key(rows, key_of("api_usage")))
        # The warehouse now holds 9 days: the 7 of the first run and 2 new ones.
        assert len({k[0] for k in warehouse}) == len(first_days) + 2
        assert second.final_state["bookmarks"]["api_usage"]["replication_key_value"] == days[-1]
    finally:
        sb.advance_days(-2)  # the module's sandbox back to its day for the other tests


def test_the_production_page_size_reads_several_pages_of_200() -> None:
    from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig

    # 450 of each asset: 3 pages of maxReturn=200 (the Asset API's maximum, the tap's default).
    with Sandbox(SandboxConfig(**{**SANDBOX, "catalog_assets": 450, "forms": 2})) as sandbox:
        streams = ["smart_campaigns", "landing_pages"]
        config = tap_config(sandbox)
        catalog = catalog_with(config, only=streams)
        calls_before = sandbox.client_stats()["api_calls"]
        run = run_tap(config, catalog=catalog)
        assert run.error is None, run.error
        for stream in streams:
            assert len(truth(sandbox, stream)) > 2 * AssetStream.page_size == 400
            assert_equals_truth(sandbox, run.records(stream), stream)
        # 3 pages each (the third short ends paging), plus discovery's few describes
        assert sandbox.client_stats()["api_calls"] - calls_before >= 6
