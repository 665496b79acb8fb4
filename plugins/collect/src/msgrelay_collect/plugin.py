"""The plugin msgrelay loads (entry point ``collect = msgrelay_collect``): the ``collect`` destination
and its demo emulator.

The destination is configured from the environment when it is first used, not when it is loaded, so an
installed but unused plugin costs nothing and needs no settings; a missing or bad setting fails the
delivery (for good: retrying cannot fix it) with an error naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager

from msgrelay import hookimpl
from msgrelay.destinations import CheckResult as Line
from msgrelay.destinations import (
    DemoEmulator,
    DestinationSettings,
    LazyDestination,
    RegisterDestination,
    RegisterDestinationType,
)
from msgrelay_collect.checks import CheckResult, check_environment
from msgrelay_collect.destination import DEFAULT_NAME, CollectDestination
from msgrelay_collect.emulator import running_emulator

__all__ = [
    "EnvironmentCollect",
    "build_destination",
    "demo_emulator",
    "register_destination_types",
    "register_destinations",
]


class EnvironmentCollect(LazyDestination[CollectDestination]):
    """A `CollectDestination` configured from COLLECT_API_KEY, COLLECT_BASE_URL and MSGRELAY_COLLECT_*
    on first use, then reused.

    Args:
        environ: where to read the settings (default ``os.environ``, read on first use).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(lambda: CollectDestination.from_env(environ))
        self.environ = environ

    def check(self) -> list[CheckResult]:
        """The ``msgrelay check`` lines for the environment's settings (a bad one is a failed line)."""
        return check_environment(self.environ)

    def check_results(self) -> list[Line]:
        """For ``msgrelay check``: `check` as msgrelay's `CheckResult` lines (a failed one's detail
        names the setting to fix)."""
        return [
            Line(r.name, r.ok, r.detail if r.ok else "refused", "" if r.ok else r.detail)
            for r in self.check()
        ]


@hookimpl
def register_destinations(register: RegisterDestination) -> None:
    """Register ``collect``: each lead's messages written into a Collect request."""
    collect = EnvironmentCollect()
    register(DEFAULT_NAME, collect.deliver, deliver_many=collect.deliver_many, check=collect.check_results)


@hookimpl
def demo_emulator(destination_type: str) -> AbstractContextManager[DemoEmulator] | None:
    """For ``collect``: msgrelay's sandbox on 127.0.0.1, the destination pointed at its seeded request."""
    if destination_type != DEFAULT_NAME:
        return None
    return running_emulator()


@hookimpl
def register_destination_types(register: RegisterDestinationType) -> None:
    """Register the type ``collect`` for a config file's instances:
    a Collect account or request per instance (its ``api_key``, ``request_id``, ``channel``...).

    The default instance ``collect`` stays the one configured from the environment (above).
    """
    register(
        DEFAULT_NAME,
        build_destination,
        settings=["base_url", "request_id", "channel", "send_after", "title", "timeout"],
        secrets=["api_key"],
    )


def build_destination(name: str, settings: DestinationSettings) -> CollectDestination:
    """One instance from its settings table (secrets already resolved from their ``*_env`` variables)."""
    return CollectDestination.from_mapping(settings, where=f"destination {name!r}")
