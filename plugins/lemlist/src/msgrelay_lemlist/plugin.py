"""The plugin msgrelay loads (entry point ``lemlist = msgrelay_lemlist``): the ``lemlist`` destination,
configured from ``MSGRELAY_LEMLIST_*``, and its emulator for ``msgrelay demo --to lemlist``.

The settings are read when the destination is first used, not when the plugin is loaded, so an
installed but unused plugin needs none; a missing or bad setting fails the delivery (permanently) with
an error naming the variable.
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
from msgrelay.errors import MsgrelayError
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


class EnvironmentLemlist(LazyDestination[LemlistDestination]):
    """A `LemlistDestination` configured from MSGRELAY_LEMLIST_* on first use, then reused.

    Args:
        environ: where to read the settings (default ``os.environ``, read on first use).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(lambda: LemlistDestination.from_env(environ))
        self.environ = environ

    def check(self) -> str:
        """`LemlistDestination.check`."""
        return self.destination().check()

    def check_results(self) -> list[CheckResult]:
        """For ``msgrelay check``: `check` as one line (the key and the campaign, by cheap reads); a
        refused setting is a failed line whose fix names the variable."""
        try:
            found = self.check()
        except MsgrelayError as exc:
            return [CheckResult(f"{DESTINATION_TYPE}: settings", False, "refused", str(exc))]
        return [CheckResult(f"{DESTINATION_TYPE}: settings", True, found)]


@hookimpl
def register_destinations(register: RegisterDestination) -> None:
    """Register ``lemlist``: each lead added to ``MSGRELAY_LEMLIST_CAMPAIGN_ID`` with its texts."""
    lemlist = EnvironmentLemlist()
    register(
        DESTINATION_TYPE, lemlist.deliver, deliver_many=lemlist.deliver_many, check=lemlist.check_results
    )


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
