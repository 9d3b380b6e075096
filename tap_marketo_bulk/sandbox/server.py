"""HTTP plumbing: the order Marketo applies its checks in, and the wire format of replies.

Per API call (identity aside): count it, fault 502, reject a token in the query string (603,
counted in stats), check the bearer token (603/601/602), concurrency (615), rate (606), then route.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .assets_api import arm_after_call, match_route
from .auth import ConcurrencyGate, RateLimiter, TokenStore, rate_limit_error
from .bulk_api import BulkEndpoints, bad_gateway
from .clock import SandboxClock
from .config import Faults, SandboxConfig
from .disappear import delete_after_listing
from .envelope import MESSAGES, ApiError, FileSlice, Reply, Request, failure, success
from .rest_api import RestEndpoints, identity
from .stats import StatsRecorder
from .timeutil import marketo_day

IDENTITY_PATH = "/identity/oauth/token"
USAGE_PATH = "/rest/v1/stats/usage.json"
READ_SIZE = 256 * 1024
log = logging.getLogger(__name__)


class ApiPipeline:
    def __init__(self, config: SandboxConfig, faults: Faults, tokens: TokenStore,
                 stats: StatsRecorder, rest: RestEndpoints, bulk: BulkEndpoints,
                 clock: SandboxClock | None = None) -> None:
        self._config, self._faults, self._tokens, self._stats = config, faults, tokens, stats
        self.clock = clock or SandboxClock()  # the instance's "now": Date header, usage day
        self._limiter = RateLimiter(config.max_calls_per_20s)
        self._gate = ConcurrencyGate(config.max_concurrent_calls)
        self._rest_routes = rest.routes()
        self._data = rest.dataset  # for the deletions Faults arms (disappear.py)
        self._bulk = bulk

    def handle(self, request: Request) -> Reply:
        if self._config.latency_seconds > 0:
            time.sleep(self._config.latency_seconds)
        if request.path == IDENTITY_PATH:
            self._stats.count("", "token_requests")  # identity does not count as an API call
            return identity(request, self._tokens)
        authorization = request.headers.get("authorization", "")
        bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        query_token = request.query.get("access_token")
        request.client_id = self._tokens.peek(bearer or query_token)  # attribution only
        self._stats.api_call(request.client_id, time.monotonic())
        try:
            if self._faults.take("http_502"):
                return bad_gateway()
            if query_token is not None:
                # being removed by Marketo, and it leaks the token into logs: refused here
                self._stats.count(request.client_id, "tokens_in_query")
                raise ApiError("603", MESSAGES["603"])
            request.client_id = self._tokens.client_for(bearer)
            self._gate.enter()
            try:
                if self._faults.take("rate_limit_burst"):
                    raise rate_limit_error(self._config.max_calls_per_20s)
                self._limiter.admit()
                reply = self._route(request)
                arm_after_call(self._faults, request.path)
                delete_after_listing(self._faults, self._data, request.path)
                return reply
            finally:
                self._gate.leave()
        except ApiError as error:
            self._stats.error(request.client_id, error.code)
            return Reply(200, failure(error.code, error.message))

    def _route(self, request: Request) -> Reply:
        if request.path == USAGE_PATH and request.method == "GET" and self._config.usage_endpoint:
            return Reply(200, self._usage())
        endpoint = self._rest_routes.get(request.path) or match_route(
            self._rest_routes, request.path)
        if request.path.startswith("/rest/asset/") and not self._config.asset_permission:
            raise ApiError("603", MESSAGES["603"])  # a role without Asset permissions
        if endpoint is not None and request.method == "GET":
            return Reply(200, endpoint(request))
        answer = self._bulk.dispatch(request)
        if answer is None:
            raise ApiError("610", MESSAGES["610"])
        return answer if isinstance(answer, Reply) else Reply(200, answer)


    def _usage(self) -> dict[str, Any]:
        """Marketo's Usage API answer for today: calls counted since the sandbox started (or
        reset_stats), this one included, the API user named by its client id."""
        total, per_client = self._stats.api_calls()
        users = [{"userId": f"{client_id}@sandbox.example", "count": count}
                 for client_id, count in sorted(per_client.items())]
        day = marketo_day(self.clock.now())
        return success([{"date": f"{day}T00:00:00Z", "total": total, "users": users}])


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients pool connections
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid 40 ms stalls
    pipeline: ApiPipeline
    stats: StatsRecorder

    def version_string(self) -> str:
        return "nginx"

    def date_time_string(self, timestamp: float | None = None) -> str:
        # Every answer carries a Date header (RFC 9110 section 6.6.1): the instance's clock.
        return super().date_time_string(self.pipeline.clock.now() if timestamp is None
                                        else timestamp)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        request = Request(method, url.path, dict(parse_qsl(url.query, keep_blank_values=True)),
                          {k.lower(): v for k, v in self.headers.items()}, body)
        try:
            reply = self.pipeline.handle(request)
        except Exception:  # a sandbox bug must show as Marketo's "System error", not hang
            log.exception("sandbox failed on %s %s", method, self.path)
            reply = Reply(200, failure("611", MESSAGES["611"]))
        try:
            if reply.file is not None:
                self._send_file(reply, reply.file, request.client_id)
            else:
                self._send_body(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_body(self, reply: Reply) -> None:
        if reply.payload is not None:
            data = json.dumps(reply.payload, ensure_ascii=False).encode("utf-8")
        else:
            data = (reply.text or "").encode("utf-8")
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_file(self, reply: Reply, part: FileSlice, client_id: str) -> None:
        length = part.end - part.start + 1 if part.total else 0
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(length))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        to_send = length if part.drop_fraction is None else int(length * part.drop_fraction)
        corrupt_at = length // 2 if part.corrupt and length else -1
        sent = 0
        try:
            with open(part.path, "rb") as source:
                source.seek(part.start)
                while sent < to_send:
                    chunk = source.read(min(READ_SIZE, to_send - sent))
                    if not chunk:
                        break
                    if sent <= corrupt_at < sent + len(chunk):
                        chunk = flip_byte(chunk, corrupt_at - sent)
                    self.wfile.write(chunk)
                    sent += len(chunk)
        finally:
            self.stats.count(client_id, "bytes_downloaded", sent)
        if part.drop_fraction is not None:
            # the connection is cut mid-body: the client sees fewer bytes than Content-Length
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


def flip_byte(chunk: bytes, index: int) -> bytes:
    """Change one ASCII letter or digit at or after `index` into another one, so the file still
    decodes and parses, and only the checksum gives the damage away."""
    data = bytearray(chunk)
    for position in range(index, len(data)):
        byte = data[position]
        if 0x30 <= byte <= 0x39:
            data[position] = 0x30 + (byte - 0x30 + 1) % 10
            return bytes(data)
        if 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A:
            data[position] = byte ^ 0x20  # swap case
            return bytes(data)
    data[index] ^= 0x01
    return bytes(data)


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_server(host: str, port: int, pipeline: ApiPipeline, stats: StatsRecorder,
                ) -> SandboxHTTPServer:
    handler = type("BoundSandboxRequestHandler", (SandboxRequestHandler,),
                   {"pipeline": pipeline, "stats": stats})
    return SandboxHTTPServer((host, port), handler)
