"""The six bulk endpoints for each of leads, activities and program/members."""

from __future__ import annotations

import re
from typing import Any

from .config import Faults, SandboxConfig
from .custom_object_api import validate_custom_object_create
from .custom_objects import CUSTOM_OBJECT_PREFIX
from .dataset import Dataset
from .envelope import ApiError, FileSlice, Reply, Request, failure, success
from .jobs import JobQueue
from .rest_api import MAX_BATCH, decode_token, encode_token, int_param
from .rules import validate_create
from .stats import StatsRecorder

OBJECTS = r"leads|activities|program/members|customobjects/[A-Za-z0-9_]+"
BULK_PATH = re.compile(
    rf"^/bulk/v1/(?P<object>{OBJECTS})/export"
    r"(?:/(?P<export_id>[^/]+))?/(?P<action>create|enqueue|status|cancel|file)\.json$"
)
JOB_LIST_PATH = re.compile(rf"^/bulk/v1/(?P<object>{OBJECTS})/export\.json$")
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
STATUSES = {"Created", "Queued", "Processing", "Completed", "Failed", "Cancelled", "Canceled"}
CSV_CONTENT_TYPE = "text/csv;charset=UTF-8"
METHODS = {"create": "POST", "enqueue": "POST", "cancel": "POST", "status": "GET", "file": "GET"}


class BulkEndpoints:
    def __init__(self, data: Dataset, config: SandboxConfig, faults: Faults,
                 queue: JobQueue, stats: StatsRecorder) -> None:
        self._data, self._config, self._faults = data, config, faults
        self._queue, self._stats = queue, stats

    def dispatch(self, request: Request) -> Reply | dict[str, Any] | None:
        """The answer for a bulk path, or None when the path is not a bulk endpoint."""
        listing = JOB_LIST_PATH.match(request.path)
        if listing and request.method == "GET":
            return self.list_jobs(request, listing["object"])
        match = BULK_PATH.match(request.path)
        if not match or METHODS[match["action"]] != request.method:
            return None
        object_path, export_id, action = match["object"], match["export_id"], match["action"]
        if action == "create":
            return None if export_id else self.create(request, object_path)
        if not export_id:
            return None
        if action == "file":
            return self.file(request, object_path, export_id)
        operation = {"enqueue": self._queue.enqueue, "status": self._queue.status,
                     "cancel": self._queue.cancel}[action]
        self._stats.count(request.client_id, f"{action}_calls")
        return success([operation(request.client_id, object_path, export_id)])

    def create(self, request: Request, object_path: str) -> Reply | dict[str, Any]:
        self._stats.count(request.client_id, "create_calls")
        body = request.json_body()
        if object_path.startswith(CUSTOM_OBJECT_PREFIX) and isinstance(body, dict):
            spec = validate_custom_object_create(object_path, body, self._data,
                                                 self._config.smart_lists_supported)
        else:
            spec = validate_create(object_path, body, self._data, self._config)
        if self._faults.take("create_without_result"):
            return success(None)  # seen by connectors: nothing was created, retry
        created = self._queue.create(request.client_id, spec)
        if self._faults.take("create_then_502"):
            # the job exists, but the caller cannot know: the ambiguous case a tap must reconcile
            return bad_gateway()
        return success([created])

    def list_jobs(self, request: Request, object_path: str) -> dict[str, Any]:
        statuses = None
        if request.query.get("status"):
            statuses = {s.strip() for s in request.query["status"].split(",") if s.strip()}
            unknown = statuses - STATUSES
            if unknown:
                raise ApiError("1003", f"Invalid status '{sorted(unknown)[0]}'")
            if "Canceled" in statuses:
                statuses.add("Cancelled")
        batch = int_param(request, "batchSize", MAX_BATCH, MAX_BATCH) or MAX_BATCH
        token = request.query.get("nextPageToken")
        offset = decode_token(token, 1)[0] if token else 0
        jobs = self._queue.list_jobs(request.client_id, object_path, statuses)
        body = success(jobs[offset : offset + batch])
        if offset + batch < len(jobs):
            body["nextPageToken"] = encode_token(offset + batch)
        return body

    def file(self, request: Request, object_path: str, export_id: str) -> Reply:
        self._stats.count(request.client_id, "file_calls")
        try:
            export = self._queue.completed_file(request.client_id, object_path, export_id)
        except KeyError:
            return Reply.plain(404, "Not Found")
        if self._faults.take("json_error_file"):
            return Reply(200, failure("611", "System error"))
        if self._faults.take("expired_file"):
            return Reply.plain(404, "Not Found")
        total = export.size
        start, end = 0, total - 1
        header = request.headers.get("range")
        status = 200
        if header:
            parsed = parse_range(header, total)
            if parsed is None:
                return Reply(416, text="Requested Range Not Satisfiable",
                             content_type="text/plain;charset=UTF-8",
                             headers={"Content-Range": f"bytes */{total}",
                                      "Accept-Ranges": "bytes"})
            (start, end), status = parsed, 206
        headers = {"Accept-Ranges": "bytes"}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        slice_ = FileSlice(export.path, start, end, total)
        if self._faults.take("drop_download"):
            slice_.drop_fraction = self._faults.drop_download_fraction
        slice_.corrupt = self._faults.take("corrupt_download")
        return Reply(status, content_type=CSV_CONTENT_TYPE, headers=headers, file=slice_)


def parse_range(header: str, total: int) -> tuple[int, int] | None:
    """(start, end) inclusive for "bytes=a-b", "bytes=a-" or "bytes=-n"; None = 416."""
    match = RANGE.match(header.strip())
    if not match or (not match[1] and not match[2]):
        return None
    if not match[1]:  # suffix: the last n bytes
        length = int(match[2])
        if length == 0 or total == 0:
            return None
        return max(0, total - length), total - 1
    start = int(match[1])
    end = int(match[2]) if match[2] else total - 1
    if start >= total or end < start:
        return None
    return start, min(end, total - 1)


def bad_gateway() -> Reply:
    return Reply.plain(
        502,
        "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
        "</h1></center><hr><center>nginx</center></body></html>",
        content_type="text/html",
    )
