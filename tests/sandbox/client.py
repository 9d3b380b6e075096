"""A minimal Marketo client for the sandbox tests (requests, bearer header, no retries)."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import requests

from tap_marketo_bulk.sandbox import Sandbox

TERMINAL = ("Completed", "Failed", "Cancelled")


class MarketoHttp:
    def __init__(self, sb: Sandbox, client_id: str | None = None,
                 client_secret: str | None = None) -> None:
        self.base = sb.base_url
        self.client_id = client_id or sb.client_id
        self.client_secret = client_secret or sb.client_secret
        self.session = requests.Session()
        self.authenticate()

    def identity(self, **overrides: str) -> requests.Response:
        params = {"grant_type": "client_credentials", "client_id": self.client_id,
                  "client_secret": self.client_secret, **overrides}
        return self.session.get(self.base + "/identity/oauth/token", params=params, timeout=10)

    def authenticate(self) -> str:
        response = self.identity()
        response.raise_for_status()
        token = response.json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"
        return token

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.session.get(self.base + path, params=params, timeout=10).json()

    def post(self, path: str, body: Any = None) -> dict[str, Any]:
        return self.session.post(self.base + path, json=body, timeout=10).json()

    def create(self, obj: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.post(f"/bulk/v1/{obj}/export/create.json", body)

    def create_id(self, obj: str, body: dict[str, Any]) -> str:
        answer = self.create(obj, body)
        assert answer["success"], answer
        return answer["result"][0]["exportId"]

    def enqueue(self, obj: str, export_id: str) -> dict[str, Any]:
        return self.post(f"/bulk/v1/{obj}/export/{export_id}/enqueue.json")

    def status(self, obj: str, export_id: str) -> dict[str, Any]:
        return self.get(f"/bulk/v1/{obj}/export/{export_id}/status.json")

    def wait(self, obj: str, export_id: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            answer = self.status(obj, export_id)
            assert answer["success"], answer
            job = answer["result"][0]
            if job["status"] in TERMINAL or time.monotonic() > deadline:
                return job
            time.sleep(0.02)

    def file(self, obj: str, export_id: str, **headers: str) -> requests.Response:
        return self.session.get(self.base + f"/bulk/v1/{obj}/export/{export_id}/file.json",
                                headers=headers, timeout=10)

    def export(self, obj: str, body: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """create, enqueue, wait, download: (final status object, file bytes)."""
        export_id = self.create_id(obj, body)
        assert self.enqueue(obj, export_id)["success"]
        job = self.wait(obj, export_id)
        assert job["status"] == "Completed", job
        response = self.file(obj, export_id)
        assert response.status_code == 200
        return job, response.content


def window(start: str, end: str) -> dict[str, str]:
    return {"startAt": start, "endAt": end}


def error_code(answer: dict[str, Any]) -> str:
    assert answer["success"] is False, answer
    return answer["errors"][0]["code"]


COERCE = {
    "integer": int, "score": int, "reference": str,
    "percent": float, "float": float, "currency": float,
    "boolean": {"true": True, "false": False, "1": True, "0": False}.__getitem__,
    "json": json.loads,
}


def parse_csv(data: bytes, types: dict[str, str], delimiter: str = ",") -> list[dict[str, Any]]:
    """Typed rows the way a correct tap reads them: a CSV reader over the whole stream."""
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter)
    header = next(reader)
    rows = []
    for cells in reader:
        row = {}
        for name, cell in zip(header, cells, strict=True):
            convert = COERCE.get(types.get(name, "string"), str)
            row[name] = None if cell == "null" else convert(cell)
        rows.append(row)
    return rows
