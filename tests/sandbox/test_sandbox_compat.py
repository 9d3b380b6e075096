"""Opt-in endpoints that let other Marketo taps run against the sandbox (benchmarks/compare)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import requests

from tap_marketo_bulk.sandbox import Sandbox

from .client import MarketoHttp, error_code

USAGE = "/rest/v1/stats/usage.json"


def test_usage_endpoint_is_off_by_default(api: MarketoHttp) -> None:
    assert error_code(api.get(USAGE)) == "610"


def test_usage_endpoint_counts_todays_calls_per_user(make_sandbox) -> None:
    sb: Sandbox = make_sandbox(usage_endpoint=True)
    api = MarketoHttp(sb)
    other = MarketoHttp(sb, sb.other_client_id, sb.other_client_secret)
    assert api.get("/rest/v1/activities/types.json")["success"]
    assert other.get("/rest/v1/activities/types.json")["success"]
    answer = api.get(USAGE)
    assert answer["success"], answer
    (day,) = answer["result"]
    assert day["date"].endswith("T00:00:00Z")
    assert day["total"] == 3  # identity calls are not API calls; the usage call itself is
    counts = {user["userId"]: user["count"] for user in day["users"]}
    assert counts == {f"{sb.client_id}@sandbox.example": 2,
                      f"{sb.other_client_id}@sandbox.example": 1}
    # the endpoint needs a token like every other one
    assert error_code(requests.get(sb.base_url + USAGE, timeout=5).json()) == "603"


def test_cli_usage_endpoint_option() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tap_marketo_bulk.sandbox.cli", "--port", "0", "--leads", "50",
         "--activities", "100", "--programs", "2", "--json", "--usage-endpoint"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        details = json.loads(process.stdout.readline())
        token = requests.get(details["base_url"] + "/identity/oauth/token", timeout=5, params={
            "grant_type": "client_credentials", "client_id": details["client_id"],
            "client_secret": details["client_secret"]}).json()["access_token"]
        answer = requests.get(details["base_url"] + USAGE, timeout=5,
                              headers={"Authorization": f"Bearer {token}"}).json()
        assert answer["success"] and answer["result"][0]["total"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
