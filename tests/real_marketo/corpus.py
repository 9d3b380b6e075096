"""Files and answers captured from real Marketo instances: where they are, and what each one is.

The captures live outside the repository (`shared/real-marketo/` beside it: other projects' test
data, not copied here). Every file there is classified by its content, never by its name, so a
file dropped in later is checked without code changes; a file no rule recognises is a failure
naming the file and why (a capture silently skipped would look covered while nothing read it).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ENV_VAR = "MARKETO_REAL_CAPTURES"
REPO_ROOT = Path(__file__).resolve().parents[2]

# Kinds of capture, each checked by the code that reads that shape in the tap.
EXPORT_FILE = "bulk export file"
DESCRIBE = "field describe"
ACTIVITY_TYPES = "activity types"
HTTP_EXCHANGE = "recorded HTTP exchange"
JOB_RUN_NOTES = "bulk job run notes"
REST_PAGES = "REST pages"
OPENAPI = "OpenAPI spec"
PROVENANCE = "provenance notes"


@dataclass
class Capture:
    path: Path
    kind: str
    payload: Any = None  # parsed content (JSON value, Exchange, text)
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"


class Unrecognised(Exception):
    """A corpus file no rule here can read; the message names the file and why."""


def corpus_dir() -> tuple[Path | None, str]:
    """The captures' folder, or None and why it was not found."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        path = Path(configured).expanduser()
        if path.is_dir():
            return path, ""
        return None, f"{ENV_VAR}={configured} is not a directory"
    # The repository (a clone or a git worktree such as /work/wt/i20) sits beside `shared/`,
    # or deeper under the folder that holds it: look in every parent.
    for parent in REPO_ROOT.parents:
        candidate = parent / "shared" / "real-marketo"
        if candidate.is_dir():
            return candidate, ""
    return None, (
        f"no shared/real-marketo/ beside the repository or its parents (set {ENV_VAR} to "
        "the folder of captured Marketo files to run these tests)"
    )


