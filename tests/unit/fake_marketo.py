"""A small Marketo stand-in on requests-mock for tap-level unit tests (no sockets).

Jobs complete at once; files are built by a callback from the create body, so a test decides
which rows each window holds. Every create body is recorded.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import itertools
import json
import re
import typing as t

import requests_mock as rm

from tap_marketo_bulk.api.client import MarketoClient

BASE_URL = "https://123-ABC-456.mktorest.com"
CLIENT_ID = "test-client"
CLIENT_SECRET = "s3cret-value-never-logged"
TOKEN = "tok-0001:ab"

LEAD_FIELDS = [
    {"name": "id", "dataType": "integer"},
    {"name": "email", "dataType": "email"},
    {"name": "firstName", "dataType": "string"},
    {"name": "score", "dataType": "score"},
    {"name": "isVip", "dataType": "boolean"},
    {"name": "revenue", "dataType": "currency"},
    {"name": "createdAt", "dataType": "datetime"},
    {"name": "updatedAt", "dataType": "datetime"},
    {"name": "fullName", "dataType": "formula"},
]

Rows = t.Callable[[dict], list[dict]]


@contextlib.contextmanager
def identity_mocker(*, case_sensitive: bool = False) -> t.Iterator[rm.Mocker]:
    """requests-mock whose identity endpoint hands out TOKEN (GET and POST); the REST
    answers are the test's own."""
    with rm.Mocker(case_sensitive=case_sensitive) as mocker:
        token = {"access_token": TOKEN, "token_type": "bearer", "expires_in": 3599}
        mocker.get(f"{BASE_URL}/identity/oauth/token", json=token)
        mocker.post(f"{BASE_URL}/identity/oauth/token", json=token)
        yield mocker


def sleepless_client() -> MarketoClient:
    """A MarketoClient for BASE_URL whose retries never sleep."""
    return MarketoClient(BASE_URL, CLIENT_ID, CLIENT_SECRET, sleep=lambda _s: None)


def csv_bytes(columns: list[str], rows: list[dict]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["null" if row.get(c) is None else _text(row[c]) for c in columns])
    return out.getvalue().encode()


