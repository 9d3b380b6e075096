"""create.json validation: the codes and limits of Marketo's bulk extract."""

from __future__ import annotations

import pytest

from tap_marketo_bulk.sandbox import Sandbox

from .client import MarketoHttp, error_code, parse_csv, window

JAN = window("2023-01-01T00:00:00Z", "2023-01-31T23:59:59Z")


@pytest.mark.parametrize(("end", "ok"), [
    ("2023-02-01T23:59:59Z", True),   # 31 days - 1 s
    ("2023-02-02T00:00:00Z", True),   # exactly 31 days: both ends inclusive, still allowed
    ("2023-02-02T00:00:01Z", False),  # 31 days + 1 s
])
def test_31_day_limit(api: MarketoHttp, end: str, ok: bool) -> None:
    for obj, body in (
        ("leads", {"fields": ["id"], "filter": {"createdAt": window("2023-01-02T00:00:00Z", end)}}),
        ("activities", {"filter": {"createdAt": window("2023-01-02T00:00:00Z", end)}}),
    ):
        answer = api.create(obj, body)
        if ok:
            assert answer["success"], answer
            assert answer["result"][0]["status"] == "Created"
            assert set(answer["result"][0]) == {"exportId", "format", "status", "createdAt"}
        else:
            assert error_code(answer) == "1003"


@pytest.mark.parametrize("bad", [
    window("2023-01-01T00:00:00.000Z", "2023-01-05T00:00:00Z"),  # milliseconds
    window("2023-01-05T00:00:00Z", "2023-01-01T00:00:00Z"),  # endAt before startAt
    window("yesterday", "2023-01-01T00:00:00Z"),
    {"startAt": "2023-01-01T00:00:00Z"},
])
def test_bad_date_ranges_answer_1003(api: MarketoHttp, bad: dict) -> None:
    answer = api.create("leads", {"fields": ["id"], "filter": {"createdAt": bad}})
    assert error_code(answer) == "1003"


def test_lead_filter_must_be_exactly_one(api: MarketoHttp) -> None:
    assert error_code(api.create("leads", {"fields": ["id"], "filter": {}})) == "1003"
    both = {"createdAt": JAN, "updatedAt": JAN}
    assert error_code(api.create("leads", {"fields": ["id"], "filter": both})) == "1003"
    assert error_code(api.create("leads", {"fields": ["id"]})) == "1002"
    assert error_code(api.create("leads", {"fields": ["id"], "filter": {"bogus": 1}})) == "1003"
    assert api.create("leads", {"fields": ["id"], "filter": {"staticListId": 2001}})["success"]
    assert api.create("leads", {"fields": ["id"], "filter": {"smartListId": 3001}})["success"]
    unknown_list = {"fields": ["id"], "filter": {"staticListId": 9}}
    assert error_code(api.create("leads", unknown_list)) == "1003"


def test_fields_required_and_unknown_or_formula_fields_1006(api: MarketoHttp) -> None:
    assert error_code(api.create("leads", {"filter": {"createdAt": JAN}})) == "1002"
    assert error_code(api.create("program/members", {"filter": {"programId": 1001}})) == "1002"
    for obj, body in (
        ("leads", {"fields": ["id", "nope"], "filter": {"createdAt": JAN}}),
        ("program/members", {"fields": ["leadId", "nope"], "filter": {"programId": 1001}}),
        ("activities", {"fields": ["leadId", "nope"], "filter": {"createdAt": JAN}}),
    ):
        answer = api.create(obj, body)
        assert error_code(answer) == "1006"
        assert answer["errors"][0]["message"] == "Field 'nope' not found"
    formula = api.create("leads", {"fields": ["id", "mktoName"], "filter": {"createdAt": JAN}})
    assert formula["errors"][0] == {"code": "1006", "message": "Field 'mktoName' not found"}


def test_activity_filter_rules(api: MarketoHttp) -> None:
    assert error_code(api.create("activities", {"filter": {"activityTypeIds": [1]}})) == "1003"
    with_37 = {"filter": {"createdAt": JAN, "activityTypeIds": [1, 37]}}
    assert error_code(api.create("activities", with_37)) == "1003"
    both = {"filter": {"createdAt": JAN, "activityTypeIds": [2], "primaryAttributeValueIds": [1],
                       "primaryAttributeValues": ["x"]}}
    assert error_code(api.create("activities", both)) == "1003"
    no_types = {"filter": {"createdAt": JAN, "primaryAttributeValueIds": [1]}}
    assert error_code(api.create("activities", no_types)) == "1003"


def test_activity_default_columns_and_action_result_on_request(api: MarketoHttp) -> None:
    _, data = api.export("activities", {"filter": {"createdAt": JAN}})
    assert data.split(b"\n", 1)[0] == (b"marketoGUID,leadId,activityDate,activityTypeId,"
                                       b"campaignId,primaryAttributeValueId,primaryAttributeValue,"
                                       b"attributes")
    _, data = api.export("activities", {"fields": ["actionResult", "leadId"],
                                        "filter": {"createdAt": JAN}})
    rows = parse_csv(data, {"leadId": "integer"})
    assert {r["actionResult"] for r in rows} <= {"succeeded", "skipped", "failed"}


def test_program_id_xor_program_ids(api: MarketoHttp) -> None:
    fields = ["leadId", "statusName"]
    both = {"fields": fields, "filter": {"programId": 1001, "programIds": [1002]}}
    assert error_code(api.create("program/members", both)) == "1003"
    assert error_code(api.create("program/members", {"fields": fields, "filter": {}})) == "1003"
    eleven = {"fields": fields, "filter": {"programIds": list(range(1001, 1012))}}
    assert error_code(api.create("program/members", eleven)) == "1003"
    missing = {"fields": fields, "filter": {"programId": 999}}
    assert error_code(api.create("program/members", missing)) == "1003"
    _, data = api.export("program/members", {"fields": fields,
                                             "filter": {"programIds": [1001, 1002]}})
    assert data.split(b"\n", 1)[0] == b"programId,leadId,statusName"  # programId comes first


def test_updated_at_and_smart_list_switches_answer_1035(make_sandbox) -> None:
    sb = make_sandbox(updated_at_filter_supported=False, smart_lists_supported=False)
    api = MarketoHttp(sb)
    for obj, body in (
        ("leads", {"fields": ["id"], "filter": {"updatedAt": JAN}}),
        ("program/members", {"fields": ["leadId"], "filter": {"programId": 1001,
                                                               "updatedAt": JAN}}),
        ("leads", {"fields": ["id"], "filter": {"smartListId": 3001}}),
        ("leads", {"fields": ["id"], "filter": {"smartListName": "Every Third Person"}}),
    ):
        answer = api.create(obj, body)
        assert answer["errors"][0] == {"code": "1035", "message":
                                       "Unsupported filter type for target subscription"}
    assert api.create("leads", {"fields": ["id"], "filter": {"createdAt": JAN}})["success"]


def test_column_header_names_and_tsv(api: MarketoHttp, sb: Sandbox) -> None:
    body = {"fields": ["email", "id"], "format": "TSV",
            "columnHeaderNames": {"id": "Marketo Id"}, "filter": {"createdAt": JAN}}
    job, data = api.export("leads", body)
    assert job["format"] == "TSV"
    rows = parse_csv(data, {"Marketo Id": "integer"}, delimiter="\t")
    expected = sb.truth.leads_between(JAN["startAt"], JAN["endAt"])
    assert [(r["email"], r["Marketo Id"]) for r in rows] == [
        (r["email"], r["id"]) for r in expected
    ]
