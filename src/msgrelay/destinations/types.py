"""Destination *types*: what a plugin registers so that one plugin serves several named *instances*.

A plugin's ``register_destination_types(register)`` calls ``register(type_name, factory, settings=...,
secrets=...)``, a `RegisterDestinationType`. An instance is then built by the host with
``factory(name, settings)``: from a ``[destinations.NAME]`` table of the config file, or, for the
*default instance* named after the type, from the environment (``MSGRELAY_<TYPE>_<KEY>``), lazily on its
first delivery so that an installed but unused plugin needs no settings.

A setting's key is the plugin's environment variable suffix in lower case (``MSGRELAY_WEBHOOK_URL`` →
``url``). `DestinationSettings` is the mapping the factory receives; `DestinationSettings.where` names a
key as the user wrote it (``MSGRELAY_WEBHOOK_URL``, or ``routes.toml [destinations.acme] url``), so a
factory's errors tell the user exactly what to fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

import attrs

from msgrelay.config import read_env
from msgrelay.destinations.delivery import Delivery
from msgrelay.errors import ConfigurationError

__all__ = [
    "SETTING_KEY",
    "TYPE_NAME",
    "BuiltDestination",
    "DestinationFactory",
    "DestinationSettings",
    "DestinationType",
    "RegisterDestinationType",
    "env_prefix",
]

#: A type name: it is also the middle of its variables' names (``MSGRELAY_<TYPE>_URL``), so no ``-``.
TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
#: A setting key: the lower-case suffix of an environment variable.
SETTING_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class DestinationSettings(Mapping[str, str]):
    """The settings of one destination instance, by key, and where each came from.

    Args:
        values: key → value (strings, as the environment gives them).
        where: names a key as the user wrote it, for error messages (default: the key itself).
    """

    def __init__(self, values: Mapping[str, str], *, where: Callable[[str], str] | None = None) -> None:
        self._values = dict(values)
        self._where = where or (lambda key: key)

    def where(self, key: str) -> str:
        """How to name ``key`` in an error: ``MSGRELAY_WEBHOOK_URL``, ``routes.toml [destinations.x] url``."""
        return self._where(key)

    def error(self, key: str, problem: str) -> ConfigurationError:
        """A `ConfigurationError` naming the setting (never its value): raise it from a factory."""
        return ConfigurationError(f"{self.where(key)}: {problem}")

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        # Keys only: values may be secrets.
        return f"DestinationSettings(keys={sorted(self._values)!r})"


@runtime_checkable
class BuiltDestination(Protocol):
    """What a factory returns: ``deliver(delivery)``; optionally ``deliver_many``, ``check``, ``close``.

    ``deliver`` returns on success and raises to ask for a retry. ``deliver_many(deliveries) ->
    {key: exception}`` is the batch form, preferred when present. ``check()`` (optional) verifies the
    settings against the service (``msgrelay check``) and raises a msgrelay error if they are wrong.
    ``close()`` (optional) releases connections when the host stops.
    """

    def deliver(self, delivery: Delivery, /) -> None: ...


class DestinationFactory(Protocol):
    """``factory(name, settings)``: one destination instance, or a `ConfigurationError` naming the setting.

    Called once per instance, at startup for a config file's instances and on the first delivery for the
    default instance built from the environment. Check every setting here, before any network call.
    """

    def __call__(self, name: str, settings: DestinationSettings, /) -> BuiltDestination: ...


class RegisterDestinationType(Protocol):
    """The ``register`` callback a plugin's ``register_destination_types`` hook receives."""

    def __call__(
        self,
        type_name: str,
        factory: DestinationFactory,
        *,
        settings: Iterable[str] = (),
        secrets: Iterable[str] = (),
    ) -> None:
        """Register a destination type.

        Args:
            type_name: lower case letters, digits and ``_`` (``webhook``, ``hubspot``); also the name of
                the default instance, and the middle of its variables (``MSGRELAY_WEBHOOK_URL``).
            factory: builds an instance from its settings.
            settings: the keys the type reads that are not secret. When given (with ``secrets``), a
                config file's unknown key is an error and only these variables are read for the
                default instance; when empty, every ``MSGRELAY_<TYPE>_*`` variable is passed on.
            secrets: the keys that are secret: a config file gives them only as ``<key>_env =
                "VARIABLE"``; an inline value is a configuration error.

        A rejected call (an invalid or taken type name, a non-callable factory) is recorded as an error
        of the plugin; it does not raise.
        """


def env_prefix(type_name: str) -> str:
    """The prefix of a type's variables: ``webhook`` → ``MSGRELAY_WEBHOOK_``."""
    return f"MSGRELAY_{type_name.upper()}_"


@attrs.frozen(kw_only=True)
class DestinationType:
    """A registered destination type.

    Attributes:
        name: the type name (``webhook``).
        plugin: the plugin that registered it.
        factory: builds an instance from its settings.
        settings: the non-secret keys it declared (empty: undeclared, any key passes).
        secrets: the secret keys.
    """

    name: str
    plugin: str
    factory: DestinationFactory = attrs.field(repr=False)
    settings: frozenset[str] = frozenset()
    secrets: frozenset[str] = frozenset()

    @property
    def declared(self) -> bool:
        """Whether the type named its keys (so unknown ones can be refused)."""
        return bool(self.settings or self.secrets)

    def from_env(self, environ: Mapping[str, str] | None = None) -> DestinationSettings:
        """The default instance's settings: ``MSGRELAY_<TYPE>_<KEY>`` for each key (any, if undeclared)."""
        env = os.environ if environ is None else environ
        prefix = env_prefix(self.name)
        if self.declared:
            keys: Sequence[str] = sorted(self.settings | self.secrets)
        else:
            keys = [n[len(prefix) :].lower() for n in env if n.startswith(prefix) and len(n) > len(prefix)]
        values = {key: value for key in keys if (value := read_env(prefix + key.upper(), env)) is not None}
        return DestinationSettings(values, where=lambda key: prefix + key.upper())

    def build(self, name: str, settings: DestinationSettings) -> BuiltDestination:
        """``factory(name, settings)``, checked: a `ConfigurationError` if it returns no ``deliver``."""
        built = self.factory(name, settings)
        if not callable(getattr(built, "deliver", None)):
            raise ConfigurationError(
                f"destination type {self.name!r} (plugin {self.plugin!r}) built an object without deliver()"
            )
        return built
