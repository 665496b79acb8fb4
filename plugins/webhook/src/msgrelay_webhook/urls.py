"""The endpoint URL: checked before use, kept out of logs, and refused when it points inward.

A catch-hook URL is often the only credential (Zapier's ``/hooks/catch/<user>/<hook>/``), so only its
scheme and host are ever shown. HTTPS is required, and an address that is not publicly routable
(loopback, private, link-local...) is refused, unless the endpoint is explicitly allowed to be
insecure (a local n8n, a test receiver). An IPv6 address that embeds an IPv4 address (IPv4-mapped,
NAT64 ``64:ff9b::/96``, 6to4, Teredo...) is judged by that IPv4 address as well.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from msgrelay.errors import ConfigurationError

__all__ = ["check_public", "check_url", "safe_url"]


def safe_url(url: str) -> str:
    """``scheme://host[:port]/…``: the URL without user info, path or query (they may be the secret)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    hidden = parts.path not in ("", "/") or parts.query or parts.fragment
    return f"{parts.scheme}://{netloc}/{'…' if hidden else ''}"


def check_url(url: str, *, allow_insecure: bool, source: str) -> None:
    """Raise a `ConfigurationError` naming ``source`` unless ``url`` is an absolute http(s) URL we may use.

    Plain ``http://`` and literal non-public IP addresses need ``allow_insecure``.
    """
    hint = f"check {source}" + ("" if allow_insecure else " (or allow an insecure endpoint explicitly)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{source} must be an absolute https:// URL, got {safe_url(url)!r}")
    try:
        parts.port  # noqa: B018 - reading it validates it
    except ValueError:
        raise ConfigurationError(f"{source} has an invalid port: {safe_url(url)!r}") from None
    if parts.scheme != "https" and not allow_insecure:
        raise ConfigurationError(f"{source} must use https://, got {safe_url(url)!r}; {hint}")
    address = _literal_address(parts.hostname)
    if address is not None and not allow_insecure and not _public(address):
        raise ConfigurationError(f"{source} points to a non-public address {address}; {hint}")


def check_public(url: str, *, allow_insecure: bool) -> None:
    """Resolve the URL's host and refuse it when any address is not publicly routable (SSRF guard).

    Skipped when ``allow_insecure``. The request itself resolves again, so a DNS answer that changes
    in between is not caught: this stops mistakes and casual misuse, not a hostile DNS server.
    """
    if allow_insecure:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return  # unresolvable: the request fails with a clear transport error of its own
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).partition("%")[0])
        if not _public(address):
            raise ConfigurationError(
                f"webhook URL {safe_url(url)} resolves to a non-public address {address}; "
                "allow an insecure endpoint explicitly to deliver there"
            )


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None


#: NAT64's well-known prefix (RFC 6052): the last 32 bits are the IPv4 address the gateway reaches.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
#: Local-use NAT64 (RFC 8215): a site's own translator, never a public destination.
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
#: The deprecated IPv4-compatible form ``::a.b.c.d`` (RFC 4291 §2.5.5.1).
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
#: SIIT's IPv4-translated form ``::ffff:0:a.b.c.d`` (RFC 2765).
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` is publicly routable: not loopback, private, link-local, reserved, multicast...

    An IPv6 address that carries an IPv4 address (IPv4-mapped or -compatible, SIIT, NAT64, 6to4,
    Teredo) reaches that IPv4 host, so the IPv4 address must pass the same rules.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return _public(address.ipv4_mapped)
        if address in _NAT64_LOCAL:
            return False
        if not all(_public(embedded) for embedded in _embedded_ipv4(address)):
            return False
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses that ``address`` carries (for Teredo: the server and the client)."""
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo
    if address in _NAT64 or address in _IPV4_COMPATIBLE or address in _IPV4_TRANSLATED:
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    return ()
