"""download_export(): stream an export file to disk, resume with Range, verify SHA-256 and size.

Marketo cuts long connections, so a download that drops midway resumes from the bytes already
written (`Range: bytes=<written>-`, answered 206) instead of starting over; the SHA-256 is computed
as the bytes are written, so the file is never read twice nor held in memory.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import requests
import urllib3.exceptions

from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.errors import ExportJobError

CHUNK_SIZE = 1024 * 1024
MAX_FRUITLESS_RESUMES = 5  # interruptions in a row that brought no new byte
MAX_FULL_DOWNLOADS = 3  # whole downloads whose checksum or size did not match
RESUME_BACKOFF_SECONDS = 1.0

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")

# What a connection dropped or stalled midway looks like from iter_content.
INTERRUPTED = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    http.client.IncompleteRead,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
)


class _Truncated(Exception):
    """The body ended before its Content-Length."""


class _Restart(Exception):
    """The server's answer cannot continue what we have: start the file over."""


class DownloadDir:
    """Where verified files wait for the consumer: a directory holding at most `max_files`.

    `path` None: a temporary directory, created on first use and removed by cleanup().
    """

    def __init__(
        self, path: Path | None, max_files: int, *, on_free: Callable[[], None] | None = None
    ) -> None:
        self.max_files = max(1, max_files)
        self._given = path
        self._path: Path | None = None
        self._held = 0
        self._on_free = on_free
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        return self._held

    def reserve(self) -> bool:
        """Take a slot for one more file; False when `max_files` are already held."""
        with self._lock:
            if self._held >= self.max_files:
                return False
            self._held += 1
            return True

    def free(self) -> None:
        with self._lock:
            self._held = max(0, self._held - 1)
        if self._on_free is not None:
            self._on_free()

    def path_for(self, stream: str, export_id: str) -> Path:
        if self._path is None:
            if self._given is not None:
                self._given.mkdir(parents=True, exist_ok=True)
            self._path = self._given or Path(tempfile.mkdtemp(prefix="tap-marketo-bulk-"))
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{stream}-{export_id}")
        return self._path / f"{safe}.csv"

    def cleanup(self) -> None:
        """Remove the temporary directory (a directory given by the caller is left alone).

        Every slot is free again: files a consumer walked away from must not block the next run.
        """
        with self._lock:
            self._held = 0
        if self._path is not None and self._given is None:
            shutil.rmtree(self._path, ignore_errors=True)
            self._path = None


def file_path(object_path: str, export_id: str) -> str:
    return f"/bulk/v1/{object_path}/export/{export_id}/file.json"


def download_export(
    client: MarketoClient,
    object_path: str,
    export_id: str,
    dest: Path,
    *,
    file_size: int | None,
    checksum: str | None,
    logger: logging.Logger,
    sleep: Callable[[float], None] | None = None,
    chunk_size: int = CHUNK_SIZE,
    max_full_downloads: int = MAX_FULL_DOWNLOADS,
) -> Path:
    """Download export `export_id` to `dest`, verified against `checksum` and `file_size`.

    `checksum` is Marketo's `fileChecksum` ("sha256:<hex>"); None skips that check. A mismatch
    downloads again from scratch, up to `max_full_downloads` times, then raises ExportJobError.
    ExportFileGoneError (404) and MarketoErrors from the client propagate.
    """
    path = file_path(object_path, export_id)
    pause = sleep or client.sleep
    expected = checksum.strip().lower() if checksum else None
    started = time.monotonic()
    for attempt in range(1, max_full_downloads + 1):
        written, digest = _download_resumable(client, path, dest, file_size, pause, chunk_size,
                                              logger)
        actual = f"sha256:{digest}"
        problems = []
        if file_size is not None and written != file_size:
            problems.append(f"{written} bytes, fileSize says {file_size}")
        if expected and actual != expected:
            problems.append(f"checksum {actual}, fileChecksum says {expected}")
        if not problems:
            seconds = max(time.monotonic() - started, 1e-6)
            logger.info(
                "downloaded export %s: %.2f MB in %.1f s (%.2f MB/s)",
                export_id, written / 1e6, seconds, written / 1e6 / seconds,
            )
            return dest
        logger.warning(
            "export %s: downloaded file does not match (%s); download %d of %d",
            export_id, "; ".join(problems), attempt, max_full_downloads,
        )
    raise ExportJobError(
        "checksum-mismatch",
        f"export {export_id}: the downloaded file did not match Marketo's fileSize/fileChecksum "
        f"after {max_full_downloads} downloads",
        path,
    )


