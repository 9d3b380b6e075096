"""The sandbox's day 2 (changes.py): deletions, merges and removals, via the API and the truth."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from tap_marketo_bulk.sandbox import ChangeScenario, Sandbox

from .client import MarketoHttp

DAY2 = ("2025-01-02T00:00:00Z", "2025-01-02T23:59:59Z")


def activity_pages(api: MarketoHttp, since: str, type_ids: str, batch: int) -> list[dict]:
    token = api.get("/rest/v1/activities/pagingtoken.json", sinceDatetime=since)["nextPageToken"]
    collected: list[dict] = []
    while True:
        page = api.get("/rest/v1/activities.json", nextPageToken=token,
                       activityTypeIds=type_ids, batchSize=batch)
        assert page["success"], page
        collected += page.get("result") or []
        if not page["moreResult"]:
            return collected
        token = page["nextPageToken"]


@pytest.fixture
def day2(sb: Sandbox) -> tuple[Sandbox, dict[str, Any], Any]:
    truth = sb.truth
    before = {
        "leads": {lead["id"]: lead for lead in truth.leads},
        "activities": list(truth.activities),
        "members": list(truth.program_members),
        "list_members": list(truth.list_members),
        "custom": {name: list(rows) for name, rows in truth.custom_objects.items()},
        "deleted": len(truth.deleted_leads),
        "campaigns": len(truth.campaigns),
        "emails": len(truth.emails),
        "tokens": len(truth.program_tokens),
        "merged": list(truth.merged_leads),
    }
    log = sb.apply_day2_changes(ChangeScenario(), between=DAY2)
    return sb, before, log


def test_deleted_people_lose_everything_and_are_listed(day2: Any, api: MarketoHttp) -> None:
    sb, before, log = day2
    truth = sb.truth
    gone = set(log.deleted_lead_ids)
    assert len(gone) == 20
    assert not gone & {lead["id"] for lead in truth.leads}
    assert not gone & {a["leadId"] for a in truth.activities}
    assert not gone & {m["leadId"] for m in truth.program_members}
    assert not gone & {m["leadId"] for m in truth.list_members}
    for rows in truth.custom_objects.values():
        assert not gone & {row.get("leadID") for row in rows}
    # They had history to lose, and the Delete Lead entries are served, in the day-2 window.
    assert any(a["leadId"] in gone for a in before["activities"])
    entries = truth.deleted_leads[before["deleted"]:]
    assert sorted(e["leadId"] for e in entries) == sorted(gone)
    assert all(DAY2[0] <= e["activityDate"] <= DAY2[1] for e in entries)
    token = api.get("/rest/v1/activities/pagingtoken.json", sinceDatetime=DAY2[0])["nextPageToken"]
    served: list[dict] = []
    while True:
        page = api.get("/rest/v1/activities/deletedleads.json", nextPageToken=token)
        served += page.get("result") or []
        if not page["moreResult"]:
            break
        token = page["nextPageToken"]
    assert served == entries


def test_merges_move_history_and_memberships_to_the_winner(day2: Any) -> None:
    sb, before, log = day2
    truth = sb.truth
    assert len(log.merges) == 10
    leads = {lead["id"]: lead for lead in truth.leads}
    losers = {loser for _, loser, _ in log.merges}
    assert not losers & set(leads)
    activities = {a["marketoGUID"]: a for a in truth.activities}
    moved = 0
    for winner, loser, merged_at in log.merges:
        assert leads[winner]["updatedAt"] == merged_at
        # Field values: the winner's non-empty ones stay, the loser fills the empty ones.
        old_winner, old_loser = before["leads"][winner], before["leads"][loser]
        for name, value in leads[winner].items():
            if name in ("id", "createdAt", "updatedAt"):
                continue
            empty = old_winner[name] in (None, "")
            assert value == (old_loser[name] if empty else old_winner[name]), (winner, name)
        for activity in before["activities"]:
            if activity["leadId"] == loser:
                assert activities[activity["marketoGUID"]]["leadId"] == winner
                moved += 1
        for member in before["members"]:
            if member["leadId"] == loser:
                now = {m["programId"]: m for m in truth.program_members if m["leadId"] == winner}
                assert member["programId"] in now
        for rows in before["custom"].values():
            for row in rows:
                if row.get("leadID") == loser:
                    current = {r["marketoGUID"]: r for rows2 in truth.custom_objects.values()
                               for r in rows2}
                    if row["marketoGUID"] in current:  # unless deleted by the removals
                        assert current[row["marketoGUID"]]["leadID"] == winner
                        assert current[row["marketoGUID"]]["updatedAt"] == merged_at
    assert moved > 0
    day2_rows = [r for r in truth.merged_leads if r["mergedAt"] >= DAY2[0]]
    assert day2_rows == sorted(
        ({"leadId": w, "mergedLeadId": lo, "mergedAt": at} for w, lo, at in log.merges),
        key=lambda r: r["mergedLeadId"],
    )


def test_merge_activity_is_served_with_its_attributes(day2: Any, api: MarketoHttp) -> None:
    sb, _, log = day2
    served = activity_pages(api, DAY2[0], "32", batch=3)
    assert len(served) == len(log.merges)
    for activity, (winner, loser, merged_at) in zip(served, log.merges, strict=True):
        assert activity["activityTypeId"] == 32
        assert (activity["leadId"], activity["activityDate"]) == (winner, merged_at)
        attributes = {a["name"]: a["value"] for a in activity["attributes"]}
        assert json.loads(attributes["Merge IDs"]) == [loser]
        assert {"Merge Source", "Master Updated", "Merged in Sales"} <= set(attributes)
    # The same endpoint serves any type, in activityDate order, from the token's date.
    visits = activity_pages(api, "2024-06-01T00:00:00Z", "1,6", batch=50)
    expected = [a for a in sb.truth.activities
                if a["activityTypeId"] in (1, 6) and a["activityDate"] >= "2024-06-01T00:00:00Z"]
    assert [v["marketoGUID"] for v in visits] == [a["marketoGUID"] for a in expected]


def test_generated_merges_name_leads_that_are_gone(sb: Sandbox, api: MarketoHttp) -> None:
    """Day 1's Merge Leads activities (drawn among the other types) each name a lead merged away
    then: never a lead of the database, never a deleted one."""
    truth = sb.truth
    merges = [a for a in truth.activities if a["activityTypeId"] == 32]
    assert merges and len(truth.merged_leads) == len(merges)
    live = {lead["id"] for lead in truth.leads}
    deleted = {d["leadId"] for d in truth.deleted_leads}
    merged = {r["mergedLeadId"] for r in truth.merged_leads}
    assert not merged & live and not merged & deleted
    assert {r["leadId"] for r in truth.merged_leads} <= live | deleted
    served = activity_pages(api, "2000-01-01T00:00:00Z", "32", batch=300)
    assert [a["marketoGUID"] for a in served] == [a["marketoGUID"] for a in merges]
    new = sb.mutate(new_leads=3, new_activities=400)
    assert not set(new["new_lead_ids"]) & merged  # ids are never reused
    assert len(sb.truth.merged_leads) == sum(
        1 for a in sb.truth.activities if a["activityTypeId"] == 32)


def test_activities_endpoint_requires_its_parameters(api: MarketoHttp) -> None:
    token = api.get("/rest/v1/activities/pagingtoken.json",
                    sinceDatetime="2024-01-01T00:00:00Z")["nextPageToken"]
    missing = api.get("/rest/v1/activities.json", nextPageToken=token)
    assert not missing["success"] and missing["errors"][0]["code"] == "1002"
    too_many = api.get("/rest/v1/activities.json", nextPageToken=token,
                       activityTypeIds=",".join(str(i) for i in range(1, 12)))
    assert not too_many["success"] and too_many["errors"][0]["code"] == "1003"


def test_removals_and_counts(day2: Any) -> None:
    sb, before, log = day2
    truth = sb.truth
    assert len(log.removed_list_members) == 30
    current_lists = {(m["listId"], m["leadId"]) for m in truth.list_members}
    assert not set(log.removed_list_members) & current_lists
    assert len(log.removed_program_members) == 15
    members = {(m["leadId"], m["programId"]) for m in truth.program_members}
    assert not set(log.removed_program_members) & members
    for name, guids in log.deleted_custom_objects.items():
        assert len(guids) == 10
        assert not set(guids) & {r["marketoGUID"] for r in truth.custom_objects[name]}
    assert "companyAsset_c" not in log.deleted_custom_objects  # not lead-linked
    assert len(truth.campaigns) == before["campaigns"] - 1
    assert log.removed_campaign_ids[0] not in {c["id"] for c in truth.campaigns}
    assert len(truth.emails) == before["emails"] - 1
    assert len(truth.program_tokens) == before["tokens"] - 1
    program_id, token_name = log.removed_program_tokens[0]
    assert (program_id, token_name) not in {(t["programId"], t["name"])
                                            for t in truth.program_tokens}
    # A deleted winner's history goes, its Merge Leads activities with it.
    kept = [r for r in before["merged"] if r["leadId"] not in set(log.deleted_lead_ids)]
    assert truth.counts()["merged_leads"] == len(kept) + 10


def test_day2_by_the_clock_lands_after_the_data(sb: Sandbox) -> None:
    latest = max(a["activityDate"] for a in sb.truth.activities)
    sb.advance_clock(86_400)
    log = sb.apply_day2_changes(ChangeScenario(deleted_leads=1, merges=1, list_removals=0,
                                               program_removals=0, custom_object_deletions=0))
    assert latest < log.merges[0][2]
    assert sb.truth.deleted_leads[-1]["activityDate"] > latest
    with pytest.raises(ValueError):
        sb.advance_clock(-1)


def test_exports_after_day2_match_the_truth(day2: Any, api: MarketoHttp) -> None:
    sb, _, _ = day2
    _, content = api.export("leads", {
        "fields": ["id", "updatedAt", "email"],
        "filter": {"updatedAt": {"startAt": DAY2[0], "endAt": DAY2[1]}},
    })
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
    expected = {lead["id"]: lead for lead in sb.truth.leads
                if DAY2[0] <= lead["updatedAt"] <= DAY2[1]}
    assert len(expected) >= 10  # the winners
    assert {int(r["id"]) for r in rows} == set(expected)
    for row in rows:
        assert (row["email"] or None) == expected[int(row["id"])]["email"]
