"""Marketo's response envelope: HTTP 200 with `success` and string error codes."""

from __future__ import annotations

import itertools
import json
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_counter = itertools.count(random.Random().getrandbits(24))
_counter_lock = threading.Lock()


class ApiError(Exception):
    """An error Marketo reports inside a `success:false` envelope."""

    def __init__(self, code: str | int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = str(code)
        self.message = message


def request_id() -> str:
    """Looks like Marketo's "e42b#14272d07d78"."""
    with _counter_lock:
        number = next(_counter)
    return f"{number % 0xFFFFF:x}#{0x14272D07D78 + number:x}"


def success(result: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"requestId": request_id(), "success": True}
    if result is not None:
        body["result"] = result
    body.update(extra)
    return body


def failure(code: str | int, message: str) -> dict[str, Any]:
    return {
        "requestId": request_id(),
        "success": False,
        "errors": [{"code": str(code), "message": message}],
    }


MESSAGES = {
    "601": "Access token invalid",
    "602": "Access token expired",
    "603": "Access denied",
    "609": "Invalid JSON",
    "610": "Requested resource not found",
    "611": "System error",
    "615": "Concurrent access limit '10' reached",
    "1035": "Unsupported filter type for target subscription",
}


@dataclass
class Request:
    """An incoming call, parsed. `query` keeps the last value of each parameter."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""
    client_id: str = ""  # filled in once the token is checked

    def json_body(self) -> Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ApiError("609", MESSAGES["609"]) from exc


@dataclass
class FileSlice:
    """Bytes [start, end] (inclusive) of a file on disk, and how to damage them (faults)."""

    path: Path
    start: int
    end: int
    total: int
    drop_fraction: float | None = None  # send only this share, then cut the connection
    corrupt: bool = False


@dataclass
class Reply:
    status: int = 200
    payload: Any = None  # JSON-serialisable -> application/json
    text: str | None = None  # plain or HTML body
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)
    file: FileSlice | None = None

    @classmethod
    def plain(cls, status: int, text: str, content_type: str = "text/plain;charset=UTF-8") -> Reply:
        return cls(status=status, text=text, content_type=content_type)
