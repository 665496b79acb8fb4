"""The webhook destination's settings, and the one place that reads them from the environment.

=================================== ===========================================================
``MSGRELAY_WEBHOOK_URL``            required: where each lead is POSTed (``https://`` only, unless
                                    ``MSGRELAY_WEBHOOK_ALLOW_INSECURE`` is set)
``MSGRELAY_WEBHOOK_SIGNING_SECRET`` optional: ``whsec_`` + base64 of 24 to 64 bytes; several,
                                    space-separated, while rotating
``MSGRELAY_WEBHOOK_HEADERS``        optional: static headers, ``Name: value``, one per line
``MSGRELAY_WEBHOOK_TIMEOUT``        optional: seconds to wait for the answer (default 15)
``MSGRELAY_WEBHOOK_ALLOW_INSECURE`` optional: ``1`` allows ``http://`` and loopback or private hosts
``MSGRELAY_WEBHOOK_CONCURRENCY``    optional: requests in flight at once in a batch (default 8,
                                    1 to 64; 1 sends one after the other)
=================================== ===========================================================

A config file's ``[destinations.NAME]`` table gives the same settings by key, the variable's suffix in
lower case (``url``, ``signing_secret_env = "VARIABLE"``...): `WebhookConfig.from_settings`.

An explicit argument beats the environment. Secrets (the signing secret, header values, the URL's
path) never appear in a repr or an error message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from msgrelay.config import DEFAULT_CONNECT_TIMEOUT, read_env
from msgrelay.errors import ConfigurationError
from msgrelay.transport import Timeout
from msgrelay_webhook.signing import (
    SECRET_PREFIX,
    WEBHOOK_ID,
    WEBHOOK_SIGNATURE,
    WEBHOOK_TIMESTAMP,
    SigningSecret,
)
from msgrelay_webhook.urls import check_url, safe_url

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_TIMEOUT",
    "MAX_BODY_BYTES",
    "MAX_CONCURRENCY",
    "MSGRELAY_WEBHOOK_ALLOW_INSECURE",
    "MSGRELAY_WEBHOOK_CONCURRENCY",
    "MSGRELAY_WEBHOOK_HEADERS",
    "MSGRELAY_WEBHOOK_SIGNING_SECRET",
    "MSGRELAY_WEBHOOK_TIMEOUT",
    "MSGRELAY_WEBHOOK_URL",
    "SECRET_SETTINGS",
    "SETTINGS",
    "WebhookConfig",
    "parse_headers",
]

MSGRELAY_WEBHOOK_URL = "MSGRELAY_WEBHOOK_URL"
MSGRELAY_WEBHOOK_SIGNING_SECRET = "MSGRELAY_WEBHOOK_SIGNING_SECRET"
MSGRELAY_WEBHOOK_HEADERS = "MSGRELAY_WEBHOOK_HEADERS"
MSGRELAY_WEBHOOK_TIMEOUT = "MSGRELAY_WEBHOOK_TIMEOUT"
MSGRELAY_WEBHOOK_ALLOW_INSECURE = "MSGRELAY_WEBHOOK_ALLOW_INSECURE"
MSGRELAY_WEBHOOK_CONCURRENCY = "MSGRELAY_WEBHOOK_CONCURRENCY"

#: Each setting's key (the variable's suffix in lower case) and its variable.
_VARIABLES = {
    "url": MSGRELAY_WEBHOOK_URL,
    "signing_secret": MSGRELAY_WEBHOOK_SIGNING_SECRET,
    "headers": MSGRELAY_WEBHOOK_HEADERS,
    "timeout": MSGRELAY_WEBHOOK_TIMEOUT,
    "allow_insecure": MSGRELAY_WEBHOOK_ALLOW_INSECURE,
    "concurrency": MSGRELAY_WEBHOOK_CONCURRENCY,
}
#: The keys a config file may give inline. The URL is one (the issue's example has it inline); a
#: catch-hook URL whose path is its credential may still be given as ``url_env``.
SETTINGS = ("url", "timeout", "allow_insecure", "concurrency")
#: The keys a config file gives only as ``<key>_env``: the signing secret, and static headers, whose
#: values are API keys (``X-Api-Key``).
SECRET_SETTINGS = ("signing_secret", "headers")

#: Connect within 5 s, answer within 15 s (the Standard Webhooks spec suggests 15 to 30 s in all).
DEFAULT_TIMEOUT = Timeout(connect=DEFAULT_CONNECT_TIMEOUT, read=15.0)
#: Bodies above this are refused by default (Zapier, Make and n8n all take it; the spec suggests ~20 KB).
DEFAULT_MAX_BODY_BYTES = 256 * 1024
#: The hard ceiling: Zapier's raw catch hook takes at most 2 MB.
MAX_BODY_BYTES = 2 * 1024 * 1024
#: Requests in flight at once while a batch is sent: a loopback receiver's round trip is mostly the
#: two ends' own work, so a few in flight keep both busy; Zapier takes about 30 requests a second.
DEFAULT_CONCURRENCY = 8
#: The most allowed: each is a thread and a pooled connection, and a receiver sees them all at once.
MAX_CONCURRENCY = 64

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: Headers the destination sets itself; a static header may not replace them.
_RESERVED = frozenset(
    {
        WEBHOOK_ID,
        WEBHOOK_TIMESTAMP,
        WEBHOOK_SIGNATURE,
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
    }
)


def parse_headers(text: str, *, source: str = MSGRELAY_WEBHOOK_HEADERS) -> tuple[tuple[str, str], ...]:
    """``Name: value`` lines (blank lines ignored) as pairs.

    Errors name ``source``, the line and the header, never a value.
    """
    pairs: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        where = f"{source}, line {number}"
        if not colon or not _TOKEN.match(name):
            raise ConfigurationError(f"{where}: expected 'Name: value' with a valid header name")
        pairs.append(_checked_header(name, value, where))
    return tuple(pairs)


def _checked_header(name: str, value: str, where: str) -> tuple[str, str]:
    if not _TOKEN.match(name):
        raise ConfigurationError(f"{where}: invalid header name {name!r}")
    if name.lower() in _RESERVED:
        raise ConfigurationError(f"{where}: {name} is set by the webhook destination itself")
    if not value or not (value.isascii() and value.isprintable()):
        raise ConfigurationError(f"{where}: header {name} needs a value of printable ASCII on one line")
    return name, value


def _secret(text: str, *, source: str) -> SigningSecret:
    try:
        return SigningSecret(text, source=source)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def _parse_secrets(text: str, *, source: str) -> tuple[SigningSecret, ...]:
    return tuple(_secret(part, source=source) for part in text.split())


def _parse_timeout(text: str, *, source: str) -> Timeout:
    try:
        seconds = float(text)
    except ValueError:
        raise ConfigurationError(f"{source} must be a number of seconds, got {text!r}") from None
    if not 0 < seconds <= 300:
        raise ConfigurationError(f"{source} must be between 0 and 300 seconds, got {text!r}")
    return Timeout(connect=min(DEFAULT_CONNECT_TIMEOUT, seconds), read=seconds)


def _check_concurrency(value: object, *, source: str) -> int:
    """``value`` itself if it is a number of requests in flight we allow, else a `ConfigurationError`
    naming ``source``."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_CONCURRENCY:
        return value
    raise ConfigurationError(
        f"{source} must be a whole number of requests from 1 to {MAX_CONCURRENCY}, got {value!r}"
        " (1 sends one request at a time)"
    )


