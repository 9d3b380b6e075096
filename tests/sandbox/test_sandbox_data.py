"""Generated data: deterministic, nasty in the right places, consistent with the REST views."""

from __future__ import annotations

import re
import time
import typing as t
from collections import Counter

from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig
from tap_marketo_bulk.sandbox.timeutil import iso, parse_utc

from .client import MarketoHttp, window

SMALL = SandboxConfig(seed=3, leads=1500, activities=4000, programs=5, members_per_program=10)
DATA_TYPES = {"string", "text", "textarea", "email", "phone", "url", "integer", "score",
              "reference", "percent", "float", "currency", "boolean", "date", "datetime",
              "formula", "lead_function"}


def test_same_seed_same_data_other_seed_other_data() -> None:
    first, again = Sandbox(SMALL).truth, Sandbox(SMALL).truth
    assert first.leads == again.leads and first.activities == again.activities
    assert first.program_members == again.program_members
    assert first.deleted_leads == again.deleted_leads and first.programs == again.programs
    other = Sandbox(SandboxConfig(**{**SMALL.__dict__, "seed": 4})).truth
    assert other.leads != first.leads


def test_lead_describe_covers_every_data_type() -> None:
    truth = Sandbox(SMALL).truth
    assert {f["dataType"] for f in truth.lead_fields} == DATA_TYPES
    exported = {f["name"] for f in truth.lead_fields if f["dataType"] != "formula"}
    assert set(truth.leads[0]) == exported  # formula fields never reach the truth
    wide = Sandbox(SandboxConfig(leads=10, activities=10, lead_columns=30)).truth
    assert len(wide.lead_fields) >= 58


def test_lead_values_are_typed_and_tricky() -> None:
    truth = Sandbox(SMALL).truth
    types = {f["name"]: f["dataType"] for f in truth.lead_fields}
    # api-notes section 9: a reference is a string (a key to another record)
    python_types = {"integer": int, "score": int, "reference": str, "percent": float,
                    "float": float, "currency": float, "boolean": bool}
    strings: list[str] = []
    for lead in truth.leads:
        assert lead["createdAt"] <= lead["updatedAt"]
        for name, value in lead.items():
            if value is None:
                continue
            assert type(value) is python_types.get(types[name], str), (name, value)
            if isinstance(value, str):
                assert value not in ("", "null")
                strings.append(value)
    text = "".join(strings)
    for needle in (",", '"', "\n", "\r\n", "\x00", "\u2028", "\u2029", "北京", "😀"):
        assert needle in text, repr(needle)
    assert any("\r" in s and "\r\n" not in s for s in strings)  # a stray CR
    assert any(v is None for lead in truth.leads for v in lead.values())


def values_of(truth: t.Any, data_type: str) -> list[t.Any]:
    names = {f["name"] for f in truth.lead_fields if f["dataType"] == data_type}
    return [v for lead in truth.leads for k, v in lead.items() if k in names and v is not None]


def test_every_data_type_holds_values_a_wrong_mapping_would_break() -> None:
    truth = Sandbox(SandboxConfig(seed=3, leads=3000, activities=10, lead_columns=15)).truth
    references = set(values_of(truth, "reference"))
    salesforce_18 = {r for r in references if re.fullmatch(r"[0-9A-Za-z]{18}", r)
                     and r[:3] in {"001", "003", "005", "006", "00Q", "701"}
                     and any(c.islower() for c in r) and any(c.isupper() for c in r)}
    digits = {r for r in references if r.isdigit() and r.startswith("0")}
    assert len(salesforce_18) > len(references) / 2 and digits  # mostly SFDC ids, some 00...
    assert {"0015000000aBcDeAAA", "001656783185136518"} <= references
    assert any(len(r) == 15 for r in references)
    assert any(v != int(v) for v in values_of(truth, "percent"))  # decimals in percent
    assert any(v != int(v) for v in values_of(truth, "currency"))
    for data_type in ("string", "text", "textarea"):
        assert "02134" in values_of(truth, data_type), data_type  # a zip code stays text
    longest = max(len(v.encode()) for v in values_of(truth, "textarea"))
    assert 25_000 < longest <= 30_000  # textarea: up to 30,000 bytes
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) for v in values_of(truth, "date"))
    datetimes = values_of(truth, "datetime")
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", v) for v in datetimes)
    assert {type(v) for v in values_of(truth, "score")} == {int}
    assert {type(v) for v in values_of(truth, "boolean")} == {bool}
    # activity attributes carry the same dataTypes, with native JSON types
    attribute_types = {a["name"]: a["dataType"] for t_ in truth.activity_types
                       for a in t_.get("attributes") or []}
    assert {"reference", "percent", "datetime", "date"} <= set(attribute_types.values())


