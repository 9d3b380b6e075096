"""Campaigns, static lists and their members, emails, segmentations, segments and program tokens
against the sandbox's ground truth, paged across several pages, and through faults mid-paging."""

from __future__ import annotations

import functools
import time
import typing as t
from collections.abc import Callable

import pytest

from tap_marketo_bulk import tap as tap_module
from tap_marketo_bulk.api.client import MarketoClient
from tests.e2e.harness import as_emitted, by_key, catalog_with, duplicates, run_tap, tap_config

if t.TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox

pytestmark = pytest.mark.e2e

# Page sizes the sandbox enforces like Marketo: batchSize <= 300, maxReturn <= 200. So 700
# campaigns take 3 Lead Database pages and 450 emails 3 Asset pages; the "Large list" (650
# members) takes 3 pages of list members. The tap keeps under 100 calls per 20 s, and lists and
# segmentations cost one call each in list_members and segments: their own paging across
# pages (620 lists, 210 segmentations) is read in a second sandbox, by those two streams alone.
SANDBOX: dict[str, t.Any] = {
    "seed": 13,
    "leads": 900,
    "activities": 100,
    "programs": 7,
    "members_per_program": 5,
    "static_lists": 3,
    "campaigns": 700,
    "emails": 450,
    "segmentations": 4,
    "large_static_list": 650,
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-02-29T23:59:59Z",
}
MANY_LISTS = {**SANDBOX, "leads": 300, "static_lists": 620, "segmentations": 210}
KEYS: dict[str, Callable[[dict], t.Any]] = {
    "campaigns": lambda r: r["id"],
    "lists": lambda r: r["id"],
    "list_members": lambda r: (r["listId"], r["leadId"]),
    "emails": lambda r: r["id"],
    "segmentations": lambda r: r["id"],
    "segments": lambda r: r["id"],
    "program_tokens": lambda r: (r["programId"], r["name"]),
}
STREAMS = list(KEYS)