def _parse_concurrency(text: str, *, source: str) -> int:
    number: object
    try:
        number = int(text)
    except ValueError:
        number = text  # refused below, and named as it was written
    return _check_concurrency(number, source=source)


@dataclass(frozen=True, kw_only=True, repr=False)
class WebhookConfig:
    """Where and how to POST.

    Attributes:
        url: the endpoint (``https://``, unless ``allow_insecure``).
        secrets: signing secrets; none sends no ``webhook-signature``; several sign with each (rotation).
        headers: static ``(name, value)`` headers sent with every request (``X-Api-Key``,
            ``x-make-apikey``...).
        timeout: connect and read timeouts.
        allow_insecure: allow ``http://`` and hosts that are loopback, private or link-local.
        max_body_bytes: a larger body is refused before sending (at most `MAX_BODY_BYTES`).
        concurrency: requests of one batch in flight at once (1 to `MAX_CONCURRENCY`; 1 sends them one
            after the other). Deliveries of one lead or person are still sent in order
            (`msgrelay_webhook.lanes`).
    """

    url: str
    secrets: tuple[SigningSecret, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    timeout: Timeout = DEFAULT_TIMEOUT
    allow_insecure: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    concurrency: int = DEFAULT_CONCURRENCY
    _secret_texts: tuple[str, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        check_url(self.url, allow_insecure=self.allow_insecure, source="url")
        for name, value in self.headers:
            _checked_header(name, value, "headers")
        if not all(isinstance(s, SigningSecret) for s in self.secrets):
            raise ConfigurationError("secrets must be SigningSecret objects: SigningSecret('whsec_...')")
        if not 0 < self.max_body_bytes <= MAX_BODY_BYTES:
            raise ConfigurationError(f"max_body_bytes must be between 1 and {MAX_BODY_BYTES}")
        _check_concurrency(self.concurrency, source="concurrency")
        parts = urlsplit(self.url)
        texts = {
            self.url,
            parts.path if parts.path != "/" else "",
            parts.query,
            parts.password or "",
            *(value for _, value in self.headers),
            *(s.reveal() for s in self.secrets),
            *(s.reveal().removeprefix(SECRET_PREFIX) for s in self.secrets),
        }
        # Longest first, so a URL is scrubbed whole before its path is.
        object.__setattr__(self, "_secret_texts", tuple(sorted(filter(None, texts), key=len, reverse=True)))

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        url: str | None = None,
        secrets: Sequence[str | SigningSecret] | None = None,
        headers: Sequence[tuple[str, str]] | None = None,
        timeout: Timeout | float | tuple[float, float] | None = None,
        allow_insecure: bool | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        concurrency: int | None = None,
    ) -> WebhookConfig:
        """The settings from explicit arguments, else from ``environ`` (default ``os.environ``).

        Raises:
            ConfigurationError: a setting is missing or malformed; the message names the variable.
        """
        explicit = {
            "url": url,
            "signing_secret": secrets,
            "headers": headers,
            "timeout": timeout,
            "concurrency": concurrency,
        }
        return cls._build(
            lambda key: read_env(_VARIABLES[key], environ),
            lambda key: key if explicit.get(key) is not None else _VARIABLES[key],
            url=url,
            secrets=secrets,
            headers=headers,
            timeout=timeout,
            allow_insecure=allow_insecure,
            max_body_bytes=max_body_bytes,
            concurrency=concurrency,
        )

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, str], *, where: Callable[[str], str] | None = None
    ) -> WebhookConfig:
        """The settings of one destination instance, by key (``url``, ``signing_secret``, ``headers``,
        ``timeout``, ``allow_insecure``, ``concurrency``: the variables' suffixes in lower case), as a
        config file's ``[destinations.NAME]`` table gives them.

        Args:
            settings: key → text (a `msgrelay.destinations.DestinationSettings`, or any mapping).
            where: names a key in errors (default: ``settings.where`` when it has one, else the key).

        Raises:
            ConfigurationError: an unknown key, a missing or malformed setting; the message names it
                with ``where`` and never shows a value.
        """
        name: Callable[[str], str] = where or getattr(settings, "where", None) or (lambda key: key)
        for key in settings:
            if key not in _VARIABLES:
                known = ", ".join(sorted(_VARIABLES))
                raise ConfigurationError(f"{name(key)}: unknown webhook setting (known: {known})")
        return cls._build(lambda key: read_env(key, settings), name)

    @classmethod
    def _build(
        cls,
        read: Callable[[str], str | None],
        where: Callable[[str], str],
        *,
        url: str | None = None,
        secrets: Sequence[str | SigningSecret] | None = None,
        headers: Sequence[tuple[str, str]] | None = None,
        timeout: Timeout | float | tuple[float, float] | None = None,
        allow_insecure: bool | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        concurrency: int | None = None,
    ) -> WebhookConfig:
        """One parser for both sources: ``read(key)`` gives a setting's text, ``where(key)`` its name."""
        if allow_insecure is None:
            allow_insecure = (read("allow_insecure") or "").lower() in {"1", "true", "yes", "on"}
        target = url if url is not None else read("url")
        if not target:
            raise ConfigurationError(
                f"no webhook URL: set {where('url')} to the https:// URL that receives each lead"
                " (a Zapier catch hook, an n8n or Make webhook, your own endpoint)"
            )
        check_url(target, allow_insecure=allow_insecure, source=where("url"))
        if secrets is not None:
            keys = tuple(s if isinstance(s, SigningSecret) else _secret(s, source="secrets") for s in secrets)
        else:
            raw = read("signing_secret")
            keys = _parse_secrets(raw, source=where("signing_secret")) if raw else ()
        if headers is None:
            raw = read("headers")
            headers = parse_headers(raw, source=where("headers")) if raw else ()
        if timeout is None:
            raw = read("timeout")
            timeout = _parse_timeout(raw, source=where("timeout")) if raw else DEFAULT_TIMEOUT
        if concurrency is None:
            raw = read("concurrency")
            concurrency = _parse_concurrency(raw, source=where("concurrency")) if raw else DEFAULT_CONCURRENCY
        else:
            concurrency = _check_concurrency(concurrency, source=where("concurrency"))
        return cls(
            url=target,
            secrets=keys,
            headers=tuple(headers),
            timeout=Timeout.coerce(timeout),
            allow_insecure=allow_insecure,
            max_body_bytes=max_body_bytes,
            concurrency=concurrency,
        )

    @property
    def secret_texts(self) -> tuple[str, ...]:
        """Every secret string (the URL, its path, query and password, header values, signing secrets),
        longest first, for scrubbing text we did not write (a receiver's error body)."""
        return self._secret_texts

    def __repr__(self) -> str:
        names = [name for name, _ in self.headers]
        return (
            f"WebhookConfig(url={safe_url(self.url)!r}, secrets={len(self.secrets)}, headers={names!r}, "
            f"timeout={self.timeout!r}, allow_insecure={self.allow_insecure}, concurrency={self.concurrency})"
        )
