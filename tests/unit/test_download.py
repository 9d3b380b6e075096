"""download_export: streamed to disk, Range resume, checksum/size verification, error answers."""

from __future__ import annotations

import hashlib
import http.server
import io
import logging
import re
import socket
import threading

import pytest
import requests_mock

from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.errors import ExportFileGoneError, ExportJobError, MarketoError
from tap_marketo_bulk.export.download import download_export

BASE = "https://284-RPR-133.mktorest.com"
FILE_PATH = "/bulk/v1/leads/export/e1/file.json"
DATA = b"id,email\n" + b"".join(b"%d,lead%d@example.com\n" % (i, i) for i in range(5000))
SIZE = len(DATA)
CHECKSUM = "sha256:" + hashlib.sha256(DATA).hexdigest()
CSV = {"Content-Type": "text/csv;charset=UTF-8"}
LOG = logging.getLogger("test.download")


class DroppingBody(io.RawIOBase):
    """A body whose connection is reset after `limit` bytes."""

    def __init__(self, data: bytes, limit: int) -> None:
        self._data, self._limit, self._pos = data, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._pos >= self._limit:
            raise ConnectionResetError("connection reset by peer")
        n = min(len(buffer), self._limit - self._pos, 4096)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


class FileServer:
    """file.json with Range support; `plan` holds one behaviour per request, then "full"."""

    def __init__(self, requests_mock, data: bytes = DATA, plan: list | None = None) -> None:
        self.data = data
        self.plan = list(plan or [])
        self.ranges: list[str | None] = []
        requests_mock.get(BASE + FILE_PATH, body=self._answer)

    def _answer(self, request, context):
        header = request.headers.get("Range")
        self.ranges.append(header)
        behaviour = self.plan.pop(0) if self.plan else "full"
        start = int(re.match(r"bytes=(\d+)-", header).group(1)) if header else 0
        body = self.data
        context.headers.update(CSV)
        if behaviour == "ignore-range" or not header:
            context.status_code = 200
        else:
            context.status_code = 206
            body = self.data[start:]
            last, total = len(self.data) - 1, len(self.data)
            context.headers["Content-Range"] = f"bytes {start}-{last}/{total}"
        context.headers["Content-Length"] = str(len(body))
        if isinstance(behaviour, tuple) and behaviour[0] == "truncate":
            return io.BytesIO(body[: behaviour[1]])
        if isinstance(behaviour, tuple) and behaviour[0] == "drop":
            return io.BufferedReader(DroppingBody(body, behaviour[1]))
        if isinstance(behaviour, tuple) and behaviour[0] == "corrupt":
            return io.BytesIO(body[:100] + b"X" + body[101:])
        return io.BytesIO(body)


@pytest.fixture
def client(requests_mock) -> MarketoClient:
    requests_mock.get(f"{BASE}/identity/oauth/token",
                      json={"access_token": "tok", "expires_in": 3600})
    return MarketoClient(BASE, "id", "secret", sleep=lambda s: None)


def download(client, tmp_path, *, checksum=CHECKSUM, size=SIZE, chunk_size=1024):
    return download_export(client, "leads", "e1", tmp_path / "e1.csv", file_size=size,
                           checksum=checksum, logger=LOG, chunk_size=chunk_size)


