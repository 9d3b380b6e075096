"""The asset catalogue and Usage API endpoints: paging, filters, by-id misses, the usage clock."""

from __future__ import annotations

from tap_marketo_bulk.sandbox import Sandbox

from .client import MarketoHttp, error_code

NO_ASSETS = "No assets found for the given search criteria."


def test_browse_pages_by_offset_and_ends_with_no_assets(api: MarketoHttp, sb: Sandbox) -> None:
    total = len(sb.truth.files)
    seen = []
    offset = 0
    while True:
        answer = api.get("/rest/asset/v1/files.json", maxReturn=7, offset=offset)
        if "result" not in answer:
            assert answer["warnings"] == [NO_ASSETS]
            break
        assert len(answer["result"]) <= 7
        seen += [f["id"] for f in answer["result"]]
        offset += 7
    assert seen == [f["id"] for f in sb.truth.files] and len(seen) == total
    assert error_code(api.get("/rest/asset/v1/files.json", maxReturn=201)) == "1003"


def test_smart_lists_and_campaigns_filter_on_updated_at(api: MarketoHttp, sb: Sandbox) -> None:
    for path, table in (("smartLists.json", sb.truth.smart_lists),
                        ("smartCampaigns.json", sb.truth.smart_campaigns)):
        middle = sorted(r["updatedAt"] for r in table)[len(table) // 2]
        answer = api.get(f"/rest/asset/v1/{path}",
                         earliestUpdatedAt=middle, maxReturn=200)
        assert {r["id"] for r in answer["result"]} == {
            r["id"] for r in table if r["updatedAt"] >= middle}


def test_by_id_calls_miss_deleted_forms_and_programs(api: MarketoHttp, sb: Sandbox) -> None:
    form_id, program_id = sb.truth.forms[0]["id"], sb.truth.programs[0]["id"]
    assert api.get(f"/rest/asset/v1/form/{form_id}/fields.json")["result"]
    assert api.get(f"/rest/asset/v1/program/{program_id}.json")["result"][0]["id"] == program_id
    sb.delete_after_browse(forms=(form_id,), programs=(program_id,))
    assert error_code(api.get(f"/rest/asset/v1/form/{form_id}/fields.json")) == "702"
    assert api.get(f"/rest/asset/v1/program/{program_id}.json")["warnings"] == [NO_ASSETS]
    assert form_id not in {r["formId"] for r in sb.truth.form_fields}


def test_usage_days_advance_and_today_is_partial(api: MarketoHttp, sb: Sandbox) -> None:
    before = api.get("/rest/v1/stats/usage/last7days.json")["result"]
    assert len(before) == 7 and before[0]["date"] > before[-1]["date"]
    sb.advance_days(1)
    after = api.get("/rest/v1/stats/usage/last7days.json")["result"]
    assert after[1]["date"] == before[0]["date"]
    # yesterday's counts are final now: twice what they were while it was today
    old = {u["userId"]: u["count"] for u in before[0]["users"]}
    new = {u["userId"]: u["count"] for u in after[1]["users"]}
    assert set(old) <= set(new) and all(new[u] in (2 * n, 2 * n + 1) for u, n in old.items())
    assert after[1:] == [after[1], *before[1:6]]