def test_records_sit_on_window_edges_midnights_and_leave_a_quiet_window() -> None:
    truth = Sandbox(SMALL).truth
    start = parse_utc("2023-01-01T00:00:00Z")
    created = Counter(parse_utc(lead["createdAt"]) for lead in truth.leads)
    edges = [start + k * 31 * 86400 for k in range(1, 23)]
    for offset in (-1, 0, 1):
        assert sum(created[edge + offset] for edge in edges) > 0, offset
    assert created[start] > 0
    assert sum(n for t, n in created.items() if t % 86400 == 0) > 1
    windows = Counter((t - start) // (31 * 86400) for t in created.elements())
    assert any(windows[k] == 0 for k in range(23))
    months = Counter(lead["createdAt"][:7] for lead in truth.leads)
    assert len(months) < 24  # some months hold nothing at all
    assert max(months.values()) > 3 * min(months.values())  # and some are bursts


def test_activities_and_types() -> None:
    truth = Sandbox(SMALL).truth
    types = {t["id"]: t for t in truth.activity_types}
    assert {1, 2, 12, 13, 37, 104} <= set(types)
    assert any("primaryAttribute" not in t for t in types.values())
    assert any(not t.get("attributes") for t in types.values())
    assert any("apiName" in t for t in types.values())
    seen = Counter(a["activityTypeId"] for a in truth.activities)
    assert 37 not in seen and len(seen) >= 8
    assert any(a["campaignId"] is None for a in truth.activities)
    assert {a["actionResult"] for a in truth.activities} == {"succeeded", "skipped", "failed"}
    values = [v for a in truth.activities if a["attributes"] for v in a["attributes"].values()]
    assert {type(v) for v in values} >= {int, bool, str, float}
    dates = [a["activityDate"] for a in truth.activities]
    assert dates == sorted(dates)


def test_rest_reference_endpoints(api: MarketoHttp, sb: Sandbox) -> None:
    folders = api.get("/rest/asset/v1/folders.json", maxDepth=1)["result"]
    oldest = min(parse_utc(f["createdAt"].removesuffix("+0000")) for f in folders)
    assert iso(oldest) == sb.config.data_start == sb.truth.instance_birth
    assert folders[0]["createdAt"].endswith("Z+0000")
    programs = api.get("/rest/asset/v1/programs.json", maxReturn=200, offset=0)
    assert len(programs["result"]) == len(sb.truth.programs)
    past_end = api.get("/rest/asset/v1/programs.json", maxReturn=200, offset=200)
    assert past_end["success"] and "result" not in past_end
    assert past_end["warnings"] == ["No assets found for the given search criteria."]
    assert api.get("/rest/asset/v1/programs.json", maxReturn=201)["errors"][0]["code"] == "1003"
    program = programs["result"][0]
    assert set(program) >= {"id", "name", "description", "createdAt", "updatedAt", "url", "type",
                            "channel", "folder", "status", "workspace"}
    assert sb.truth.programs[0]["createdAt"] == program["createdAt"].removesuffix("+0000")
    members = api.get("/rest/v1/programs/members/describe.json")["result"][0]
    assert members["dedupeFields"] == ["leadId", "programId"]
    types = api.get("/rest/v1/activities/types.json")["result"]
    assert types == sb.truth.activity_types
    lists = api.get("/rest/v1/lists.json")["result"]
    assert [x["id"] for x in lists] == [x["id"] for x in sb.truth.static_lists]


def test_deleted_leads_paging(api: MarketoHttp, sb: Sandbox) -> None:
    token = api.get("/rest/v1/activities/pagingtoken.json",
                    sinceDatetime="2022-12-01T00:00:00Z")["nextPageToken"]
    collected, short_pages_with_more = [], 0
    while True:
        page = api.get("/rest/v1/activities/deletedleads.json", nextPageToken=token, batchSize=9)
        collected += page.get("result", [])
        if page["moreResult"] and len(page.get("result", [])) < 9:
            short_pages_with_more += 1
        if not page["moreResult"]:
            break
        token = page["nextPageToken"]
    assert collected == sb.truth.deleted_leads and short_pages_with_more >= 2
    lead_ids = {lead["id"] for lead in sb.truth.leads}
    assert all(d["activityTypeId"] == 37 and d["leadId"] not in lead_ids for d in collected)


def test_static_list_export_matches_membership(api: MarketoHttp, sb: Sandbox) -> None:
    static = sb.truth.static_lists[0]
    job, _ = api.export("leads", {"fields": ["id"], "filter": {"staticListName": static["name"]}})
    assert job["numberOfRecords"] == len(static["leadIds"])


def test_mutate_adds_records_after_existing_data(api: MarketoHttp, sb: Sandbox) -> None:
    before = {lead["id"]: lead for lead in sb.truth.leads}
    activities_before = len(sb.truth.activities)
    api.export("leads", {"fields": ["id"], "filter": {
        "createdAt": window("2023-01-01T00:00:00Z", "2023-01-31T23:59:59Z")}})
    first_run_end = int(time.time())
    changed = sb.mutate(new_leads=5, updated_leads=7, new_activities=11, updated_members=3)
    now = int(time.time())
    leads = {lead["id"]: lead for lead in sb.truth.leads}
    assert len(leads) == len(before) + 5 and len(sb.truth.activities) == activities_before + 11
    for lead_id in changed["new_lead_ids"] + changed["updated_lead_ids"]:
        assert first_run_end < parse_utc(leads[lead_id]["updatedAt"]) <= now
    assert all(leads[i]["createdAt"] == before[i]["createdAt"] for i in changed["updated_lead_ids"])
    span = window(iso(first_run_end), iso(now))
    job, _ = api.export("leads", {"fields": ["id"], "filter": {"updatedAt": span}})
    assert job["numberOfRecords"] == 12
    job, _ = api.export("activities", {"filter": {"createdAt": span}})
    assert job["numberOfRecords"] == 11
