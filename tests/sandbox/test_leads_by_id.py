"""Get Leads by Filter Type (/rest/v1/leads.json) on the sandbox: filterType=id only."""

from __future__ import annotations

from tap_marketo_bulk.sandbox import Sandbox

from .client import MarketoHttp, error_code

PATH = "/rest/v1/leads.json"


def ids_param(ids: list[int]) -> str:
    return ",".join(str(i) for i in ids)


def test_found_ids_come_back_with_the_fields_asked_for(api: MarketoHttp, sb: Sandbox) -> None:
    leads = {lead["id"]: lead for lead in sb.truth.leads}
    asked = sorted(leads)[:3] + sorted(leads)[-2:]
    answer = api.get(
        PATH, filterType="id", filterValues=ids_param(asked), fields="id,createdAt,updatedAt"
    )
    assert answer["success"] is True, answer
    assert answer["result"] == [
        {"id": i, "createdAt": leads[i]["createdAt"], "updatedAt": leads[i]["updatedAt"]}
        for i in asked
    ]


def test_fields_pick_among_id_created_and_updated(api: MarketoHttp, sb: Sandbox) -> None:
    lead = sb.truth.leads[10]
    only_created = api.get(PATH, filterType="id", filterValues=str(lead["id"]), fields="createdAt")
    assert only_created["result"] == [{"id": lead["id"], "createdAt": lead["createdAt"]}]
    only_id = api.get(PATH, filterType="id", filterValues=str(lead["id"]), fields="id")
    assert only_id["result"] == [{"id": lead["id"]}]
    # other fields are not served here; id always is
    other = api.get(PATH, filterType="id", filterValues=str(lead["id"]), fields="email,updatedAt")
    assert other["result"] == [{"id": lead["id"], "updatedAt": lead["updatedAt"]}]


def test_missing_ids_are_left_out(api: MarketoHttp, sb: Sandbox) -> None:
    live = [lead["id"] for lead in sb.truth.leads]
    deleted = sorted({d["leadId"] for d in sb.truth.deleted_leads} - set(live))
    assert deleted, "the sandbox should have deleted leads"
    never = max(live + deleted) + 1000
    asked = [live[0], deleted[0], live[1], never, live[2]]
    answer = api.get(PATH, filterType="id", filterValues=ids_param(asked), fields="id")
    assert answer["success"] is True, answer
    assert [lead["id"] for lead in answer["result"]] == [live[0], live[1], live[2]]

    nothing = api.get(PATH, filterType="id", filterValues=ids_param([deleted[0], never]))
    assert nothing["success"] is True, nothing
    assert nothing["result"] == []  # Adobe: "contains an empty result array"


def test_every_live_id_among_1_to_max_is_found(api: MarketoHttp, sb: Sandbox) -> None:
    # What live_lead_share relies on: ids 1..300 found = the live leads among them.
    live = {lead["id"] for lead in sb.truth.leads}
    asked = list(range(1, 301))
    assert live & set(asked) != set(asked), "some of ids 1..300 should be deleted"
    answer = api.get(PATH, filterType="id", filterValues=ids_param(asked), fields="id")
    assert answer["success"] is True, answer
    assert {lead["id"] for lead in answer["result"]} == live & set(asked)


def test_more_than_300_values_is_1003(api: MarketoHttp) -> None:
    answer = api.get(PATH, filterType="id", filterValues=ids_param(list(range(1, 302))))
    assert error_code(answer) == "1003"


def test_a_filter_type_other_than_id_is_1003(api: MarketoHttp, sb: Sandbox) -> None:
    email = next(lead["email"] for lead in sb.truth.leads if lead.get("email"))
    assert error_code(api.get(PATH, filterType="email", filterValues=email)) == "1003"
    # values that would be fine as ids: the filter type alone is refused
    lead_id = str(sb.truth.leads[0]["id"])
    assert error_code(api.get(PATH, filterType="cookies", filterValues=lead_id)) == "1003"
    assert error_code(api.get(PATH, filterType="leadPartitionId", filterValues="1")) == "1003"


def test_values_that_are_not_ids_are_1003(api: MarketoHttp) -> None:
    assert error_code(api.get(PATH, filterType="id", filterValues="1,two,3")) == "1003"


def test_missing_filter_values_or_type_is_1002(api: MarketoHttp) -> None:
    assert error_code(api.get(PATH, filterType="id")) == "1002"
    assert error_code(api.get(PATH, filterType="id", filterValues="")) == "1002"
    assert error_code(api.get(PATH, filterValues="1,2")) == "1002"