def _download_resumable(
    client: MarketoClient,
    path: str,
    dest: Path,
    file_size: int | None,
    sleep: Callable[[float], None],
    chunk_size: int,
    logger: logging.Logger,
) -> tuple[int, str]:
    """One whole download, resumed after interruptions: (bytes written, sha256 hex)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    written = 0
    most_written = 0  # progress is only progress past the furthest point ever reached
    fruitless = 0
    with dest.open("wb") as out:
        while True:
            # identity: Range offsets and the checksum are about the file's own bytes.
            headers = {"Accept-Encoding": "identity"}
            if written:
                headers["Range"] = f"bytes={written}-"
            response = client.open_stream(path, headers)
            try:
                if _already_complete(response, written, file_size):
                    break
                offset = _start_offset(response, written)
                if offset != written:  # server sent the whole file: start over
                    out.seek(0)
                    out.truncate()
                    hasher = hashlib.sha256()
                    written = 0
                written = _copy_body(response, out, hasher, written, chunk_size)
                break
            except (*INTERRUPTED, _Truncated, _Restart) as exc:
                if isinstance(exc, _Restart):
                    out.seek(0)
                    out.truncate()
                    hasher = hashlib.sha256()
                    written = 0
                written = out.tell()
                if written > most_written:
                    most_written, fruitless = written, 0
                else:
                    fruitless += 1
                if fruitless > MAX_FRUITLESS_RESUMES:
                    raise ExportJobError(
                        "download-interrupted",
                        f"download interrupted {fruitless} times without progress at byte "
                        f"{written} ({type(exc).__name__})",
                        path,
                    ) from None
                logger.warning(
                    "download of %s interrupted at byte %d (%s); resuming", path, written,
                    client.redact(f"{type(exc).__name__}: {exc}"),
                )
                sleep(RESUME_BACKOFF_SECONDS * max(1, fruitless))
            finally:
                response.close()
    return written, hasher.hexdigest()


def _already_complete(response: requests.Response, written: int, file_size: int | None) -> bool:
    """416 to our Range: complete if we hold the whole file, else the file changed under us."""
    if response.status_code != 416:
        return False
    match = re.search(r"/(\d+)", response.headers.get("Content-Range", ""))
    total = int(match.group(1)) if match else file_size
    if total is not None and written == total:
        return True
    raise _Restart(f"416 at byte {written} of {total}")


def _start_offset(response: requests.Response, written: int) -> int:
    """Where the body starts in the file: 0 for a 200, the Content-Range start for a 206."""
    if response.status_code == 200:
        return 0
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if not match or int(match.group(1)) != written:
        # A 206 that does not continue where we stopped cannot be spliced in safely.
        raise _Restart(f"206 with Content-Range {response.headers.get('Content-Range')!r}")
    return written


def _copy_body(
    response: requests.Response, out: BinaryIO, hasher: hashlib._Hash, written: int,
    chunk_size: int,
) -> int:
    """Append the body to `out`, hashing it; the new total. Raises _Truncated on a short body."""
    expected_length = response.headers.get("Content-Length")
    received = 0
    for chunk in _body_chunks(response, chunk_size):
        if chunk:
            out.write(chunk)
            hasher.update(chunk)
            received += len(chunk)
    out.flush()
    if expected_length is not None and expected_length.isdigit() and received < int(
        expected_length
    ):
        raise _Truncated(f"body ended after {received} of {expected_length} bytes")
    return written + received


def _body_chunks(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
    """The body as it arrives, at most `chunk_size` bytes at a time.

    iter_content() waits for a whole chunk and, when the connection drops first, discards the
    bytes it had already received (urllib3 raises IncompleteRead with them in its buffer): a file
    smaller than a chunk would always restart from byte 0. read1() hands over what has arrived, so
    a drop loses nothing and the Range resume starts where the bytes really stopped.
    """
    read1 = getattr(response.raw, "read1", None)
    if read1 is None:
        yield from response.iter_content(chunk_size)
        return
    while True:
        chunk = read1(chunk_size, decode_content=True)
        if not chunk:
            return
        yield chunk