def test_plain_download_is_verified_and_logged(requests_mock, client, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    server = FileServer(requests_mock)
    path = download(client, tmp_path)
    assert path.read_bytes() == DATA
    assert server.ranges == [None]
    assert requests_mock.last_request.headers["Accept-Encoding"] == "identity"
    assert re.search(r"downloaded export e1: [\d.]+ MB in [\d.]+ s \([\d.]+ MB/s\)", caplog.text)


def test_truncated_body_resumes_with_range(requests_mock, client, tmp_path):
    server = FileServer(requests_mock, plan=[("truncate", 30_000)])
    assert download(client, tmp_path).read_bytes() == DATA
    assert server.ranges == [None, "bytes=30000-"]


def test_connection_reset_midway_resumes_with_range(requests_mock, client, tmp_path):
    server = FileServer(requests_mock, plan=[("drop", 20_000), ("drop", 25_000)])
    assert download(client, tmp_path).read_bytes() == DATA
    assert server.ranges[0] is None
    first_resume = int(server.ranges[1].split("=")[1].rstrip("-"))
    assert 0 < first_resume <= 20_000
    assert len(server.ranges) == 3


def test_200_to_a_range_request_restarts_from_zero(requests_mock, client, tmp_path):
    server = FileServer(requests_mock, plan=[("truncate", 10_000), "ignore-range"])
    assert download(client, tmp_path).read_bytes() == DATA
    assert server.ranges == [None, "bytes=10000-"]


def test_token_expired_while_resuming(requests_mock, client, tmp_path):
    server = FileServer(requests_mock, plan=[("truncate", 5_000)])
    original = server._answer

    expired = {"sent": False}

    def answer(request, context):
        if request.headers.get("Range") and not expired["sent"]:
            expired["sent"] = True
            context.headers["Content-Type"] = "application/json"
            return io.BytesIO(b'{"success":false,"errors":[{"code":"602",'
                              b'"message":"Access token expired"}]}')
        return original(request, context)

    requests_mock.get(BASE + FILE_PATH, body=answer)
    assert download(client, tmp_path).read_bytes() == DATA


def test_checksum_mismatch_downloads_again_from_scratch(requests_mock, client, tmp_path):
    server = FileServer(requests_mock, plan=[("corrupt",)])
    assert download(client, tmp_path).read_bytes() == DATA
    assert server.ranges == [None, None]


def test_checksum_mismatch_three_times_fails(requests_mock, client, tmp_path):
    FileServer(requests_mock, plan=[("corrupt",)] * 3)
    with pytest.raises(ExportJobError) as caught:
        download(client, tmp_path)
    assert "fileChecksum" in str(caught.value)


def test_size_mismatch_is_detected(requests_mock, client, tmp_path):
    FileServer(requests_mock)
    with pytest.raises(ExportJobError):
        download(client, tmp_path, checksum=None, size=len(DATA) + 1)


def test_json_error_in_place_of_the_csv(requests_mock, client, tmp_path):
    requests_mock.get(BASE + FILE_PATH, headers={"Content-Type": "application/json"},
                      json={"success": False, "errors": [{"code": "1003", "message": "bad"}]})
    with pytest.raises(MarketoError) as caught:
        download(client, tmp_path)
    assert caught.value.code == "1003"


def test_json_606_in_place_of_the_csv_is_retried(requests_mock, client, tmp_path):
    server = FileServer(requests_mock)
    original = server._answer
    answers = iter(["606"])

    def answer(request, context):
        if next(answers, None):
            context.headers["Content-Type"] = "application/json"
            return io.BytesIO(b'{"success":false,"errors":[{"code":"606","message":"rate"}]}')
        return original(request, context)

    requests_mock.get(BASE + FILE_PATH, body=answer)
    assert download(client, tmp_path).read_bytes() == DATA


def test_404_is_export_file_gone(requests_mock, client, tmp_path):
    requests_mock.get(BASE + FILE_PATH, status_code=404, text="Not Found")
    with pytest.raises(ExportFileGoneError):
        download(client, tmp_path)


def test_endless_drops_without_progress_give_up(requests_mock, client, tmp_path):
    FileServer(requests_mock, plan=[("drop", 1000)] + [("drop", 0)] * 20)
    with pytest.raises(ExportJobError) as caught:
        download(client, tmp_path)
    assert "without progress" in str(caught.value)


class _CuttingHandler(http.server.BaseHTTPRequestHandler):
    """file.json over a real socket: the first answer sends `cut` bytes, then drops the line."""

    protocol_version = "HTTP/1.1"
    cut = 0
    ranges: list[str | None]

    def do_GET(self) -> None:
        header = self.headers.get("Range")
        self.ranges.append(header)
        start = int(re.match(r"bytes=(\d+)-", header).group(1)) if header else 0
        body = DATA[start:]
        self.send_response(206 if header else 200)
        self.send_header("Content-Type", "text/csv;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        if header:
            self.send_header("Content-Range", f"bytes {start}-{SIZE - 1}/{SIZE}")
        self.end_headers()
        if len(self.ranges) == 1:  # the first answer: part of the body, then the line is cut
            self.wfile.write(body[: self.cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize("cut", [3_000, SIZE // 2])
def test_bytes_received_before_a_drop_are_kept_with_large_chunks(tmp_path, cut):
    # Production reads 1 MiB chunks over a real socket: a file smaller than that, cut midway,
    # resumes at the cut (every byte received is kept) instead of starting over from byte 0.
    handler = type("Handler", (_CuttingHandler,), {"cut": cut, "ranges": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with requests_mock.Mocker(real_http=True) as mocker:
            mocker.get(f"{base}/identity/oauth/token",
                       json={"access_token": "tok", "expires_in": 3600})
            client = MarketoClient(base, "id", "secret", sleep=lambda s: None)
            path = download_export(client, "leads", "e1", tmp_path / "e1.csv", file_size=SIZE,
                                   checksum=CHECKSUM, logger=LOG)
    finally:
        server.shutdown()
        server.server_close()
    assert path.read_bytes() == DATA
    assert handler.ranges == [None, f"bytes={cut}-"]