@pytest.fixture(scope="module")
def sb() -> t.Iterator[Sandbox]:
    from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(**SANDBOX)) as sandbox:
        yield sandbox


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Client-side waits (606: ~20 s, 5xx backoff) recorded and cut to 10 ms."""
    asked: list[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        time.sleep(min(seconds, 0.01))

    monkeypatch.setattr(tap_module, "MarketoClient", functools.partial(MarketoClient, sleep=sleep))
    return asked


@pytest.fixture(scope="module")
def many_lists() -> t.Iterator[Sandbox]:
    from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(**MANY_LISTS)) as sandbox:
        yield sandbox


def truth(sb: Sandbox, stream: str) -> list[dict]:
    return as_emitted(stream, getattr(sb.truth, stream))


def assert_equals_truth(sb: Sandbox, records: list[dict], stream: str) -> None:
    key = KEYS[stream]
    assert duplicates(records, key) == [], stream
    assert len(records) == len(truth(sb, stream)), stream
    assert by_key(records, key) == by_key(truth(sb, stream), key), stream


def lists_by_name(sb: Sandbox) -> dict[str, dict]:
    return {s["name"]: s for s in sb.truth.static_lists}


def test_every_new_stream_equals_the_truth_across_several_pages(sb: Sandbox) -> None:
    # The data really spans several pages of the sizes Marketo allows.
    assert len(sb.truth.campaigns) > 2 * 300 and len(sb.truth.emails) > 2 * 200
    assert len(lists_by_name(sb)["Large list"]["leadIds"]) > 2 * 300
    config = tap_config(sb)
    jobs_before = len(sb.stats["jobs"])
    run = run_tap(config, catalog=catalog_with(config, only=STREAMS))
    assert run.error is None, run.error
    for stream in STREAMS:
        assert_equals_truth(sb, run.records(stream), stream)
    # Asset datetimes come out RFC 3339, like programs'.
    assert all(
        r["updatedAt"].endswith("Z") and "+" not in r["updatedAt"]
        for r in run.records("emails") + run.records("segments")
    )
    # No list is over the default REST page limit (50): membership costs no export job.
    assert len(sb.stats["jobs"]) == jobs_before


def test_lists_and_segmentations_are_paged_across_several_pages(many_lists: Sandbox) -> None:
    sb = many_lists
    assert len(sb.truth.lists) > 2 * 300 and len(sb.truth.segmentations) > 200
    config = tap_config(sb)
    calls_before = sb.client_stats()["api_calls"]
    run = run_tap(config, catalog=catalog_with(config, only=["lists", "segmentations"]))
    assert run.error is None, run.error
    for stream in ("lists", "segmentations"):
        assert_equals_truth(sb, run.records(stream), stream)
    # 3 pages of lists, 2 of segmentations (and the catalog's describes before them).
    assert sb.client_stats()["api_calls"] - calls_before >= 5


def test_list_membership_is_exact_for_empty_small_and_multi_page_lists(sb: Sandbox) -> None:
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_with(config, only=["list_members"]))
    assert run.error is None, run.error
    records = run.records("list_members")
    named = lists_by_name(sb)
    small = min((s for s in sb.truth.static_lists if s["leadIds"]), key=lambda s: len(s["leadIds"]))
    for static in (named["Empty list"], small, named["Large list"]):
        got = [r for r in records if r["listId"] == static["id"]]
        expected = sb.truth.static_list_members(static["id"])
        assert sorted(r["leadId"] for r in got) == static["leadIds"]
        assert by_key(got, KEYS["list_members"]) == by_key(expected, KEYS["list_members"])
    assert named["Empty list"]["leadIds"] == []
    assert 0 < len(small["leadIds"]) <= 300 < len(named["Large list"]["leadIds"])


def test_a_list_over_the_rest_page_limit_is_exported_by_one_bulk_job(sb: Sandbox) -> None:
    config = tap_config(sb, list_members_rest_page_limit=2)
    large = lists_by_name(sb)["Large list"]
    jobs_before = len(sb.stats["jobs"])
    run = run_tap(config, catalog=catalog_with(config, only=["list_members"]))
    assert run.error is None, run.error
    assert_equals_truth(sb, run.records("list_members"), "list_members")
    jobs = [j for j in sb.stats["jobs"][jobs_before:] if j["object"] == "leads"]
    # Only the list needing 3 pages went to bulk; lists of up to 600 members stayed on REST.
    assert [j["filter"] for j in jobs] == [{"staticListId": large["id"]}]
    assert jobs[0]["status"] == "Completed" and jobs[0]["records"] == len(large["leadIds"])


def test_emails_are_full_table_every_run_ending_with_activate_version(sb: Sandbox) -> None:
    config = tap_config(sb)
    catalog = catalog_with(config, only=["emails"])
    first = run_tap(config, catalog=catalog)
    assert first.error is None, first.error
    assert_equals_truth(sb, first.records("emails"), "emails")
    # A deleted email shows only as missing from the next full read: every run reads them all.
    second = run_tap(config, state=first.final_state, catalog=catalog)
    assert second.error is None, second.error
    assert_equals_truth(sb, second.records("emails"), "emails")
    for run in (first, second):
        ours = [m for m in run.messages if m.get("stream") == "emails" and m["type"] != "STATE"]
        assert ours[-1]["type"] == "ACTIVATE_VERSION"
        assert {m["version"] for m in ours[1:]} == {ours[-1]["version"]}



def test_paging_survives_606_502_and_an_expired_token_mid_pagination(
    sb: Sandbox, waits: list[float]
) -> None:
    config = tap_config(sb, list_members_rest_page_limit=50)
    large = lists_by_name(sb)["Large list"]
    before = dict(sb.client_stats()["errors"])
    token_requests = sb.stats["token_requests"]
    sb.faults.arm_after = [
        ("/rest/v1/campaigns.json", 1, "rate_limit_burst"),  # 606 on page 2
        ("/rest/asset/v1/emails.json", 2, "expire_tokens"),  # 602 on page 3
        (f"/rest/v1/lists/{large['id']}/leads.json", 1, "expire_tokens"),  # 602 on page 2
        (f"/rest/v1/lists/{large['id']}/leads.json", 2, "rate_limit_burst"),  # 606 on page 3
        ("/rest/asset/v1/emails.json", 1, "http_502"),  # HTTP 502 on page 2
    ]
    try:
        run = run_tap(config, catalog=catalog_with(config, only=STREAMS))
    finally:
        armed, sb.faults.arm_after = list(sb.faults.arm_after), []
    assert run.error is None, run.error
    assert armed == []  # every fault was armed ...
    assert sb.faults.rate_limit_burst == 0 and sb.faults.http_502 == 0  # ... and consumed
    errors = sb.client_stats()["errors"]
    assert errors.get("606", 0) - before.get("606", 0) == 2  # ... and answered
    assert errors.get("602", 0) - before.get("602", 0) == 2
    assert sb.stats["token_requests"] > token_requests  # the tap signed in again
    assert any(w >= 20 for w in waits)  # the 606s waited out Marketo's 20 s window
    for stream in STREAMS:
        assert_equals_truth(sb, run.records(stream), stream)
