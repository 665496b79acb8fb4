"""Redaction: secrets out of URLs and texts before they reach a log line, an exception or a page.

A leaf: it imports nothing from msgrelay, so the error tree, the configuration and every layer above
can use it.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["CREDENTIAL_HEADERS", "REDACTED", "SECRET_QUERY_KEYS", "Secret", "redact_text", "redact_url"]

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


class Secret:
    """A credential that shows itself only when asked: `repr`, `str` and `format` say ``REDACTED``.

    Clients, auth objects and verifiers hold their keys in one, so ``vars(client)``, a debugger, an
    error tracker's locals dump or an f-string never prints the key; `reveal` is called only where the
    key goes on the wire. Equality is constant-time.

    Args:
        value: the secret text.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return format(REDACTED, spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        # A pickled client (a multiprocessing hand-off) must not carry the key in the clear by accident.
        raise TypeError("a Secret cannot be pickled; pass the key by the environment")


def redact_text(text: str, secrets: Iterable[str | Secret]) -> str:
    """``text`` with every occurrence of each secret replaced by ``REDACTED``."""
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            text = text.replace(value, REDACTED)
    return text
