"""Custom objects in the sandbox: list, describe, and the Bulk Custom Object Extract rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from tap_marketo_bulk.sandbox import Sandbox

from .client import MarketoHttp, error_code, parse_csv, window

CAR = "customobjects/car_c"
JAN = window("2023-01-01T00:00:00Z", "2023-01-31T23:59:59Z")
# Marketo's field types (api-notes §9) -> the parse_csv type names of the test client.
TEST_TYPES = {"reference": "string", "integer": "integer", "score": "score",
              "percent": "percent", "float": "float", "currency": "currency",
              "boolean": "boolean"}


def describe(api: MarketoHttp, name: str) -> dict:
    answer = api.get(f"/rest/v1/customobjects/{name}/describe.json")
    assert answer["success"], answer
    return answer["result"][0]


def test_list_names_filter_and_describe(api: MarketoHttp) -> None:
    listed = api.get("/rest/v1/customobjects.json")["result"]
    assert {o["name"] for o in listed} == {"car_c", "course_c", "companyAsset_c"}
    links = {o["name"]: o["relationships"][0]["relatedTo"]["name"] for o in listed}
    assert links == {"car_c": "Lead", "course_c": "Lead", "companyAsset_c": "Company"}
    assert all(o["idField"] == "marketoGUID" for o in listed)
    only = api.get("/rest/v1/customobjects.json", names="course_c,nope_c")["result"]
    assert [o["name"] for o in only] == ["course_c"]
    car = describe(api, "car_c")
    names = [f["name"] for f in car["fields"]]
    assert names[:4] == ["createdAt", "updatedAt", "marketoGUID", "leadID"]
    assert car["dedupeFields"] == ["vIN"]
    assert error_code(api.get("/rest/v1/customobjects/nope_c/describe.json")) == "610"


def test_lead_linked_objects_cover_every_data_type_with_marketo_typed_truth(sb: Sandbox) -> None:
    documented = {"string", "text", "textarea", "email", "phone", "url", "integer", "float",
                  "currency", "percent", "score", "boolean", "date", "datetime", "reference"}
    lead_linked = [d for d in sb.truth.custom_object_definitions
                   if d["relationships"][0]["relatedTo"]["name"] == "Lead"]
    assert len(lead_linked) >= 2
    assert {f["dataType"] for d in lead_linked for f in d["fields"]} >= documented
    python = {"integer": int, "score": int, "reference": str, "percent": float, "float": float,
              "currency": float, "boolean": bool}
    for definition in lead_linked:
        rows = sb.truth.custom_objects[definition["name"]]
        for field in definition["fields"]:
            values = [r[field["name"]] for r in rows if r[field["name"]] is not None]
            assert values, field
            expected = python.get(field["dataType"], str)
            assert all(type(v) is expected for v in values), field
    references = {r["crmAccountId"] for r in sb.truth.custom_objects["car_c"]}
    assert {"0015000000aBcDeAAA", "001656783185136518"} <= references
    percents = [r["completionPercent"] for r in sb.truth.custom_objects["course_c"]]
    assert any(p is not None and p != int(p) for p in percents)
    texts = {r["summary"] for r in sb.truth.custom_objects["course_c"]}
    assert {"02134", "nul\x00byte", "line\u2028separator", "line one\nline two"} <= texts


def test_updated_at_windows_export_exactly_the_truth(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(data_start="2024-01-01T00:00:00Z", data_end="2024-06-30T23:59:59Z",
                      max_calls_per_20s=100_000)
    api = MarketoHttp(sb)
    definition = describe(api, "car_c")
    names = [f["name"] for f in definition["fields"]]
    types = {f["name"]: TEST_TYPES.get(f["dataType"], "string") for f in definition["fields"]}
    got: dict[str, dict] = {}
    # Consecutive 31-day windows over the whole data span, both ends inclusive.
    cursor = datetime(2024, 1, 1, tzinfo=timezone.utc)
    end = datetime(2024, 6, 30, 23, 59, 59, tzinfo=timezone.utc)
    starts = []
    while cursor <= end:
        starts.append(cursor)
        cursor += timedelta(days=31)
    for start in starts:
        stop = min(start + timedelta(days=31, seconds=-1), end)
        body = {"fields": names, "filter": {"updatedAt": window(
            start.strftime("%Y-%m-%dT%H:%M:%SZ"), stop.strftime("%Y-%m-%dT%H:%M:%SZ"))}}
        _, data = api.export(CAR, body)
        for row in parse_csv(data, types):
            assert row["marketoGUID"] not in got
            got[row["marketoGUID"]] = row
    truth = {r["marketoGUID"]: r for r in sb.truth.custom_objects["car_c"]}
    assert got == truth


@pytest.mark.parametrize(("body", "code"), [
    ({"filter": {"updatedAt": JAN}}, "1002"),  # fields are required
    ({"fields": ["marketoGUID", "horsepower"], "filter": {"updatedAt": JAN}}, "1006"),
    ({"fields": ["marketoGUID"]}, "1002"),  # filter required
    ({"fields": ["marketoGUID"], "filter": {"createdAt": JAN}}, "1003"),  # no createdAt filter
    ({"fields": ["marketoGUID"], "filter": {"updatedAt": JAN, "staticListId": 1}}, "1003"),
    ({"fields": ["marketoGUID"],
      "filter": {"updatedAt": window("2023-01-01T00:00:00Z", "2023-02-01T00:00:01Z")}}, "1003"),
    ({"fields": ["marketoGUID"],
      "filter": {"updatedAt": window("2023-01-01T00:00:00.000Z", "2023-01-02T00:00:00Z")}},
     "1003"),
])
def test_create_rules(api: MarketoHttp, body: dict, code: str) -> None:
    assert error_code(api.create(CAR, body)) == code


def test_company_linked_and_unknown_objects_are_refused(api: MarketoHttp) -> None:
    body = {"fields": ["marketoGUID"], "filter": {"updatedAt": JAN}}
    assert error_code(api.create("customobjects/companyAsset_c", body)) == "1003"
    assert error_code(api.create("customobjects/nope_c", body)) == "610"


def test_list_filters(api: MarketoHttp, sb: Sandbox) -> None:
    static = sb.truth.static_lists[0]
    fields = ["marketoGUID", "leadID"]
    _, data = api.export(CAR, {"fields": fields, "filter": {"staticListId": static["id"]}})
    rows = parse_csv(data, {"leadID": "integer"})
    expected = [r for r in sb.truth.custom_objects["car_c"] if r["leadID"] in static["leadIds"]]
    assert sorted(r["marketoGUID"] for r in rows) == sorted(r["marketoGUID"] for r in expected)
    _, data = api.export(CAR, {"fields": fields, "filter": {"smartListName": "Every Third Person"}})
    rows = parse_csv(data, {"leadID": "integer"})
    assert rows and all(r["leadID"] % 3 == 0 for r in rows)


def test_smart_lists_may_be_unsupported(make_sandbox: Callable[..., Sandbox]) -> None:
    api = MarketoHttp(make_sandbox(smart_lists_supported=False))
    body = {"fields": ["marketoGUID"], "filter": {"smartListId": 3001}}
    assert error_code(api.create(CAR, body)) == "1035"


def test_custom_object_jobs_share_the_one_queue(api: MarketoHttp, sb: Sandbox) -> None:
    sb.faults.foreign_queued = 10
    export_id = api.create_id(CAR, {"fields": ["marketoGUID"], "filter": {"updatedAt": JAN}})
    answer = api.enqueue(CAR, export_id)
    assert error_code(answer) == "1029"
    assert answer["errors"][0]["message"] == "Too many jobs in queue"
    # Another client's view, another object's path: the job is not found there.
    assert error_code(api.status("leads", export_id)) == "1003"


def test_no_custom_objects_and_no_permission(make_sandbox: Callable[..., Sandbox]) -> None:
    empty = MarketoHttp(make_sandbox(custom_objects=False))
    listed = empty.get("/rest/v1/customobjects.json")
    assert listed["success"] is True and listed["result"] == []
    assert error_code(empty.get("/rest/v1/customobjects/car_c/describe.json")) == "610"
    denied = MarketoHttp(make_sandbox(custom_object_access=False))
    assert error_code(denied.get("/rest/v1/customobjects.json")) == "603"
    assert error_code(denied.get("/rest/v1/customobjects/car_c/describe.json")) == "603"
    body = {"fields": ["marketoGUID"], "filter": {"updatedAt": JAN}}
    assert error_code(denied.create(CAR, body)) == "603"


def test_cli_switches() -> None:
    from tap_marketo_bulk.sandbox.cli import build_parser, config_from_args

    config = config_from_args(build_parser().parse_args(
        ["--no-custom-objects", "--no-custom-object-access", "--custom-object-rows", "7"]))
    assert (config.custom_objects, config.custom_object_access, config.custom_object_rows) == (
        False, False, 7)
    default = config_from_args(build_parser().parse_args([]))
    assert default.custom_objects and default.custom_object_access
