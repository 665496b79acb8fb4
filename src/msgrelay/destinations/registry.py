"""The destination registry: names plugins register, the ``deliver`` functions behind them, and types.

A plugin's ``register_destinations(register)`` calls ``register(name, deliver)``, a `RegisterDestination`
(with ``deliver_many=`` for a batch form and ``check=`` for its contribution to ``msgrelay check``);
its ``register_destination_types(register)`` calls ``register(type_name, factory, ...)``, a
`msgrelay.destinations.types.RegisterDestinationType`. The host checks each call (a valid name, a
callable, not taken) and records a rejected one as an error of that plugin instead of raising, so one bad
plugin cannot stop the others.

Each registered type also gets its *default instance*, named after the type and built from the
environment on its first delivery (`_LazyInstance`); a config file may define an instance of that name
instead (`DestinationRegistry.add_instance` replaces it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

import attrs

from msgrelay.destinations.checks import Check, CheckResult, checked
from msgrelay.destinations.delivery import Delivery
from msgrelay.destinations.lazy import LazyDestination
from msgrelay.destinations.types import (
    SETTING_KEY,
    TYPE_NAME,
    BuiltDestination,
    DestinationFactory,
    DestinationSettings,
    DestinationType,
    RegisterDestinationType,
)
from msgrelay.errors import PLUGIN_FAILURES, ConfigurationError, MsgrelayError

__all__ = [
    "DEFAULT_DELIVER_TIMEOUT",
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


#: Seconds one ``deliver`` (or ``deliver_many``) call may take before the relay stops waiting for it and
#: moves on; a config file's ``deliver_timeout`` sets it per instance (`DestinationRegistry.timeouts`).
DEFAULT_DELIVER_TIMEOUT = 60.0

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
        plugin: the name of the plugin that registered it (or its type).
        deliver: called once per delivery.
        deliver_many: the batch form, preferred when present.
        check: what ``msgrelay check`` runs for it (settings, a dry call), when the plugin offers one.
        type: the destination type it is an instance of, or None for a plain registration.
        default: whether it is a type's default instance, built from the environment.
    """

    name: str
    plugin: str
    deliver: Deliver = attrs.field(repr=False)
    deliver_many: DeliverMany | None = attrs.field(default=None, repr=False)
    check: Check | None = attrs.field(default=None, repr=False)
    type: str | None = None
    default: bool = False

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


class _LazyInstance(LazyDestination[BuiltDestination]):
    """A type's default instance: built from the environment on first use, then reused.

    A missing or bad setting fails each delivery with the factory's `ConfigurationError` (naming the
    variable), which the relay dead-letters at once; ``--retry-dead`` re-drives it once it is fixed.
    """

    def __init__(self, kind: DestinationType, environ: Mapping[str, str] | None) -> None:
        super().__init__(lambda: kind.build(kind.name, kind.from_env(environ)))
        self.kind = kind

    def check(self) -> list[CheckResult]:
        """For ``msgrelay check``: build from the environment (a bad setting is a failed line naming
        its variable), then the built destination's own ``check()``, if it has one."""
        try:
            built = self.destination()
        except MsgrelayError as exc:
            return [CheckResult(f"{self.kind.name}: settings", False, "refused", str(exc))]
        own = getattr(built, "check", None)
        if not callable(own):
            return [CheckResult(f"{self.kind.name}: settings", True, "built from the environment")]
        return checked(self.kind.name, own)()


