"""Reading Marketo's answers: the JSON envelope, and its error as the right MarketoError type.

Marketo reports errors as `{"success": false, "errors": [{"code": ..., "message": ...}]}`; the code
decides the exception type the callers catch (1029 -> QueueFullError / QuotaExceededError by
message, 1035 -> UnsupportedFilterError), and terse codes get a hint of what to do about them.
"""

from __future__ import annotations

from collections.abc import Callable

import requests

from tap_marketo_bulk.errors import (
    MarketoError,
    QueueFullError,
    QuotaExceededError,
    ResourceGoneError,
    UnsupportedFilterError,
)

# Codes that are not retried but deserve more than Marketo's terse message.
ERROR_HINTS: dict[str, str] = {
    "603": (
        "Access denied: the API user's role lacks a permission this endpoint needs (bulk extract "
        "needs Read-Only Lead and Read-Only Activity; programs need Read-Only Assets)"
    ),
    "607": "daily API call quota reached (it resets at midnight US Central)",
    "1003": "Marketo rejected the request as invalid",
    "1006": "a requested field does not exist in this instance (re-run discovery or deselect it)",
}
# What Marketo answers when the thing a call names is not there (Adobe, error-codes.md): 610
# "Requested resource not found", 702 "No data found for a given search scenario", 710 "Parent
# Folder Not Found", 1013 "Object not found" (get list/campaign by id). A per-item call that gets
# one after the list call named the item means the item was deleted in between.
NOT_FOUND_CODES = frozenset({"610", "702", "710", "1013"})


def envelope_error(envelope: dict, path: str, redact: Callable[[str], str]) -> MarketoError:
    """The exception for a `success: false` envelope; `redact` masks secrets in its message."""
    errors = envelope.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
    code = str(first.get("code", "unknown"))
    message = redact(str(first.get("message") or "success:false without an error"))
    if code == "1029":
        if "quota" in message.lower():
            return QuotaExceededError(code, message, path)
        return QueueFullError(code, message, path)
    if code == "1035":
        return UnsupportedFilterError(code, message, path)
    if code in NOT_FOUND_CODES:
        return ResourceGoneError(code, message, path)
    if code in ERROR_HINTS:
        message = f"{ERROR_HINTS[code]}: {message}"
    return MarketoError(code, message, path)


def json_object(response: requests.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