def discover(root: Path) -> list[Path]:
    """Every file under `root` (hidden files aside), in a stable order."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


# ----- classification -------------------------------------------------------------------------

_CSV_HEADER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(,[A-Za-z_][A-Za-z0-9_]*)*")
_REQUEST_LINE = re.compile(r"(GET|POST|PUT|DELETE) (/\S*)")
_DESCRIBE_KEYS = ("dataType", "marketoDataType")


@cache
def classify(path: Path) -> Capture:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unrecognised(f"{path}: not UTF-8 text ({exc})") from None
    first_line = text.split("\n", 1)[0].rstrip("\r").removeprefix("\ufeff")
    if _CSV_HEADER.fullmatch(first_line) and "," in first_line and "\n" in text:
        return Capture(path, EXPORT_FILE, text)
    if _REQUEST_LINE.fullmatch(first_line):
        return Capture(path, HTTP_EXCHANGE, parse_exchange(path, text))
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if value is not None:
        return _classify_json(path, value)
    if '"exportId"' in text or '"statusLine"' in text:  # pasted answers of a job's run
        return Capture(path, JOB_RUN_NOTES, text)
    if first_line.startswith("# ") and path.suffix == ".md":
        return Capture(path, PROVENANCE, text)
    raise Unrecognised(
        f"{path}: not a CSV with an API-name header, a recorded HTTP exchange, JSON of a known "
        "shape, notes holding pasted bulk answers (exportId, statusLine) nor a markdown page: "
        "teach tests/real_marketo/corpus.py what it is"
    )


def describe_fields(value: Any) -> list[dict] | None:
    """The field list of a describe answer in any of the shapes captured, else None."""
    if isinstance(value, dict):
        if "fields" in value:
            return describe_fields(value["fields"])
        result = value.get("result")
        if isinstance(result, list) and result:
            if isinstance(result[0], dict) and "fields" in result[0]:
                return describe_fields(result[0]["fields"])
            return describe_fields(result)
        return None
    if (
        isinstance(value, list)
        and value
        and all(isinstance(f, dict) and any(k in f for k in _DESCRIBE_KEYS) for f in value)
    ):
        return value
    return None


def _classify_json(path: Path, value: Any) -> Capture:
    if isinstance(value, dict) and ("swagger" in value or "openapi" in value):
        return Capture(path, OPENAPI, value)
    fields = describe_fields(value)
    if fields is not None:
        return Capture(path, DESCRIBE, fields)
    items = value if isinstance(value, list) else None
    if items and all(isinstance(i, dict) and set(i) >= {"id", "name"} for i in items) and all(
        set(i) <= {"id", "name", "description", "apiName", "primaryAttribute", "attributes"}
        for i in items
    ):
        return Capture(path, ACTIVITY_TYPES, items)
    pages = rest_pages(value)
    if pages is not None:
        return Capture(path, REST_PAGES, pages)
    raise Unrecognised(f"{path}: JSON, but not a describe, activity types, REST pages nor a spec")


def rest_pages(value: Any) -> list[dict] | None:
    """REST answers as envelopes: `{"responses": [...]}`, one envelope, or a bare result list."""
    if isinstance(value, dict) and isinstance(value.get("responses"), list):
        pages = value["responses"]
    elif isinstance(value, dict) and "result" in value:
        pages = [value]
    elif isinstance(value, list) and all(isinstance(i, dict) for i in value):
        pages = [{"success": True, "result": value}]
    else:
        return None
    if not all(isinstance(p, dict) and isinstance(p.get("result", []), list) for p in pages):
        return None
    return pages


# ----- recorded HTTP exchanges (node-marketo's fixtures) ------------------------------------------


@dataclass
class Exchange:
    method: str
    path: str  # normalised: "/rest/../bulk/v1/..." -> "/bulk/v1/..."
    request_body: Any
    status: int
    headers: dict[str, str]
    body: Any


def parse_exchange(path: Path, text: str) -> Exchange:
    """A request line, request headers (and a `body:` line), a blank line, a status line,
    response headers, a blank line and the JSON body."""
    request, _, response = text.partition("\n\n")
    request_lines = request.splitlines()
    match = _REQUEST_LINE.fullmatch(request_lines[0])
    assert match is not None
    method, target = match.groups()
    body_line = next((ln for ln in request_lines if ln.startswith("body: ")), None)
    request_body = json.loads(body_line[6:].replace('\\"', '"')) if body_line else None
    head, _, payload = response.strip("\n").partition("\n\n")
    status_line, *header_lines = head.splitlines()
    status = next((int(w) for w in status_line.split() if w.isdigit() and len(w) == 3), None)
    if status is None:
        raise Unrecognised(f"{path}: no HTTP status in {status_line!r}")
    headers = dict(line.split(": ", 1) for line in header_lines if ": " in line)
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise Unrecognised(f"{path}: the response body is not JSON ({exc})") from None
    return Exchange(method, os.path.normpath(target.split("?")[0]), request_body, status,
                    {k.lower(): v for k, v in headers.items()}, body)


# ----- bulk job run notes (snaplogic's markdown with pasted answers) ------------------------------


def json_objects_with(text: str, key: str) -> list[dict]:
    """Every JSON object in `text` holding `key` at its top level, found by brace matching: the
    notes around them (and some of their neighbours) are not JSON."""
    found = []
    for start in [m.start() for m in re.finditer(r"\{", text)]:
        depth = 0
        for end in range(start, len(text)):
            if text[end] == "{":
                depth += 1
            elif text[end] == "}":
                depth -= 1
                if depth == 0:
                    break
        try:
            value = json.loads(text[start : end + 1])
        except ValueError:
            continue
        if isinstance(value, dict) and key in value:
            found.append(value)
    return found


def header_blocks(text: str) -> list[dict[str, str]]:
    """The `"headers": {...}` blocks of pasted answers (lower-case names)."""
    blocks = []
    for match in re.finditer(r'"headers":\s*\{([^}]*)\}', text):
        pairs = re.findall(r'"([A-Za-z-]+)":\s*"([^"]*)"', match.group(1))
        blocks.append({name.lower(): value for name, value in pairs})
    return blocks
