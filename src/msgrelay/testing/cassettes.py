"""vcrpy configuration that keeps secrets out of cassettes, and a scanner that proves it.

Cassettes are recorded from the sandbox (on a random loopback port) or from the live APIs; both are
rewritten to one canonical base URL per API, so the same cassette replays whichever produced it:

* ``http://upscale.cassette/api/v2`` for Upscale Outreach,
* ``http://collect.cassette/v1`` for Collect.

Credentials are scrubbed from request headers (``Api-Key``, ``Authorization``), from response
headers (``Set-Cookie``), and from request bodies (the ``token`` of a notify URL).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

CANONICAL_BASES: Mapping[str, str] = {
    "upscale": "http://upscale.cassette/api/v2",
    "collect": "http://collect.cassette/v1",
}
__all__ = ["REDACTED", "BaseRewriter", "Leak", "scan_for_secrets", "scrub_text", "vcr_config"]

REDACTED = "REDACTED"
SECRET_HEADERS = ("api-key", "authorization", "x-api-key", "cookie", "x-msgrelay-token")
SECRET_RESPONSE_HEADERS = ("set-cookie",)
_TOKEN_IN_TEXT = re.compile(r"(token=)[^&\"'\s\\]+")

#: Header lines in a YAML cassette that carry a credential-looking value (what the scanner flags).
_CREDENTIAL_HEADER = re.compile(
    r"^\s*['\"]?(api-key|authorization|x-api-key|x-msgrelay-token)['\"]?:\s*\n?\s*-?\s*['\"]?"
    r"(?:(?:Basic|Bearer|Token)\s+)?(?!REDACTED)([^'\"\s\]]{8,})",
    re.IGNORECASE | re.MULTILINE,
)


@attrs.define
class BaseRewriter:
    """Maps the base URLs a test really used to the canonical ones, for recording and for matching."""

    actual_to_canonical: dict[str, str] = attrs.field(factory=dict)

    def register(self, actual_base: str, api: str) -> None:
        """Record that ``actual_base`` stands for ``api`` (``upscale`` or ``collect``)."""
        self.actual_to_canonical[actual_base.rstrip("/")] = CANONICAL_BASES[api]

    def rewrite(self, uri: str) -> str:
        """``uri`` with its real base replaced by the canonical one."""
        for actual, canonical in self.actual_to_canonical.items():
            if uri.startswith(actual):
                return canonical + uri[len(actual) :]
        return uri


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace notify-URL tokens and every known secret in ``text``."""
    text = _TOKEN_IN_TEXT.sub(rf"\g<1>{REDACTED}", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def vcr_config(rewriter: BaseRewriter, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """Keyword arguments for ``vcr.VCR`` (or pytest-recording's ``vcr_config`` fixture)."""
    known_secrets = tuple(s for s in secrets if s)

    def before_record_request(request: Any) -> Any:
        request.uri = rewriter.rewrite(request.uri)
        if request.body:
            body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
            request.body = scrub_text(body.decode("utf-8", "replace"), known_secrets).encode()
        return request

    def before_record_response(response: dict[str, Any]) -> dict[str, Any]:
        headers = response.get("headers", {})
        for name in list(headers):
            if name.lower() in SECRET_RESPONSE_HEADERS:
                del headers[name]
        body = response.get("body", {})
        raw = body.get("string")
        if isinstance(raw, bytes) and known_secrets:
            body["string"] = scrub_text(raw.decode("utf-8", "replace"), known_secrets).encode()
        return response

    return {
        "filter_headers": [(name, REDACTED) for name in SECRET_HEADERS],
        "filter_query_parameters": [("token", REDACTED), ("api_key", REDACTED)],
        "before_record_request": before_record_request,
        "before_record_response": before_record_response,
        "match_on": ["method", "scheme", "host", "port", "path", "query"],
        "decode_compressed_response": True,
    }


@attrs.frozen
class Leak:
    """A place in a cassette that holds a credential."""

    path: Path
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def scan_for_secrets(root: Path, secrets: Iterable[str] = ()) -> list[Leak]:
    """Every cassette line under ``root`` holding a known secret or a credential header value."""
    known = [s for s in secrets if s and len(s) >= 6]
    leaks: list[Leak] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in {".yaml", ".yml", ".json"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for secret in known:
            index = text.find(secret)
            if index >= 0:
                leaks.append(Leak(path, text.count("\n", 0, index) + 1, "a known secret value"))
        leaks.extend(
            Leak(path, text.count("\n", 0, m.start()) + 1, f"a credential in the {m.group(1)} header")
            for m in _CREDENTIAL_HEADER.finditer(text)
        )
        leaks.extend(
            Leak(path, text.count("\n", 0, m.start()) + 1, "a notify-URL token")
            for m in re.finditer(r"token=(?!REDACTED)[A-Za-z0-9_\-]{8,}", text)
        )
    return leaks
