"""The mid-run disappearance switches: the listing still names the item, then it is gone."""

from __future__ import annotations

from tap_marketo_bulk.sandbox import Sandbox

from .client import MarketoHttp, error_code


def test_a_program_is_deleted_right_after_programs_json_lists_it(
    api: MarketoHttp, sb: Sandbox
) -> None:
    program_id = next(t["programId"] for t in sb.truth.program_tokens)
    members_before = len(sb.truth.program_members)
    own_members = [m for m in sb.truth.program_members if m["programId"] == program_id]
    tokens_path = f"/rest/asset/v1/folder/{program_id}/tokens.json"
    assert api.get(tokens_path, folderType="Program")["success"] is True
    sb.faults.delete_program_after_listing = program_id

    listed = api.get("/rest/asset/v1/programs.json", maxReturn=200)

    assert program_id in [p["id"] for p in listed["result"]]
    assert sb.faults.delete_program_after_listing is None  # fired once
    assert error_code(api.get(tokens_path, folderType="Program")) == "702"
    assert program_id not in [p["id"] for p in sb.truth.programs]
    assert program_id not in {t["programId"] for t in sb.truth.program_tokens}
    assert len(sb.truth.program_members) == members_before - len(own_members)
    # The next listing no longer names it.
    again = api.get("/rest/asset/v1/programs.json", maxReturn=200)
    assert program_id not in [p["id"] for p in again["result"]]


def test_a_static_list_is_deleted_right_after_lists_json_lists_it(
    api: MarketoHttp, sb: Sandbox
) -> None:
    static = next(s for s in sb.truth.static_lists if s["leadIds"])
    sb.faults.delete_list_after_listing = static["id"]

    listed = api.get("/rest/v1/lists.json")

    assert static["id"] in [s["id"] for s in listed["result"]]
    assert error_code(api.get(f"/rest/v1/lists/{static['id']}/leads.json")) == "1013"
    assert static["id"] not in {m["listId"] for m in sb.truth.list_members}
    assert sb.faults.delete_list_after_listing is None
