"""Redaction: secrets out of URLs and texts before they reach a log line, an exception or a page.

A leaf: it imports nothing from msgrelay, so the error tree, the configuration and every layer above
can use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["CREDENTIAL_HEADERS", "REDACTED", "SECRET_QUERY_KEYS", "redact_text", "redact_url"]

#: Query parameters whose values never appear in a log line or an exception.
SECRET_QUERY_KEYS = frozenset({"token", "key", "api_key", "apikey", "secret", "password", "signature"})
REDACTED = "REDACTED"
#: Request headers that carry a credential; blanked on any response an error keeps.
CREDENTIAL_HEADERS = ("Authorization", "Api-Key", "X-Api-Key", "Cookie", "Proxy-Authorization")


def redact_url(url: str) -> str:
    """The URL with user info and secret-looking query values replaced by ``REDACTED``."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = urlencode(
        [
            (k, REDACTED if k.lower() in SECRET_QUERY_KEYS else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``REDACTED``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text
