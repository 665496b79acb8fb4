"""The lemlist destination's settings: from the environment, or from a route instance's settings mapping.

================================= ==================================================================
``MSGRELAY_LEMLIST_API_KEY``      required: the API key (lemlist: Settings > Integrations); sent as
                                  HTTP Basic with an empty user name
``MSGRELAY_LEMLIST_CAMPAIGN_ID``  required: the campaign leads are added to (``cam_...``)
``MSGRELAY_LEMLIST_BASE_URL``     optional: default ``https://api.lemlist.com/api``
``MSGRELAY_LEMLIST_ALLOW_RUNNING`` optional: ``1`` allows adding leads to a *running* campaign, which
                                  starts sending to them at once; off by default
================================= ==================================================================

A route instance's settings mapping uses the variable's suffix in lower case (``api_key``,
``campaign_id``, ``base_url``, ``allow_running``), the secret already resolved by the host. Every
error names the variable (or the instance's setting) to fix, never a value; the key never appears in a
repr.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from msgrelay.config import DEFAULT_CONNECT_TIMEOUT, env_flag, read_env
from msgrelay.errors import ConfigurationError
from msgrelay.transport import Timeout, redact_url

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "ENV_PREFIX",
    "MSGRELAY_LEMLIST_ALLOW_RUNNING",
    "MSGRELAY_LEMLIST_API_KEY",
    "MSGRELAY_LEMLIST_BASE_URL",
    "MSGRELAY_LEMLIST_CAMPAIGN_ID",
    "LemlistSettings",
]

ENV_PREFIX = "MSGRELAY_LEMLIST_"
MSGRELAY_LEMLIST_API_KEY = ENV_PREFIX + "API_KEY"
MSGRELAY_LEMLIST_BASE_URL = ENV_PREFIX + "BASE_URL"
MSGRELAY_LEMLIST_CAMPAIGN_ID = ENV_PREFIX + "CAMPAIGN_ID"
MSGRELAY_LEMLIST_ALLOW_RUNNING = ENV_PREFIX + "ALLOW_RUNNING"

DEFAULT_BASE_URL = "https://api.lemlist.com/api"
DEFAULT_TIMEOUT = Timeout(connect=DEFAULT_CONNECT_TIMEOUT, read=30.0)

_SETTINGS = ("api_key", "base_url", "campaign_id", "allow_running")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _env_sources() -> dict[str, str]:
    return {name: ENV_PREFIX + name.upper() for name in _SETTINGS}


@dataclass(frozen=True, kw_only=True, repr=False)
class LemlistSettings:
    """Where and how to add leads.

    Attributes:
        api_key: the lemlist API key (a secret: never shown).
        campaign_id: the campaign leads are added to.
        base_url: the API root, without a trailing slash.
        allow_running: whether adding to a running campaign (which sends at once) is allowed.
        timeout: connect and read timeouts.
        sources: what to tell the user to fix, per setting (an environment variable, or an
            instance's setting): ``sources["api_key"] == "MSGRELAY_LEMLIST_API_KEY"``.
    """

    api_key: str
    campaign_id: str
    base_url: str = DEFAULT_BASE_URL
    allow_running: bool = False
    timeout: Timeout = DEFAULT_TIMEOUT
    sources: Mapping[str, str] = field(default_factory=_env_sources, compare=False)

    def __post_init__(self) -> None:
        if not self.api_key or not self.api_key.strip():
            raise ConfigurationError(f"lemlist: {self.source('api_key')} is empty")
        if not self.campaign_id or not self.campaign_id.strip() or "/" in self.campaign_id:
            raise ConfigurationError(
                f"lemlist: {self.source('campaign_id')} must be a campaign id such as cam_..."
            )
        object.__setattr__(self, "base_url", _checked_base_url(self.base_url, self.source("base_url")))

    def source(self, setting: str) -> str:
        """The name to fix ``setting`` by (``MSGRELAY_LEMLIST_API_KEY``, or ``api_key of ...``)."""
        return self.sources.get(setting, ENV_PREFIX + setting.upper())

    @property
    def secret_texts(self) -> tuple[str, ...]:
        """The strings to scrub from any text we did not write (the key)."""
        return (self.api_key,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LemlistSettings:
        """The settings from ``MSGRELAY_LEMLIST_*`` in ``environ`` (default ``os.environ``).

        Raises:
            ConfigurationError: a required variable is unset, or one is malformed; it names it.
        """
        key = read_env(MSGRELAY_LEMLIST_API_KEY, environ)
        if not key:
            raise ConfigurationError(
                f"lemlist: no API key: set {MSGRELAY_LEMLIST_API_KEY} to the key from lemlist's "
                "Settings > Integrations page"
            )
        campaign = read_env(MSGRELAY_LEMLIST_CAMPAIGN_ID, environ)
        if not campaign:
            raise ConfigurationError(
                f"lemlist: no campaign: set {MSGRELAY_LEMLIST_CAMPAIGN_ID} to the id (cam_...) of the "
                "campaign leads are added to"
            )
        raw_flag = read_env(MSGRELAY_LEMLIST_ALLOW_RUNNING, environ) or ""
        _flag(raw_flag, MSGRELAY_LEMLIST_ALLOW_RUNNING)  # a typo is an error, not a silent "off"
        return cls(
            api_key=key,
            campaign_id=campaign,
            base_url=read_env(MSGRELAY_LEMLIST_BASE_URL, environ) or DEFAULT_BASE_URL,
            allow_running=env_flag(MSGRELAY_LEMLIST_ALLOW_RUNNING, environ),
        )

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any], *, where: str) -> LemlistSettings:
        """The settings of a route instance: ``api_key``, ``campaign_id``, ``base_url``, ``allow_running``.

        Args:
            settings: the instance's settings, secrets already resolved.
            where: how to name the instance in an error (``destination 'acme-lemlist'``).

        Raises:
            ConfigurationError: a setting is missing, unknown or malformed; it names it and ``where``.
        """
        unknown = sorted(set(settings) - set(_SETTINGS))
        if unknown:
            raise ConfigurationError(
                f"lemlist: {where}: unknown setting {unknown[0]!r} (known: {', '.join(_SETTINGS)})"
            )
        sources = {name: f"{name} of {where}" for name in _SETTINGS}
        values: dict[str, str] = {}
        for name in ("api_key", "campaign_id", "base_url"):
            value = settings.get(name)
            if value is not None and not isinstance(value, str):
                raise ConfigurationError(f"lemlist: {sources[name]} must be a string")
            if value is not None and value.strip():
                values[name] = value.strip()
        for name in ("api_key", "campaign_id"):
            if name not in values:
                raise ConfigurationError(f"lemlist: {sources[name]} is missing")
        allow = settings.get("allow_running", False)
        if not isinstance(allow, bool):
            allow = _flag(str(allow), sources["allow_running"])
        return cls(
            api_key=values["api_key"],
            campaign_id=values["campaign_id"],
            base_url=values.get("base_url", DEFAULT_BASE_URL),
            allow_running=allow,
            sources=sources,
        )

    def __repr__(self) -> str:
        return (
            f"LemlistSettings(base_url={self.base_url!r}, campaign_id={self.campaign_id!r}, "
            f"allow_running={self.allow_running}, api_key='***')"
        )


def _flag(text: str, source: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"lemlist: {source} must be 1 or 0 (true/false), got {text!r}")


def _checked_base_url(url: str, source: str) -> str:
    """The base URL without a trailing slash: ``https://``, or ``http://`` to a loopback emulator only
    (the key travels in every request's header)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"lemlist: {source} must be an https:// URL, got {redact_url(url)!r}")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ConfigurationError(
            f"lemlist: {source} must use https:// (plain http is allowed to 127.0.0.1 only), "
            f"got {redact_url(url)!r}"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigurationError(f"lemlist: {source} must not carry credentials, a query or a fragment")
    return url.strip().rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