def _text(value: t.Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


class FakeMarketo:
    def __init__(
        self,
        mocker: rm.Mocker,
        rows_for: Rows,
        *,
        birth: str = "2020-01-15T08:00:00Z+0000",
        updated_at_supported: bool = True,
        fail_windows: t.Iterable[str] = (),
    ) -> None:
        self.rows_for = rows_for
        self.birth = birth  # createdAt of the oldest top-level folder
        self.updated_at_supported = updated_at_supported
        self.fail_windows = set(fail_windows)  # startAt values whose create answers an error
        self.creates: list[dict] = []
        self.cancelled: list[str] = []
        self.jobs: dict[str, dict] = {}
        self._ids = itertools.count(1)
        m = mocker
        m.register_uri("POST", f"{BASE_URL}/identity/oauth/token", json=self._token)
        m.register_uri("GET", f"{BASE_URL}/identity/oauth/token", json=self._token)
        m.get(
            f"{BASE_URL}/rest/v1/leads/describe2.json",
            json={"success": True, "result": [{"name": "API Lead", "fields": LEAD_FIELDS}]},
        )
        m.get(
            f"{BASE_URL}/rest/v1/activities/types.json",
            json={
                "success": True,
                "result": [
                    {
                        "id": 1,
                        "name": "Visit Webpage",
                        "attributes": [{"name": "Query", "dataType": "string"}],
                    },
                    {"id": 37, "name": "Delete Lead"},
                ],
            },
        )
        m.get(
            f"{BASE_URL}/rest/v1/programs/members/describe.json",
            json={
                "success": True,
                "result": [
                    {
                        "fields": [
                            {"name": "leadId", "dataType": "integer"},
                            {"name": "programId", "dataType": "integer"},
                            {"name": "statusName", "dataType": "string"},
                            {"name": "updatedAt", "dataType": "datetime"},
                        ]
                    }
                ],
            },
        )
        # An instance without custom objects (tests/unit/test_custom_objects.py adds some).
        m.get(f"{BASE_URL}/rest/v1/customobjects.json", json={"success": True, "result": []})
        # The instance's birth: its oldest top-level folder (Asset API datetimes).
        m.get(
            f"{BASE_URL}/rest/asset/v1/folders.json",
            json=lambda request, context: self._folders(request),
        )
        obj = r"(leads|activities|program/members)"
        m.post(re.compile(rf"(?i){BASE_URL}/bulk/v1/{obj}/export/create\.json"), json=self._create)
        m.post(
            re.compile(rf"(?i){BASE_URL}/bulk/v1/{obj}/export/[^/]+/enqueue\.json"),
            json=self._enqueue,
        )
        m.post(
            re.compile(rf"(?i){BASE_URL}/bulk/v1/{obj}/export/[^/]+/cancel\.json"),
            json=self._cancel,
        )
        m.get(
            re.compile(rf"(?i){BASE_URL}/bulk/v1/{obj}/export/[^/]+/status\.json"),
            json=self._status,
        )
        m.get(
            re.compile(rf"(?i){BASE_URL}/bulk/v1/{obj}/export/[^/]+/file\.json"),
            content=self._file,
            headers={"Content-Type": "text/csv;charset=UTF-8"},
        )
        m.get(
            re.compile(rf"(?i){BASE_URL}/bulk/v1/{obj}/export\.json"),
            json={"success": True, "result": []},
        )

    def _folders(self, request: t.Any) -> dict:
        if int(request.qs.get("offset", ["0"])[0]):
            return {"success": True, "warnings": ["No assets found for the given search criteria."]}
        return {
            "success": True,
            "result": [
                {"id": 11, "name": "Design Studio", "createdAt": "2020-01-15T09:00:00Z+0000"},
                {"id": 10, "name": "Marketing Activities", "createdAt": self.birth},
            ],
        }

    def _token(self, request: t.Any, context: t.Any) -> dict:
        return {"access_token": TOKEN, "token_type": "bearer", "expires_in": 3599, "scope": "x"}

    def _create(self, request: t.Any, context: t.Any) -> dict:
        body = request.json()
        flt = body.get("filter", {})
        if "updatedAt" in flt and not self.updated_at_supported:
            return _error("1035", "Unsupported filter type for target subscription")
        window = flt.get("createdAt") or flt.get("updatedAt") or {}
        if window.get("startAt") in self.fail_windows:
            return _error("1003", "Simulated failure for this window")
        self.creates.append(body)
        export_id = f"job-{next(self._ids)}"
        columns = list(body["fields"])
        if "programIds" in flt and "programId" not in columns:
            columns.insert(0, "programId")  # Marketo's own column for programIds exports
        content = csv_bytes(columns, self.rows_for(body))
        self.jobs[export_id] = {"body": body, "content": content, "status": "Created"}
        return _ok({"exportId": export_id, "status": "Created", "format": "CSV"})

    def _job(self, request: t.Any) -> tuple[str, dict]:
        export_id = request.path.split("/export/")[1].split("/")[0]
        return export_id, self.jobs[export_id]

    def _enqueue(self, request: t.Any, context: t.Any) -> dict:
        export_id, job = self._job(request)
        job["status"] = "Queued"
        return _ok({"exportId": export_id, "status": "Queued", "format": "CSV"})

    def _cancel(self, request: t.Any, context: t.Any) -> dict:
        export_id, job = self._job(request)
        job["status"] = "Cancelled"
        self.cancelled.append(export_id)
        return _ok({"exportId": export_id, "status": "Cancelled", "format": "CSV"})

    def _status(self, request: t.Any, context: t.Any) -> dict:
        export_id, job = self._job(request)
        if job["status"] in {"Queued", "Processing"}:
            job["status"] = "Completed"
        result = {"exportId": export_id, "status": job["status"], "format": "CSV"}
        if job["status"] == "Completed":
            content = job["content"]
            result.update(
                numberOfRecords=content.count(b"\n") - 1,
                fileSize=len(content),
                fileChecksum="sha256:" + hashlib.sha256(content).hexdigest(),
            )
        return _ok(result)

    def _file(self, request: t.Any, context: t.Any) -> bytes:
        _, job = self._job(request)
        return job["content"]

    def lead_creates(self) -> list[dict]:
        return [b for b in self.creates if "createdAt" in b["filter"] or "updatedAt" in b["filter"]]


def _ok(result: dict) -> dict:
    return {"requestId": "r1", "success": True, "result": [result]}


def _error(code: str, message: str) -> dict:
    return {"requestId": "r1", "success": False, "errors": [{"code": code, "message": message}]}
