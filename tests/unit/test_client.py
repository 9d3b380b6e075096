"""MarketoClient: token reuse/refresh, retry table, rate limit, streamed GET, no secret leaks."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import requests

from tap_marketo_bulk.api.client import MarketoClient, redact_secrets
from tap_marketo_bulk.api.ratelimit import SlidingWindowRateLimiter
from tap_marketo_bulk.errors import (
    AmbiguousRequestError,
    ExportFileGoneError,
    MarketoAuthError,
    MarketoError,
    QueueFullError,
    QuotaExceededError,
    UnsupportedFilterError,
)

BASE = "https://284-RPR-133.mktorest.com"
IDENTITY = f"{BASE}/identity/oauth/token"
SECRET = "s3cr3t-Client-Secret-Value"
CLIENT_ID = "client-id-1"
PATH = "/rest/v1/leads/describe2.json"
OK = {"requestId": "a#1", "success": True, "result": [{"name": "API Lead"}]}


class FakeClock:
    """Monotonic clock whose sleep advances it instantly (and records the sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def token_body(token: str = "tok-1:ab", expires_in: int = 3599) -> dict:
    return {"access_token": token, "token_type": "bearer", "expires_in": expires_in,
            "scope": "api@example.com"}


def error_body(code: str, message: str) -> dict:
    return {"requestId": "e#1", "success": False, "errors": [{"code": code, "message": message}]}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> MarketoClient:
    return MarketoClient(BASE, CLIENT_ID, SECRET, sleep=clock.sleep, clock=clock,
                         logger=logging.getLogger("test.client"))


@pytest.fixture
def identity(requests_mock):
    return requests_mock.get(IDENTITY, [{"json": token_body("tok-1:ab")},
                                        {"json": token_body("tok-2:cd")}])


def calls_to(requests_mock, path: str) -> list:
    return [r for r in requests_mock.request_history if r.path == path.lower()]


def test_token_is_reused_and_sent_only_as_bearer_header(requests_mock, identity, client):
    requests_mock.get(BASE + PATH, json=OK)
    for _ in range(3):
        assert client.get(PATH) == OK
    assert identity.call_count == 1
    token_request = identity.request_history[0]
    assert token_request.qs["grant_type"] == ["client_credentials"]
    assert "client_secret" in token_request.qs
    for request in calls_to(requests_mock, PATH):
        assert request.headers["Authorization"] == "Bearer tok-1:ab"
        assert "access_token" not in request.qs
    assert client.api_calls == 3  # identity is not counted
    assert client.calls_by_endpoint[PATH] == 3


def test_token_refreshed_shortly_before_expiry(requests_mock, identity, client, clock):
    identity_short = requests_mock.get(IDENTITY, [{"json": token_body("tok-1:ab", 100)},
                                                  {"json": token_body("tok-2:cd", 3599)}])
    requests_mock.get(BASE + PATH, json=OK)
    client.get(PATH)
    clock.now += 39  # 100 s lifetime - 60 s margin: still fine
    client.get(PATH)
    assert identity_short.call_count == 1
    clock.now += 2
    client.get(PATH)
    assert identity_short.call_count == 2
    assert requests_mock.last_request.headers["Authorization"] == "Bearer tok-2:cd"


def test_token_in_its_last_minute_is_not_fetched_again_before_every_call(
    requests_mock, client, clock
):
    # Identity answers with the token it already issued until that one expires: near its end
    # the same token comes back with less than the 60 s margin left.
    identity_late = requests_mock.get(IDENTITY, [{"json": token_body("tok-1:ab", 40)},
                                                 {"json": token_body("tok-1:ab", 30)},
                                                 {"json": token_body("tok-2:cd", 3599)}])
    requests_mock.get(BASE + PATH, json=OK)
    for _ in range(5):
        client.get(PATH)
        clock.now += 1
    assert identity_late.call_count == 1  # used for 10 s of its 40 (a quarter)
    clock.now += 6
    client.get(PATH)
    assert identity_late.call_count == 2  # 30 s left: good for 7.5 s more
    assert requests_mock.last_request.headers["Authorization"] == "Bearer tok-1:ab"


def test_602_refreshes_the_token_and_retries_once(requests_mock, identity, client):
    requests_mock.get(BASE + PATH, [{"json": error_body("602", "Access token expired")},
                                    {"json": OK}])
    assert client.get(PATH) == OK
    assert identity.call_count == 2
    auth = [r.headers["Authorization"] for r in calls_to(requests_mock, PATH)]
    assert auth == ["Bearer tok-1:ab", "Bearer tok-2:cd"]


def test_601_twice_in_one_request_fails(requests_mock, identity, client):
    requests_mock.get(BASE + PATH, json=error_body("601", "Access token invalid"))
    with pytest.raises(MarketoError) as caught:
        client.get(PATH)
    assert caught.value.code == "601"
    assert len(calls_to(requests_mock, PATH)) == 2


def test_606_waits_about_20_seconds_then_retries(requests_mock, identity, client, clock):
    requests_mock.get(BASE + PATH, [
        {"json": error_body("606", "Max rate limit '100' exceeded with in '20' secs")},
        {"json": OK},
    ])
    assert client.get(PATH) == OK
    assert len(clock.sleeps) == 1 and 20 <= clock.sleeps[0] <= 22.5


def test_1003_fails_at_once_with_code_message_and_endpoint(requests_mock, identity, client):
    requests_mock.get(BASE + "/bulk/v1/leads/export.json",
                      json=error_body("1003", "Invalid value for status"))
    with pytest.raises(MarketoError) as caught:
        client.get("/bulk/v1/leads/export.json", params={"status": "Nope"})
    error = caught.value
    assert error.code == "1003"
    assert "Invalid value for status" in error.message
    assert error.endpoint == "/bulk/v1/leads/export.json"
    assert "1003" in str(error) and "/bulk/v1/leads/export.json" in str(error)
    assert "status=" not in str(error) and "tok-1" not in str(error)
    assert requests_mock.call_count == 2  # identity + one call: no retry


def test_603_names_the_role_permissions(requests_mock, identity, client):
    requests_mock.get(BASE + PATH, json=error_body("603", "Access denied"))
    with pytest.raises(MarketoError) as caught:
        client.get(PATH)
    assert caught.value.code == "603"
    assert "role" in str(caught.value) and "permission" in str(caught.value)


@pytest.mark.parametrize(
    ("message", "error_type"),
    [("Too many jobs in queue", QueueFullError),
     ("Export daily quota 500MB exceeded.", QuotaExceededError)],
)
def test_1029_is_told_apart_by_message(requests_mock, identity, client, message, error_type):
    path = "/bulk/v1/leads/export/abc/enqueue.json"
    requests_mock.post(BASE + path, json=error_body("1029", message))
    with pytest.raises(error_type):
        client.post(path)


def test_1029_job_already_queued_is_not_an_error(requests_mock, identity, client):
    path = "/bulk/v1/leads/export/abc/enqueue.json"
    requests_mock.post(BASE + path, json=error_body("1029", "Job already queued"))
    assert client.post(path)["alreadyQueued"] is True


def test_1035_unsupported_filter(requests_mock, identity, client):
    path = "/bulk/v1/leads/export/create.json"
    requests_mock.post(BASE + path,
                       json=error_body("1035", "Unsupported filter type for target subscription"))
    with pytest.raises(UnsupportedFilterError):
        client.post(path, json={"filter": {}}, idempotent=False)


def test_backoff_is_exponential_bounded_and_jittered(requests_mock, identity, client, clock):
    requests_mock.get(BASE + PATH, json=error_body("611", "System error"))
    with pytest.raises(MarketoError) as caught:
        client.get(PATH)
    assert caught.value.code == "611"
    assert len(calls_to(requests_mock, PATH)) == 5
    assert len(clock.sleeps) == 4
    for expected, slept in zip((2, 4, 8, 16), clock.sleeps, strict=True):
        assert expected <= slept <= expected * 1.25


def test_http_502_and_connection_errors_retried_for_reads(requests_mock, identity, client):
    requests_mock.get(BASE + PATH, [
        {"status_code": 502, "text": "Bad Gateway"},
        {"exc": requests.exceptions.ConnectionError("connection reset")},
        {"exc": requests.exceptions.ReadTimeout("read timed out")},
        {"json": OK},
    ])
    assert client.get(PATH) == OK


def test_create_is_not_resent_after_an_ambiguous_502(requests_mock, identity, client):
    path = "/bulk/v1/leads/export/create.json"
    create = requests_mock.post(BASE + path, [{"status_code": 502, "text": "Bad Gateway"},
                                              {"json": OK}])
    with pytest.raises(AmbiguousRequestError):
        client.post(path, json={"fields": ["id"]}, idempotent=False)
    assert create.call_count == 1


@pytest.mark.parametrize(
    "answer",
    [{"json": error_body("604", "Request time-out")},
     {"json": error_body("611", "System error")},
     {"exc": requests.exceptions.ReadTimeout("read timed out")},
     {"exc": requests.exceptions.ConnectionError("connection reset by peer")},
     {"json": {"requestId": "x", "success": True}}],
)
def test_ambiguous_answers_to_create(requests_mock, identity, client, answer):
    path = "/bulk/v1/leads/export/create.json"
    create = requests_mock.post(BASE + path, [answer, {"json": OK}])
    with pytest.raises(AmbiguousRequestError):
        client.post(path, json={}, idempotent=False)
    assert create.call_count == 1


@pytest.mark.parametrize(
    "answer",
    [{"json": error_body("606", "Max rate limit")},
     {"json": error_body("615", "Concurrent access limit '10' reached")},
     {"json": error_body("602", "Access token expired")},
     {"exc": requests.exceptions.ConnectTimeout("connect timed out")}],
)
def test_create_retried_when_marketo_surely_did_nothing(requests_mock, identity, client, answer):
    path = "/bulk/v1/leads/export/create.json"
    create = requests_mock.post(BASE + path, [answer, {"json": OK}])
    assert client.post(path, json={}, idempotent=False) == OK
    assert create.call_count == 2


def test_identity_401_is_an_auth_error_without_the_secret(requests_mock, client):
    requests_mock.get(IDENTITY, status_code=401,
                      json={"error": "unauthorized", "error_description": "Bad client credentials"})
    with pytest.raises(MarketoAuthError) as caught:
        client.get(PATH)
    assert "Marketo rejected the client_id/client_secret" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_secrets_never_in_exceptions_or_logs(requests_mock, client, caplog):
    caplog.set_level(logging.DEBUG)
    leaky = (f"HTTPSConnectionPool(host='284-rpr-133.mktorest.com', port=443): Max retries "
             f"exceeded with url: /identity/oauth/token?grant_type=client_credentials&"
             f"client_id={CLIENT_ID}&client_secret={SECRET}")
    requests_mock.get(IDENTITY, [{"exc": requests.exceptions.ConnectionError(leaky)}] * 5)
    with pytest.raises(MarketoError) as caught:
        client.get(PATH)
    error = caught.value
    assert SECRET not in str(error) and SECRET not in repr(error)
    assert error.__cause__ is None and error.__suppress_context__
    assert "client_secret=***" in error.message
    requests_mock.get(IDENTITY, json=token_body("tok-secret-token"))
    requests_mock.get(BASE + PATH, [{"json": error_body("611", "System error")}, {"json": OK}])
    client.get(PATH)
    # requests_mock's own adapter logs the mocked URL (it stands where urllib3 would be, and
    # urllib3's request-line log is covered by the next test).
    for record in [r for r in caplog.records if not r.name.startswith("requests_mock")]:
        text = record.getMessage() + (record.exc_text or "")
        assert SECRET not in text
        assert "tok-secret-token" not in text
    assert SECRET not in repr(client)


def test_urllib3_request_line_logs_are_redacted(client, caplog):
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    logging.getLogger("urllib3.connectionpool").debug(
        '%s://%s:%s "%s %s %s" %s %s', "https", "h", 443, "GET",
        f"/identity/oauth/token?client_id=x&client_secret={SECRET}", "HTTP/1.1", 200, None,
    )
    assert SECRET not in caplog.text
    assert "client_secret=***" in caplog.text
    assert redact_secrets("Authorization: Bearer abc:def") == "Authorization: Bearer ***"


def test_rate_limit_never_exceeds_the_rolling_window(requests_mock, identity, clock):
    client = MarketoClient(BASE, CLIENT_ID, SECRET, sleep=clock.sleep, clock=clock,
                           max_calls_per_20s=3)
    sent_at: list[float] = []
    requests_mock.get(BASE + PATH, json=OK)
    for _ in range(7):
        client.get(PATH)
        sent_at.append(clock.now)
    for i, t in enumerate(sent_at):
        assert sum(1 for u in sent_at if t <= u < t + 20) <= 3, (i, sent_at)
    assert sent_at[3] >= sent_at[0] + 20


def test_rate_limiter_is_shared_by_threads():
    limiter = SlidingWindowRateLimiter(5, 0.5, clock=time.monotonic, sleep=time.sleep)
    sent: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(4):
            limiter.acquire()
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent.sort()
    assert len(sent) == 12
    for t in sent:
        assert sum(1 for u in sent if t <= u < t + 0.5 - 0.02) <= 5


def test_open_stream_404_is_export_file_gone(requests_mock, identity, client):
    path = "/bulk/v1/leads/export/abc/file.json"
    requests_mock.get(BASE + path, status_code=404, text="Not Found")
    with pytest.raises(ExportFileGoneError):
        client.open_stream(path)


def test_open_stream_json_envelope_refreshes_token_then_streams(requests_mock, identity, client):
    path = "/bulk/v1/leads/export/abc/file.json"
    requests_mock.get(BASE + path, [
        {"json": error_body("602", "Access token expired"),
         "headers": {"Content-Type": "application/json;charset=UTF-8"}},
        {"content": b"id\n1\n", "headers": {"Content-Type": "text/csv;charset=UTF-8"}},
    ])
    response = client.open_stream(path, headers={"Range": "bytes=0-"})
    assert response.status_code == 200
    assert response.raw.read() == b"id\n1\n"
    assert identity.call_count == 2
    assert requests_mock.last_request.headers["Range"] == "bytes=0-"


def test_open_stream_json_error_is_raised(requests_mock, identity, client):
    path = "/bulk/v1/leads/export/abc/file.json"
    requests_mock.get(BASE + path, json=error_body("1003", "Export not ready"),
                      headers={"Content-Type": "application/json"})
    with pytest.raises(MarketoError) as caught:
        client.open_stream(path)
    assert caught.value.code == "1003"


def test_open_stream_uses_a_read_timeout(requests_mock, identity, clock):
    client = MarketoClient(BASE, CLIENT_ID, SECRET, sleep=clock.sleep, clock=clock,
                           request_timeout=42.0)
    path = "/bulk/v1/leads/export/abc/file.json"
    requests_mock.get(BASE + path, content=b"x", headers={"Content-Type": "text/csv"})
    client.open_stream(path).close()
    assert requests_mock.last_request.timeout == (30.0, 42.0)
    assert requests_mock.last_request.stream is True


def test_threads_share_one_token(requests_mock, identity):
    client = MarketoClient(BASE, CLIENT_ID, SECRET)
    requests_mock.get(BASE + PATH, json=OK)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            for _ in range(5):
                client.get(PATH)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert identity.call_count == 1
    assert client.api_calls == 20
