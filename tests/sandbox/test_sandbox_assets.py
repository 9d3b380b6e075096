"""Campaigns, list members, emails, segmentations, tokens: paging and answers as documented."""

from __future__ import annotations

from tap_marketo_bulk.sandbox import Sandbox

from .client import MarketoHttp, error_code

NO_ASSETS = "No assets found for the given search criteria."


def test_lead_database_pages_hold_batch_size_and_carry_a_token_while_more_remain(
    api: MarketoHttp, sb: Sandbox
) -> None:
    first = api.get("/rest/v1/campaigns.json", batchSize=7)
    assert [c["id"] for c in first["result"]] == [c["id"] for c in sb.truth.campaigns[:7]]
    ids, page = [], first
    while True:
        ids += [c["id"] for c in page["result"]]
        if "nextPageToken" not in page:
            break
        page = api.get("/rest/v1/campaigns.json", batchSize=7, nextPageToken=page["nextPageToken"])
    assert ids == [c["id"] for c in sb.truth.campaigns]
    assert error_code(api.get("/rest/v1/campaigns.json", batchSize=301)) == "1003"


def test_list_members_default_fields_paging_and_unknown_list(api: MarketoHttp, sb: Sandbox) -> None:
    large = next(s for s in sb.truth.static_lists if s["name"] == "Large list")
    page = api.get(f"/rest/v1/lists/{large['id']}/leads.json")
    assert len(page["result"]) == 300 and "nextPageToken" in page
    assert set(page["result"][0]) == {
        "id",
        "email",
        "firstName",
        "lastName",
        "createdAt",
        "updatedAt",
    }
    rest = api.get(
        f"/rest/v1/lists/{large['id']}/leads.json", fields="id", nextPageToken=page["nextPageToken"]
    )
    assert set(rest["result"][0]) == {"id"}
    empty = next(s for s in sb.truth.static_lists if s["name"] == "Empty list")
    assert api.get(f"/rest/v1/lists/{empty['id']}/leads.json")["result"] == []
    assert error_code(api.get("/rest/v1/lists/999999/leads.json")) == "1013"
    unknown_field = api.get(f"/rest/v1/lists/{large['id']}/leads.json", fields="id,nope")
    assert error_code(unknown_field) == "1006"


def test_asset_paging_ends_with_no_assets_and_caps_max_return(
    api: MarketoHttp, sb: Sandbox
) -> None:
    default = api.get("/rest/asset/v1/emails.json")
    assert len(default["result"]) == 20  # Marketo's default maxReturn
    end = api.get("/rest/asset/v1/emails.json", maxReturn=200, offset=len(sb.truth.emails))
    assert end["success"] is True and "result" not in end and end["warnings"] == [NO_ASSETS]
    assert error_code(api.get("/rest/asset/v1/emails.json", maxReturn=201)) == "1003"
    assert api.get("/rest/asset/v1/emails.json", maxReturn=200)["result"][0]["updatedAt"].endswith(
        "Z+0000"
    )


def test_emails_filter_on_updated_at_and_status(api: MarketoHttp, sb: Sandbox) -> None:
    middle = sorted(e["updatedAt"] for e in sb.truth.emails)[len(sb.truth.emails) // 2]
    newer = api.get("/rest/asset/v1/emails.json", maxReturn=200, earliestUpdatedAt=middle)
    expected = [e["id"] for e in sb.truth.emails if e["updatedAt"] >= middle]
    assert [e["id"] for e in newer["result"]] == expected
    drafts = api.get("/rest/asset/v1/emails.json", maxReturn=200, status="draft")
    assert {e["status"] for e in drafts["result"]} == {"draft"}


def test_segments_belong_to_their_segmentation_and_end_with_default(api: MarketoHttp) -> None:
    segmentations = api.get("/rest/asset/v1/segmentation.json", maxReturn=200)["result"]
    assert segmentations
    for segmentation in segmentations:
        path = f"/rest/asset/v1/segmentation/{segmentation['id']}/segments.json"
        segments = api.get(path, maxReturn=200)["result"]
        assert {s["segmentationId"] for s in segments} == {segmentation["id"]}
        assert segments[-1]["name"] == "Default"


def test_program_tokens_by_folder_id(api: MarketoHttp, sb: Sandbox) -> None:
    program = next(
        p
        for p in sb.truth.programs
        if any(t["programId"] == p["id"] for t in sb.truth.program_tokens)
    )
    answer = api.get(f"/rest/asset/v1/folder/{program['id']}/tokens.json", folderType="Program")
    assert answer["result"][0]["folder"] == {"type": "Program", "value": program["id"]}
    names = [t["name"] for t in answer["result"][0]["tokens"]]
    assert names == [t["name"] for t in sb.truth.program_tokens if t["programId"] == program["id"]]
    assert error_code(api.get(f"/rest/asset/v1/folder/{program['id']}/tokens.json")) == "1003"
    # A program id that names no program (e.g. deleted since programs.json listed it): 702.
    unknown = api.get("/rest/asset/v1/folder/1/tokens.json", folderType="Program")
    assert error_code(unknown) == "702"


def test_a_fault_armed_after_a_call_hits_the_next_one(api: MarketoHttp, sb: Sandbox) -> None:
    sb.faults.arm_after = [("/rest/v1/campaigns.json", 2, "rate_limit_burst")]
    assert api.get("/rest/v1/campaigns.json")["success"] is True
    assert api.get("/rest/v1/lists.json")["success"] is True  # another path: not counted
    assert sb.faults.arm_after == [("/rest/v1/campaigns.json", 1, "rate_limit_burst")]
    assert api.get("/rest/v1/campaigns.json")["success"] is True
    assert error_code(api.get("/rest/v1/campaigns.json")) == "606"
    assert api.get("/rest/v1/campaigns.json")["success"] is True
    sb.faults.arm_after = [("/rest/asset/v1/emails.json", 1, "expire_tokens")]
    api.get("/rest/asset/v1/emails.json")
    assert error_code(api.get("/rest/asset/v1/emails.json")) == "602"
