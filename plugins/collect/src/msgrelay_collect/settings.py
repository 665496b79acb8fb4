"""The Collect destination's settings: read from the environment, or from a route instance's table.

================================== =================================================================
``COLLECT_API_KEY``                required: the key at the bottom of your Collect profile page (the
                                   same variable msgrelay's own Collect client reads)
``COLLECT_BASE_URL``               optional: the API root (default ``https://api.usecollect.com/v1``)
``MSGRELAY_COLLECT_REQUEST_ID``    optional: the request written to when a lead has no
                                   ``collect_request_id`` column
``MSGRELAY_COLLECT_CHANNEL``       optional: ``internal`` (default: one internal note per lead),
                                   ``email`` or ``sms`` (one scheduled message per generated text)
``MSGRELAY_COLLECT_SEND_AFTER``    optional: email and SMS are scheduled this many seconds from the
                                   delivery (default 3600, so a person can still stop them)
``MSGRELAY_COLLECT_TITLE``         optional: the internal note's title prefix and the email subject
                                   (default ``Generated outreach messages``)
``MSGRELAY_COLLECT_TIMEOUT``       optional: seconds to wait for each answer (default 30)
================================== =================================================================

A route instance (``[destinations.NAME]`` with ``type = "collect"``) names the same settings by their
suffix in lower case (``request_id``, ``channel``, ``send_after``, ``title``, ``timeout``, ``base_url``)
and the key as ``api_key`` (resolved by the host) or ``api_key_env`` (the variable that holds it).
Errors name the variable or the table key, never a secret value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from msgrelay.collect import EMAIL, EMAIL_TITLE_MIN_LENGTH, INTERNAL, SMS
from msgrelay.config import (
    COLLECT_API_KEY,
    COLLECT_BASE_URL,
    DEFAULT_COLLECT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    read_env,
)
from msgrelay.errors import ConfigurationError
from msgrelay.transport import Timeout, redact_url

__all__ = [
    "CHANNELS",
    "DEFAULT_SEND_AFTER",
    "DEFAULT_TITLE",
    "MSGRELAY_COLLECT_CHANNEL",
    "MSGRELAY_COLLECT_REQUEST_ID",
    "MSGRELAY_COLLECT_SEND_AFTER",
    "MSGRELAY_COLLECT_TIMEOUT",
    "MSGRELAY_COLLECT_TITLE",
    "CollectSettings",
]

MSGRELAY_COLLECT_REQUEST_ID = "MSGRELAY_COLLECT_REQUEST_ID"
MSGRELAY_COLLECT_CHANNEL = "MSGRELAY_COLLECT_CHANNEL"
MSGRELAY_COLLECT_SEND_AFTER = "MSGRELAY_COLLECT_SEND_AFTER"
MSGRELAY_COLLECT_TITLE = "MSGRELAY_COLLECT_TITLE"
MSGRELAY_COLLECT_TIMEOUT = "MSGRELAY_COLLECT_TIMEOUT"

#: The channels this destination writes to.
CHANNELS = (INTERNAL, EMAIL, SMS)
#: An hour: the Gen-B example schedules an email an hour after creating it, and it leaves a person
#: time to cancel a message in Collect before it reaches the contact.
DEFAULT_SEND_AFTER = 3600.0
#: At least `EMAIL_TITLE_MIN_LENGTH` characters, so it is a valid email subject too.
DEFAULT_TITLE = "Generated outreach messages"
#: A year: a later date is almost certainly a unit mistake (milliseconds for seconds).
MAX_SEND_AFTER = 366 * 24 * 3600.0
DEFAULT_TIMEOUT = Timeout(connect=DEFAULT_CONNECT_TIMEOUT, read=DEFAULT_READ_TIMEOUT)

#: The environment variable behind each setting.
ENV_NAMES: Mapping[str, str] = {
    "api_key": COLLECT_API_KEY,
    "base_url": COLLECT_BASE_URL,
    "request_id": MSGRELAY_COLLECT_REQUEST_ID,
    "channel": MSGRELAY_COLLECT_CHANNEL,
    "send_after": MSGRELAY_COLLECT_SEND_AFTER,
    "title": MSGRELAY_COLLECT_TITLE,
    "timeout": MSGRELAY_COLLECT_TIMEOUT,
}
_MAPPING_KEYS = frozenset({*ENV_NAMES, "api_key_env", "type"})


@dataclass(frozen=True, kw_only=True, repr=False)
class CollectSettings:
    """Where and how to write.

    Attributes:
        api_key: the Collect API key (never shown: not in the repr, not in an error).
        base_url: the API root.
        request_id: the request written to when a lead carries no ``collect_request_id``.
        channel: ``internal``, ``email`` or ``sms``.
        send_after: seconds from the delivery to an email's or SMS's ``sendOn``.
        title: the internal note's title prefix, and the email subject.
        timeout: connect and read timeouts of each request.
        sources: the name of each setting as the user wrote it (an environment variable, or
            ``destinations.NAME.key``), for error messages that say what to fix.
    """

    api_key: str
    base_url: str = DEFAULT_COLLECT_BASE_URL
    request_id: str | None = None
    channel: str = INTERNAL
    send_after: float = DEFAULT_SEND_AFTER
    title: str = DEFAULT_TITLE
    timeout: Timeout = DEFAULT_TIMEOUT
    sources: Mapping[str, str] = field(default_factory=lambda: dict(ENV_NAMES), compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, str) or not self.api_key.strip():
            raise ConfigurationError(
                f"no Collect API key: set {self.source('api_key')} to the key at the bottom of your "
                "Collect profile page"
            )
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"{self.source('base_url')} must start with http:// or https://, "
                f"got {redact_url(self.base_url)!r}"
            )
        if self.request_id is not None and not self.request_id.strip():
            raise ConfigurationError(f"{self.source('request_id')} must not be blank")
        if self.channel not in CHANNELS:
            raise ConfigurationError(
                f"{self.source('channel')} must be one of {', '.join(CHANNELS)}, got {self.channel!r}"
            )
        if not (math.isfinite(self.send_after) and 0 <= self.send_after <= MAX_SEND_AFTER):
            raise ConfigurationError(
                f"{self.source('send_after')} must be 0 to {int(MAX_SEND_AFTER)} seconds, "
                f"got {self.send_after!r}"
            )
        if not self.title.strip():
            raise ConfigurationError(f"{self.source('title')} must not be blank")
        if self.channel == EMAIL and len(self.title) < EMAIL_TITLE_MIN_LENGTH:
            raise ConfigurationError(
                f"{self.source('title')} is the email subject, which Collect wants at least "
                f"{EMAIL_TITLE_MIN_LENGTH} characters long; got {len(self.title)}"
            )

    def source(self, setting: str) -> str:
        """How the user names ``setting``: its environment variable or its route-table key."""
        return self.sources.get(setting, setting)

    @property
    def secret_texts(self) -> tuple[str, ...]:
        """The texts to scrub from anything we did not write (a vendor's error body)."""
        return (self.api_key,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CollectSettings:
        """The settings from ``environ`` (default ``os.environ``).

        Raises:
            ConfigurationError: a setting is missing or malformed; the message names the variable.
        """
        values = {name: read_env(env, environ) for name, env in ENV_NAMES.items()}
        return cls._build(values, dict(ENV_NAMES))

    @classmethod
    def from_mapping(
        cls, settings: Mapping[str, Any], *, where: str, environ: Mapping[str, str] | None = None
    ) -> CollectSettings:
        """The settings of a route instance (a TOML table), its keys named ``{where}.{key}`` in errors.

        Args:
            settings: ``api_key`` (or ``api_key_env``: the variable holding it), ``base_url``,
                ``request_id``, ``channel``, ``send_after``, ``title``, ``timeout``. An unknown key is
                an error, so a typo is not silently ignored.
            where: how the table is named to the user (``destinations.acme-collect``).
            environ: where ``api_key_env`` is looked up (default ``os.environ``).
        """
        unknown = sorted(str(key) for key in settings if key not in _MAPPING_KEYS)
        if unknown:
            known = ", ".join(sorted(_MAPPING_KEYS - {"type"}))
            raise ConfigurationError(f"{where}: unknown setting {', '.join(unknown)} (known: {known})")
        sources = {name: f"{where}.{name}" for name in ENV_NAMES}
        values: dict[str, str | None] = {}
        for name in ENV_NAMES:
            raw = settings.get(name)
            if isinstance(raw, bool) or (raw is not None and not isinstance(raw, str | int | float)):
                raise ConfigurationError(f"{where}.{name} must be a string or a number")
            values[name] = None if raw is None else str(raw).strip() or None
        variable = settings.get("api_key_env")
        if values["api_key"] is None and variable is not None:
            if not isinstance(variable, str) or not variable.strip():
                raise ConfigurationError(f"{where}.api_key_env must name an environment variable")
            values["api_key"] = read_env(variable.strip(), environ)
            sources["api_key"] = f"{variable.strip()} (named by {where}.api_key_env)"
        return cls._build(values, sources)

    @classmethod
    def _build(cls, values: Mapping[str, str | None], sources: dict[str, str]) -> CollectSettings:
        def number(name: str, default: float) -> float:
            raw = values.get(name)
            if raw is None:
                return default
            try:
                return float(raw)
            except ValueError:
                raise ConfigurationError(
                    f"{sources[name]} must be a number of seconds, got {raw!r}"
                ) from None

        seconds = number("timeout", DEFAULT_TIMEOUT.read)
        if not (math.isfinite(seconds) and 0 < seconds <= 300):
            raise ConfigurationError(f"{sources['timeout']} must be between 0 and 300 seconds")
        return cls(
            api_key=values.get("api_key") or "",
            base_url=(values.get("base_url") or DEFAULT_COLLECT_BASE_URL).rstrip("/"),
            request_id=values.get("request_id"),
            channel=(values.get("channel") or INTERNAL).lower(),
            send_after=number("send_after", DEFAULT_SEND_AFTER),
            title=values.get("title") or DEFAULT_TITLE,
            timeout=Timeout(connect=min(DEFAULT_CONNECT_TIMEOUT, seconds), read=seconds),
            sources=sources,
        )

    def __repr__(self) -> str:
        return (
            f"CollectSettings(api_key=REDACTED, base_url={redact_url(self.base_url)!r}, "
            f"request_id={self.request_id!r}, channel={self.channel!r}, send_after={self.send_after!r})"
        )
