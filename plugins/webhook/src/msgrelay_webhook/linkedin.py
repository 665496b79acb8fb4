"""Canonical LinkedIn profile URLs, so the same person matches whatever form a URL arrived in.

The rule of ``destinations.md`` §0.2: lower-case host, regional hosts (``uk.linkedin.com``) mapped to
``www.linkedin.com``, no query string or fragment, the ``/in/<slug>/`` form with exactly one trailing
slash, and non-ASCII characters percent-encoded.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = ["canonical_linkedin"]

_HOST = "www.linkedin.com"
#: Characters left as they are in a path segment (RFC 3986 pchar, less ``%``, which is re-encoded).
_SAFE = "-._~!$&'()*+,;=:@"


def _segment(raw: str) -> str:
    # Decode, then encode: ``%c3%a9``, ``%C3%A9`` and ``é`` all become ``%C3%A9``.
    return quote(unquote(raw), safe=_SAFE)


# Cached: a batch sent concurrently reads each lead's URL twice (its lane, then its payload).
@lru_cache(maxsize=4096)
def canonical_linkedin(url: str | None) -> str | None:
    """The canonical form of a LinkedIn URL; any other URL (or None) is returned as it came, stripped.

    >>> canonical_linkedin("http://UK.LinkedIn.com/in/ada-example?trk=public")
    'https://www.linkedin.com/in/ada-example/'
    """
    if url is None:
        return None
    text = url.strip()
    if not text:
        return text
    parts = urlsplit(text if "//" in text else "https://" + text)
    host = (parts.hostname or "").lower()
    if host != "linkedin.com" and not host.endswith(".linkedin.com"):
        return text
    segments = [_segment(s) for s in parts.path.split("/") if s]
    if len(segments) >= 2 and segments[0].lower() == "in":
        segments = ["in", segments[1]]
    path = "/" + "".join(s + "/" for s in segments)
    return urlunsplit(("https", _HOST, path, "", ""))
