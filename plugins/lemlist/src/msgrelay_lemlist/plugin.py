"""The plugin msgrelay loads (entry point ``lemlist = msgrelay_lemlist``): the ``lemlist`` destination,
configured from ``MSGRELAY_LEMLIST_*``, and its emulator for ``msgrelay demo --to lemlist``.

The settings are read when the destination is first used, not when the plugin is loaded, so an
installed but unused plugin needs none; a missing or bad setting fails the delivery (permanently) with
an error naming the variable.
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
from msgrelay_lemlist.destination import DESTINATION_TYPE, LemlistDestination
from msgrelay_lemlist.emulator import serve
from msgrelay_lemlist.settings import LemlistSettings

__all__ = [
    "EnvironmentLemlist",
    "build_destination",
    "demo_emulator",
    "register_destination_types",
    "register_destinations",
]


class EnvironmentLemlist:
    """A `LemlistDestination` configured from the environment on first use, then reused.

    Args:
        environ: where to read ``MSGRELAY_LEMLIST_*`` (default ``os.environ``, read on first use).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ
        self._destination: LemlistDestination | None = None
        self._lock = threading.Lock()

    def destination(self) -> LemlistDestination:
        """The configured destination; a `ConfigurationError` naming the variable if a setting is wrong."""
        with self._lock:
            if self._destination is None:
                self._destination = LemlistDestination.from_env(self.environ)
            return self._destination

    def deliver(self, delivery: Delivery) -> None:
        """`LemlistDestination.deliver`."""
        self.destination().deliver(delivery)

    def deliver_many(self, deliveries: Sequence[Delivery]) -> dict[str, BaseException]:
        """`LemlistDestination.deliver_many`."""
        return self.destination().deliver_many(deliveries)

    def check(self) -> str:
        """`LemlistDestination.check`."""
        return self.destination().check()

    def close(self) -> None:
        """Close the destination's connections, if it was ever used."""
        with self._lock:
            if self._destination is not None:
                self._destination.close()
                self._destination = None

    def __repr__(self) -> str:
        return f"<EnvironmentLemlist {self._destination!r}>"


@hookimpl
def register_destinations(register: RegisterDestination) -> None:
    """Register ``lemlist``: each lead added to ``MSGRELAY_LEMLIST_CAMPAIGN_ID`` with its texts."""
    lemlist = EnvironmentLemlist()
    register(DESTINATION_TYPE, lemlist.deliver, deliver_many=lemlist.deliver_many)


@hookimpl
def demo_emulator(destination_type: str) -> AbstractContextManager[DemoEmulator] | None:
    """For ``lemlist``: the emulator on 127.0.0.1, with a paused campaign the demo's leads go to."""
    if destination_type != DESTINATION_TYPE:
        return None
    return serve()


@hookimpl
def register_destination_types(register: RegisterDestinationType) -> None:
    """Register the type ``lemlist`` for a config file's instances:
    a lemlist campaign per instance (its ``api_key``, ``campaign_id``...).

    The default instance ``lemlist`` stays the one configured from the environment (above).
    """
    register(
        DESTINATION_TYPE,
        build_destination,
        settings=["base_url", "campaign_id", "allow_running"],
        secrets=["api_key"],
    )


def build_destination(name: str, settings: DestinationSettings) -> LemlistDestination:
    """One instance from its settings table (secrets already resolved from their ``*_env`` variables)."""
    return LemlistDestination(LemlistSettings.from_mapping(settings, where=f"destination {name!r}"))
