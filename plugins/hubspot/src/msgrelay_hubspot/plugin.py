"""The plugin msgrelay loads (entry point ``hubspot = msgrelay_hubspot``): the ``hubspot`` destination,
its settings check, and its emulator for ``msgrelay demo --to hubspot``.

The destination is configured from the environment when it is first used, not when it is loaded, so
an installed but unused plugin needs no settings; a missing or bad setting fails the delivery (for
good) with an error naming the variable.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager

from msgrelay import Delivery, hookimpl
from msgrelay.destinations import (
    DemoEmulator,
    DestinationSettings,
    RegisterDestination,
    RegisterDestinationType,
)
from msgrelay.errors import ConfigurationError
from msgrelay_hubspot.config import SETTINGS
from msgrelay_hubspot.destination import DEFAULT_NAME, HubSpotDestination
from msgrelay_hubspot.emulator import serve
from msgrelay_hubspot.errors import PLUGIN

__all__ = [
    "EnvironmentHubSpot",
    "build_destination",
    "check_environment",
    "demo_emulator",
    "register_destination_types",
    "register_destinations",
]


class EnvironmentHubSpot:
    """A `HubSpotDestination` configured from ``MSGRELAY_HUBSPOT_*`` on first use, then reused.

    Args:
        environ: where to read the settings (default ``os.environ``, read on first use).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ
        self._destination: HubSpotDestination | None = None
        self._lock = threading.Lock()

    def destination(self) -> HubSpotDestination:
        """The configured destination; a `ConfigurationError` naming the variable if a setting is wrong."""
        with self._lock:
            if self._destination is None:
                self._destination = HubSpotDestination.from_env(self.environ)
            return self._destination

    def deliver(self, delivery: Delivery) -> None:
        """`HubSpotDestination.deliver`."""
        self.destination().deliver(delivery)

    def deliver_many(self, deliveries: Sequence[Delivery]) -> dict[str, BaseException]:
        """`HubSpotDestination.deliver_many`."""
        return self.destination().deliver_many(deliveries)

    def close(self) -> None:
        """Close the destination's connections, if it was ever used."""
        with self._lock:
            if self._destination is not None:
                self._destination.close()
                self._destination = None

    def __repr__(self) -> str:
        return f"<EnvironmentHubSpot {self._destination!r}>"


def check_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """What ``msgrelay check`` reports for the environment-configured destination: one line per
    problem (a setting, the token, the id property), [] when all is well."""
    try:
        destination = HubSpotDestination.from_env(environ)
    except ConfigurationError as exc:
        return [f"{PLUGIN}: {exc}"]
    with destination:
        return destination.check()


@hookimpl
def register_destinations(register: RegisterDestination) -> None:
    """Register ``hubspot``: each lead upserted as a contact of the portal of ``MSGRELAY_HUBSPOT_TOKEN``."""
    hubspot = EnvironmentHubSpot()
    register(DEFAULT_NAME, hubspot.deliver, deliver_many=hubspot.deliver_many)


@hookimpl
def demo_emulator(destination_type: str) -> AbstractContextManager[DemoEmulator] | None:
    """For ``msgrelay demo --to hubspot``: the HubSpot emulator on 127.0.0.1, on a free port."""
    if destination_type != DEFAULT_NAME:
        return None
    return serve()


@hookimpl
def register_destination_types(register: RegisterDestinationType) -> None:
    """Register the type ``hubspot`` for a config file's instances:
    a HubSpot portal per instance (its ``token``, ``id_property``...).

    The default instance ``hubspot`` stays the one configured from the environment (above).
    """
    register(
        DEFAULT_NAME, build_destination, settings=[k for k in SETTINGS if k != "token"], secrets=["token"]
    )


def build_destination(name: str, settings: DestinationSettings) -> HubSpotDestination:
    """One instance from its settings table (secrets already resolved from their ``*_env`` variables)."""
    return HubSpotDestination.from_mapping(settings, where=f"destination {name!r}")
