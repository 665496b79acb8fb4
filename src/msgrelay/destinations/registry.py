"""The destination registry: names plugins register, and the ``deliver`` functions behind them.

A plugin's ``register_destinations(register)`` calls ``register(name, deliver)``, a `RegisterDestination`
(with ``deliver_many=`` for a batch form and ``check=`` for its contribution to ``msgrelay check``);
the host checks each call (a valid name, a callable, not taken) and records a rejected one as an error
of that plugin instead of raising, so one bad plugin cannot stop the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

import attrs

from msgrelay.destinations.checks import Check
from msgrelay.destinations.delivery import Delivery
from msgrelay.errors import PLUGIN_FAILURES, ConfigurationError

__all__ = [
    "DEFAULT_DESTINATION",
    "Deliver",
    "DeliverMany",
    "Destination",
    "DestinationRegistry",
    "RegisterDestination",
]


class Deliver(Protocol):
    """A destination's ``deliver(delivery)``: return on success, raise to ask for a retry."""

    def __call__(self, delivery: Delivery, /) -> None: ...


class DeliverMany(Protocol):
    """A destination's ``deliver_many(deliveries)``: the failures by delivery key; raising fails them all."""

    def __call__(self, deliveries: Sequence[Delivery], /) -> Mapping[str, BaseException]: ...


#: The destination used when neither the caller nor ``MSGRELAY_DESTINATIONS`` names one.
DEFAULT_DESTINATION = "store"

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class RegisterDestination(Protocol):
    """The ``register`` callback a plugin's ``register_destinations`` hook receives."""

    def __call__(
        self,
        name: str,
        deliver: Deliver,
        *,
        deliver_many: DeliverMany | None = None,
        check: Check | None = None,
    ) -> None:
        """Register ``deliver`` (and its batch form ``deliver_many``, its setup ``check``, if any)
        under ``name``.

        A rejected call (an invalid or taken name, a non-callable) is recorded as an error of the
        plugin; it does not raise.
        """


@attrs.frozen(kw_only=True)
class Destination:
    """A registered destination.

    Attributes:
        name: the name a host or a step selects it by.
        plugin: the name of the plugin that registered it.
        deliver: called once per delivery.
        deliver_many: the batch form, preferred when present.
        check: what ``msgrelay check`` runs for it (settings, a dry call), when the plugin offers one.
    """

    name: str
    plugin: str
    deliver: Deliver = attrs.field(repr=False)
    deliver_many: DeliverMany | None = attrs.field(default=None, repr=False)
    check: Check | None = attrs.field(default=None, repr=False)

    def deliver_batch(self, deliveries: Sequence[Delivery]) -> dict[str, BaseException]:
        """Deliver each one; the failures by delivery key (a raising batch fails every delivery)."""
        if self.deliver_many is not None:
            try:
                return dict(self.deliver_many(deliveries))
            except PLUGIN_FAILURES as exc:  # a failed batch is retried, whatever failed
                return {d.key: exc for d in deliveries}
        failures: dict[str, BaseException] = {}
        deliver = self.deliver
        for delivery in deliveries:
            try:
                deliver(delivery)
            except PLUGIN_FAILURES as exc:  # any failure asks for a retry
                failures[delivery.key] = exc
        return failures


def _not_callable(name: str, what: str, value: object) -> str | None:
    if value is None or callable(value):
        return None
    return f"destination {name!r}: {what} must be callable, got {type(value).__name__}"


class DestinationRegistry:
    """Destinations by name, as plugins registered them."""

    def __init__(self) -> None:
        self._by_name: dict[str, Destination] = {}

    def registrar(self, plugin: str, on_error: Callable[[str], None]) -> RegisterDestination:
        """The ``register`` callback handed to one plugin's ``register_destinations``."""

        def register(
            name: str,
            deliver: Deliver,
            *,
            deliver_many: DeliverMany | None = None,
            check: Check | None = None,
        ) -> None:
            problem = self._check(name, deliver, deliver_many) or _not_callable(name, "check", check)
            if problem:
                on_error(problem)
                return
            self._by_name[name] = Destination(
                name=name, plugin=plugin, deliver=deliver, deliver_many=deliver_many, check=check
            )

        return register

    def _check(self, name: object, deliver: object, deliver_many: object) -> str | None:
        if not isinstance(name, str) or not _NAME.match(name):
            return f"invalid destination name {name!r}: use lower case letters, digits, '-', '_' and '.'"
        if not callable(deliver):
            return f"destination {name!r}: deliver must be callable, got {type(deliver).__name__}"
        if deliver_many is not None and not callable(deliver_many):
            return f"destination {name!r}: deliver_many must be callable, got {type(deliver_many).__name__}"
        taken = self._by_name.get(name)
        if taken is not None:
            return f"destination {name!r} is already registered by plugin {taken.plugin!r}"
        return None

    def remove_plugin(self, plugin: str) -> None:
        """Forget every destination a plugin registered (it was unregistered)."""
        self._by_name = {n: d for n, d in self._by_name.items() if d.plugin != plugin}

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._by_name)

    def of_plugin(self, plugin: str) -> list[str]:
        """The names one plugin registered."""
        return sorted(n for n, d in self._by_name.items() if d.plugin == plugin)

    def get(self, name: str) -> Destination:
        """The destination called ``name``; a `ConfigurationError` listing the known ones."""
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise ConfigurationError(
                f"unknown destination {name!r} (registered: {known}); "
                "install or enable the plugin that provides it"
            ) from None

    def resolve(self, names: Iterable[str]) -> list[Destination]:
        """Every named destination, checked before anything is written."""
        return [self.get(name) for name in dict.fromkeys(names)]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self._by_name)
