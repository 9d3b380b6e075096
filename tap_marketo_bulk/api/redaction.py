"""Masking of secrets (client secret, access token) in log lines and exception messages.

Marketo wants the credentials as query parameters and the token as a bearer header, so a URL or
request line that reaches a log or an error could carry them: MarketoClient masks such text here.
"""

from __future__ import annotations

import logging
import re

_SECRET_QUERY_PARAM = re.compile(r"((?:client_secret|access_token)=)[^&\s'\"]+", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[^\s'\",]+", re.IGNORECASE)


def redact_secrets(text: str, *secrets: str | None) -> str:
    """`text` with query-string secrets, bearer tokens and the given literal values masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _SECRET_QUERY_PARAM.sub(r"\1***", text)
    return _BEARER.sub(r"\1***", text)


class RedactSecretsFilter(logging.Filter):
    """urllib3 logs every request line, query string included, at DEBUG: mask the secrets in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_secrets(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_secrets(record.msg)
        return True


def install_urllib3_redaction() -> None:
    urllib3_logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, RedactSecretsFilter) for f in urllib3_logger.filters):
        urllib3_logger.addFilter(RedactSecretsFilter())
