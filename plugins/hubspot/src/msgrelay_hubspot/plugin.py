"""The plugin msgrelay loads (entry point ``hubspot = msgrelay_hubspot``): the ``hubspot`` destination,
its settings check, and its emulator for ``msgrelay demo --to hubspot``.

The destination is configured from the environment when it is first used, not when it is loaded, so
an installed but unused plugin needs no settings; a missing or bad setting fails the delivery (for
good) with an error naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager

from msgrelay import hookimpl
from msgrelay.destinations import (
    CheckResult,
    DemoEmulator,
    DestinationSettings,
    LazyDestination,
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


class EnvironmentHubSpot(LazyDestination[HubSpotDestination]):
    """A `HubSpotDestination` configured from MSGRELAY_HUBSPOT_* on first use, then reused.

    Args:
        environ: where to read the settings (default ``os.environ``, read on first use).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(lambda: HubSpotDestination.from_env(environ))
        self.environ = environ

    def check(self) -> list[CheckResult]:
        """For ``msgrelay check``: `check_environment` as lines (settings, token, id property)."""
        problems = check_environment(self.environ)
        if problems:
            return [CheckResult(f"{DEFAULT_NAME}: settings", False, "refused", p) for p in problems]
        return [CheckResult(f"{DEFAULT_NAME}: settings", True, "token accepted, id property present")]


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
    register(DEFAULT_NAME, hubspot.deliver, deliver_many=hubspot.deliver_many, check=hubspot.check)


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
