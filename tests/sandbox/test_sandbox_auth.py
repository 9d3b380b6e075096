"""Identity, token handling, rate and gateway errors answer as Marketo's do."""

from __future__ import annotations

import time

import requests

from tap_marketo_bulk.sandbox import Sandbox

from .client import MarketoHttp, error_code

DESCRIBE = "/rest/v1/leads/describe2.json"


def test_bad_credentials_answer_401_oauth_body(sb: Sandbox) -> None:
    response = requests.get(sb.base_url + "/identity/oauth/token", timeout=5, params={
        "grant_type": "client_credentials", "client_id": sb.client_id, "client_secret": "wrong"})
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized",
                               "error_description": "Bad client credentials"}


def test_same_token_until_expiry_with_remaining_lifetime(api: MarketoHttp, sb: Sandbox) -> None:
    first = api.identity().json()
    assert first["token_type"] == "bearer" and first["expires_in"] == 3599
    post = requests.post(sb.base_url + "/identity/oauth/token", timeout=5, data={
        "grant_type": "client_credentials", "client_id": sb.client_id,
        "client_secret": sb.client_secret})
    assert post.json()["access_token"] == first["access_token"]
    assert post.json()["expires_in"] <= first["expires_in"]


def test_missing_unknown_and_expired_tokens(api: MarketoHttp, sb: Sandbox) -> None:
    anonymous = requests.get(sb.base_url + DESCRIBE, timeout=5).json()
    assert error_code(anonymous) == "603"
    assert anonymous["errors"][0]["message"] == "Access denied"
    unknown = requests.get(sb.base_url + DESCRIBE, timeout=5,
                           headers={"Authorization": "Bearer nope:ab"}).json()
    assert error_code(unknown) == "601"
    assert api.get(DESCRIBE)["success"]
    sb.faults.expire_tokens_after = 0.1
    time.sleep(0.15)
    assert error_code(api.get(DESCRIBE)) == "602"
    sb.faults.expire_tokens_after = None
    api.authenticate()
    assert api.get(DESCRIBE)["success"]
    sb.expire_all_tokens_now()
    assert error_code(api.get(DESCRIBE)) == "602"
    api.authenticate()  # a fresh token is issued after expiry
    assert api.get(DESCRIBE)["success"]


def test_token_in_query_string_is_refused_and_counted(api: MarketoHttp, sb: Sandbox) -> None:
    token = api.session.headers["Authorization"].split()[1]
    answer = requests.get(sb.base_url + DESCRIBE, params={"access_token": token}, timeout=5)
    assert answer.status_code == 200 and error_code(answer.json()) == "603"
    assert sb.stats["tokens_in_query"] == 1
    assert sb.client_stats()["tokens_in_query"] == 1


def test_rate_limit_606_over_rolling_20s_identity_not_counted(make_sandbox) -> None:
    sb = make_sandbox(max_calls_per_20s=5)
    api = MarketoHttp(sb)
    for _ in range(5):
        assert api.get(DESCRIBE)["success"]
        api.identity()  # identity calls are free
    answer = api.get(DESCRIBE)
    assert error_code(answer) == "606"
    assert answer["errors"][0]["message"] == "Max rate limit '5' exceeded with in '20' secs"
    stats = sb.client_stats()
    assert stats["api_calls"] == 6 and stats["calls_per_20s_max"] == 6
    assert stats["errors"] == {"606": 1}


def test_rate_limit_burst_fault(api: MarketoHttp, sb: Sandbox) -> None:
    sb.faults.rate_limit_burst = 2
    assert error_code(api.get(DESCRIBE)) == "606"
    assert error_code(api.get(DESCRIBE)) == "606"
    assert api.get(DESCRIBE)["success"]


def test_http_502_fault_answers_html(api: MarketoHttp, sb: Sandbox) -> None:
    sb.faults.http_502 = 1
    response = api.session.get(sb.base_url + DESCRIBE, timeout=5)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "502 Bad Gateway" in response.text
    assert api.get(DESCRIBE)["success"]
