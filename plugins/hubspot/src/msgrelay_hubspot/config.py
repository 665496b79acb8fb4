"""The HubSpot destination's settings, read in one place: the environment or a route's settings table.

===================================== ==========================================================
``MSGRELAY_HUBSPOT_TOKEN``            required: the private-app access token (``pat-na1-...``)
``MSGRELAY_HUBSPOT_BASE_URL``         default ``https://api.hubapi.com``
``MSGRELAY_HUBSPOT_API_VERSION``      ``v3`` (default) or a date version such as ``2026-03``;
                                      one setting moves every path
``MSGRELAY_HUBSPOT_ID_PROPERTY``      the unique contact property to upsert by (default ``email``)
``MSGRELAY_HUBSPOT_PROPERTY_PREFIX``  prefix of the message properties (default ``msgrelay_``)
``MSGRELAY_HUBSPOT_CREATE_PROPERTIES`` ``1``: create missing message properties, once
``MSGRELAY_HUBSPOT_NOTES``            ``1``: one timeline note per lead on its contact
``MSGRELAY_HUBSPOT_TIMEOUT``          seconds to wait for an answer (default 30)
===================================== ==========================================================

A route instance passes the same settings as a mapping keyed by the variable's suffix in lower case
(``token``, ``base_url``, ``api_version``...), its secret already resolved. The token never appears in
a repr or an error message; errors name the variable (or the instance's key) to fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from msgrelay.config import DEFAULT_CONNECT_TIMEOUT, read_env
from msgrelay.errors import ConfigurationError
from msgrelay.transport import Timeout

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_PREFIX",
    "SETTINGS",
    "HubSpotSettings",
]

#: Every variable is this prefix plus a setting's name in upper case.
ENV_PREFIX = "MSGRELAY_HUBSPOT_"
#: The settings, by their name in a route's table (the variable's suffix in lower case).
SETTINGS = (
    "token",
    "base_url",
    "api_version",
    "id_property",
    "property_prefix",
    "create_properties",
    "notes",
    "timeout",
)
DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_API_VERSION = "v3"
DEFAULT_ID_PROPERTY = "email"
DEFAULT_PREFIX = "msgrelay_"
DEFAULT_TIMEOUT = Timeout(connect=DEFAULT_CONNECT_TIMEOUT, read=30.0)

#: ``v3``, or a date version ``YYYY-MM`` (HubSpot releases them each March and September).
_VERSION = re.compile(r"^(v3|\d{4}-(0[1-9]|1[0-2]))$")
#: HubSpot's internal property names: lower case letters, digits and underscores, a letter first.
_PROPERTY = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True, kw_only=True, repr=False)
class HubSpotSettings:
    """Where and how to write to HubSpot.

    Attributes:
        token: the private-app bearer token (never shown).
        base_url: the API root.
        api_version: ``v3`` or a date version such as ``2026-03``.
        id_property: the unique contact property contacts are upserted by.
        property_prefix: the message properties are ``<prefix><message_type>``.
        create_properties: create missing message properties (once per process).
        notes: add one timeline note per lead to its contact.
        timeout: connect and read timeouts.
        source: how to name a setting in an error: ``{"token": "MSGRELAY_HUBSPOT_TOKEN", ...}``.
    """

    token: str
    base_url: str = DEFAULT_BASE_URL
    api_version: str = DEFAULT_API_VERSION
    id_property: str = DEFAULT_ID_PROPERTY
    property_prefix: str = DEFAULT_PREFIX
    create_properties: bool = False
    notes: bool = False
    timeout: Timeout = DEFAULT_TIMEOUT
    source: Mapping[str, str] = field(default_factory=lambda: _env_sources(), compare=False)

    def __post_init__(self) -> None:
        if not self.token.strip():
            raise ConfigurationError(
                f"no HubSpot token: set {self.name('token')} to the access token of a private app "
                "with the crm.objects.contacts.read and crm.objects.contacts.write scopes"
            )
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.username:
            raise ConfigurationError(
                f"{self.name('base_url')} must be an absolute http(s) URL without credentials, "
                f"e.g. {DEFAULT_BASE_URL}"
            )
        if not _VERSION.match(self.api_version):
            raise ConfigurationError(
                f"{self.name('api_version')} must be v3 or a date version such as 2026-03, "
                f"got {self.api_version!r}"
            )
        for key in ("id_property", "property_prefix"):
            value = getattr(self, key)
            if not _PROPERTY.match(value):
                raise ConfigurationError(
                    f"{self.name(key)} must be a HubSpot property name (lower case letters, digits and "
                    f"underscores, a letter first), got {value!r}"
                )
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def name(self, setting: str) -> str:
        """How an error names ``setting``: its variable, or the route instance's key."""
        return self.source.get(setting, setting)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HubSpotSettings:
        """The settings from ``MSGRELAY_HUBSPOT_*`` in ``environ`` (default ``os.environ``).

        Raises:
            ConfigurationError: a setting is missing or malformed; the message names the variable.
        """
        values = {key: read_env(ENV_PREFIX + key.upper(), environ) for key in SETTINGS}
        return cls._build({k: v for k, v in values.items() if v is not None}, _env_sources())

    @classmethod
    def from_mapping(cls, settings: Mapping[str, object], *, where: str) -> HubSpotSettings:
        """The settings of a route instance: keys are the variables' suffixes in lower case.

        Args:
            settings: ``{"token": "...", "api_version": "2026-03", ...}`` (the token resolved).
            where: how to name the instance in an error (``destination "crm-eu"``).

        Raises:
            ConfigurationError: an unknown key, or a setting missing or malformed, named by ``where``.
        """
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise ConfigurationError(
                f"{where}: unknown HubSpot setting {unknown[0]!r} (known: {', '.join(SETTINGS)})"
            )
        values = {
            k: str(v).strip() if not isinstance(v, bool) else ("1" if v else "0") for k, v in settings.items()
        }
        return cls._build(values, {key: f"{where}: {key}" for key in SETTINGS})

    @classmethod
    def _build(cls, values: Mapping[str, str], source: Mapping[str, str]) -> HubSpotSettings:
        def flag(key: str) -> bool:
            text = values.get(key, "").lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ConfigurationError(f"{source[key]} must be 1 or 0, got {values[key]!r}")

        timeout = DEFAULT_TIMEOUT
        if values.get("timeout"):
            timeout = _parse_timeout(values["timeout"], source=source["timeout"])
        return cls(
            token=values.get("token", ""),
            base_url=values.get("base_url") or DEFAULT_BASE_URL,
            api_version=values.get("api_version") or DEFAULT_API_VERSION,
            id_property=values.get("id_property") or DEFAULT_ID_PROPERTY,
            property_prefix=values.get("property_prefix") or DEFAULT_PREFIX,
            create_properties=flag("create_properties"),
            notes=flag("notes"),
            timeout=timeout,
            source=dict(source),
        )

    def __repr__(self) -> str:
        return (
            f"HubSpotSettings(token='***', base_url={self.base_url!r}, api_version={self.api_version!r}, "
            f"id_property={self.id_property!r}, property_prefix={self.property_prefix!r}, "
            f"create_properties={self.create_properties}, notes={self.notes})"
        )


def _env_sources() -> dict[str, str]:
    return {key: ENV_PREFIX + key.upper() for key in SETTINGS}


def _parse_timeout(text: str, *, source: str) -> Timeout:
    try:
        seconds = float(text)
    except ValueError:
        raise ConfigurationError(f"{source} must be a number of seconds, got {text!r}") from None
    if not 0 < seconds <= 300:
        raise ConfigurationError(f"{source} must be between 0 and 300 seconds, got {text!r}")
    return Timeout(connect=min(DEFAULT_CONNECT_TIMEOUT, seconds), read=seconds)