class DestinationRegistry:
    """Destinations by name, as plugins registered them, and the destination types they registered.

    Args:
        environ: where default instances read their settings (default ``os.environ``, on first use).
    """

    def __init__(self, *, environ: Mapping[str, str] | None = None) -> None:
        self._by_name: dict[str, Destination] = {}
        self._types: dict[str, DestinationType] = {}
        self._environ = environ
        #: What `close` closes: lazily built default instances and instances built from settings.
        self._closers: dict[str, Callable[[], None]] = {}
        #: Seconds a ``deliver`` call of a destination may take, by name (a config's ``deliver_timeout``).
        self.timeouts: dict[str, float] = {}

    def timeout_of(self, name: str) -> float:
        """Seconds one ``deliver`` call of ``name`` may take: its ``deliver_timeout``, else the default."""
        return self.timeouts.get(name, DEFAULT_DELIVER_TIMEOUT)

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

    # --- types -----------------------------------------------------------------------------------
    def type_registrar(self, plugin: str, on_error: Callable[[str], None]) -> RegisterDestinationType:
        """The ``register`` callback handed to one plugin's ``register_destination_types``."""

        def register(
            type_name: str,
            factory: DestinationFactory,
            *,
            settings: Iterable[str] = (),
            secrets: Iterable[str] = (),
        ) -> None:
            problem = self._check_type(type_name, factory)
            if problem is None:
                try:
                    kind = DestinationType(
                        name=type_name,
                        plugin=plugin,
                        factory=factory,
                        settings=frozenset(_keys(settings, "settings")),
                        secrets=frozenset(_keys(secrets, "secrets")),
                    )
                except ValueError as exc:
                    problem = f"destination type {type_name!r}: {exc}"
            if problem is not None:
                on_error(problem)
                return
            self._types[type_name] = kind
            # The default instance, unless a plain registration took the name (it keeps it).
            if type_name not in self._by_name:
                lazy = _LazyInstance(kind, self._environ)
                self._by_name[type_name] = Destination(
                    name=type_name,
                    plugin=plugin,
                    deliver=lazy.deliver,
                    deliver_many=lazy.deliver_many,
                    check=lazy.check,
                    type=type_name,
                    default=True,
                )
                self._closers[type_name] = lazy.close

        return register

    def _check_type(self, type_name: object, factory: object) -> str | None:
        if not isinstance(type_name, str) or not TYPE_NAME.match(type_name):
            return (
                f"invalid destination type name {type_name!r}: use lower case letters, digits and '_', "
                "starting with a letter"
            )
        if not callable(factory):
            return f"destination type {type_name!r}: factory must be callable, got {type(factory).__name__}"
        taken = self._types.get(type_name)
        if taken is not None:
            return f"destination type {type_name!r} is already registered by plugin {taken.plugin!r}"
        return None

    def types(self) -> list[str]:
        """Every registered type name, sorted."""
        return sorted(self._types)

    def get_type(self, type_name: str) -> DestinationType | None:
        """The registered type, or None."""
        return self._types.get(type_name)

    def add_instance(self, name: str, type_name: str, settings: DestinationSettings) -> Destination:
        """Build an instance of a type from its settings now and register it under ``name``.

        It replaces the type's default instance of that name; any other taken name is refused.

        Raises:
            ConfigurationError: an unknown type, a taken or invalid name, or what the factory raised.
        """
        kind = self._types.get(type_name)
        if kind is None:
            known = ", ".join(self.types()) or "none"
            raise ConfigurationError(
                f"unknown destination type {type_name!r} (registered types: {known}); "
                "install or enable the plugin that provides it"
            )
        taken = self._by_name.get(name)
        if taken is not None and not taken.default:
            raise ConfigurationError(f"destination {name!r} is already registered by plugin {taken.plugin!r}")
        if taken is None and (problem := self._check(name, _never, None)):
            raise ConfigurationError(problem)
        built = kind.build(name, settings)
        many = getattr(built, "deliver_many", None)
        own_check = getattr(built, "check", None)
        self._forget(name)
        self._by_name[name] = Destination(
            name=name,
            plugin=kind.plugin,
            deliver=built.deliver,
            deliver_many=many if callable(many) else None,
            check=checked(name, own_check) if callable(own_check) else None,
            type=type_name,
        )
        self._closers[name] = getattr(built, "close", lambda: None)
        return self._by_name[name]

    def close(self) -> None:
        """Close every instance built from a type (default instances only if they were used)."""
        closers, self._closers = self._closers, {}
        for close in closers.values():
            close()

    def _forget(self, name: str) -> None:
        self._by_name.pop(name, None)
        close = self._closers.pop(name, None)
        if close is not None:
            close()

    def remove_plugin(self, plugin: str) -> None:
        """Forget every destination and type a plugin registered (it was unregistered)."""
        for name in [n for n, d in self._by_name.items() if d.plugin == plugin]:
            self._forget(name)
        self._types = {n: t for n, t in self._types.items() if t.plugin != plugin}

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._by_name)

    def of_plugin(self, plugin: str) -> list[str]:
        """The names one plugin registered."""
        return sorted(n for n, d in self._by_name.items() if d.plugin == plugin)

    def types_of_plugin(self, plugin: str) -> list[str]:
        """The destination types one plugin registered."""
        return sorted(n for n, kind in self._types.items() if kind.plugin == plugin)

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


def _never(delivery: Delivery) -> None:  # stands for a deliver function when only a name is checked
    raise NotImplementedError


def _keys(keys: Iterable[str], what: str) -> list[str]:
    if isinstance(keys, str):
        raise ValueError(f"{what} must be a list of keys, not a string")
    out = list(keys)
    for key in out:
        if not isinstance(key, str) or not SETTING_KEY.match(key) or key.endswith("_env"):
            raise ValueError(f"invalid setting key {key!r} in {what}: lower case letters, digits and '_'")
    return out
