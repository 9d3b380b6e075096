"""Exceptions of the tap: one place so every layer raises and catches the same types."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the setting in one line."""


class MarketoError(Exception):
    """Marketo answered with an error (a `success:false` envelope or an HTTP error).

    `code` is Marketo's string code ("606", "1029", ...) or "HTTP <status>".
    """

    def __init__(self, code: str, message: str, endpoint: str = "") -> None:
        self.code = str(code)
        self.message = message
        self.endpoint = endpoint
        where = f" ({endpoint})" if endpoint else ""
        super().__init__(f"Marketo error {self.code}: {message}{where}")


class MarketoAuthError(MarketoError):
    """Identity rejected the client_id/client_secret (HTTP 401)."""


class AmbiguousRequestError(MarketoError):
    """A non-idempotent request may or may not have been carried out (502/500/604/608/611, timeout).

    Raised instead of retrying so the caller can reconcile (e.g. look for a job `create` made).
    """


class QueueFullError(MarketoError):
    """1029 "Too many jobs in queue": back off and try again."""


class QuotaExceededError(MarketoError):
    """1029 "Export daily quota ... exceeded": stop; resume after midnight US Central."""


class UnsupportedFilterError(MarketoError):
    """1035 "Unsupported filter type for target subscription"."""


class ResourceGoneError(MarketoError):
    """The item a per-item call names no longer exists (610, 702, 710, 1013): a program, list or
    segmentation deleted since the list call that named it. Callers skip that item."""


class ExportFileGoneError(MarketoError):
    """file.json answered 404 for a job reported Completed (expired): export the window again."""


class ExportJobError(MarketoError):
    """An export that could not become a verified file (Failed twice at one day, timed out, ...)."""


class StateError(ValueError):
    """The input state can't be used as it is; the message names the stream and key to fix."""


class ColumnTypeError(ValueError):
    """A value from Marketo that its column's type can't hold; the message names the stream,
    the column, the value and the setting that fixes it (type_overrides)."""


class ExportFileError(ValueError):
    """An export file row that cannot be read as the header's columns (a quote Marketo left
    unescaped where no rule can tell where the value ends); names the stream, the window, the
    row and the column."""
