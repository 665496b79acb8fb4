"""Where relayed items go: the values a destination receives, the registry of destinations by name, and
the destination types plugins register (`msgrelay.destinations.types`).

The built-in SQLite store (`msgrelay.destinations.store`) and its export (`msgrelay.destinations.export`)
sit on top of the relay and are imported from their modules; this package's face is the part plugins
and the relay share.
"""

__all__ = [
    "COLLECT",
    "DEFAULT_DESTINATION",
    "UPSCALE",
    "BuiltDestination",
    "Check",
    "CheckResult",
    "Deliver",
    "DeliverMany",
    "Delivery",
    "DemoEmulator",
    "Destination",
    "DestinationFactory",
    "DestinationRegistry",
    "DestinationSettings",
    "DestinationType",
    "DestinationsConfig",
    "GeneratedMessage",
    "LazyDestination",
    "RegisterDestination",
    "RegisterDestinationType",
    "RelayContext",
    "Route",
    "RouteTable",
    "config_from_env",
    "load_config",
]

from msgrelay.destinations.checks import Check, CheckResult
from msgrelay.destinations.config import DestinationsConfig, config_from_env, load_config
from msgrelay.destinations.delivery import COLLECT, UPSCALE, Delivery, GeneratedMessage, RelayContext
from msgrelay.destinations.emulator import DemoEmulator
from msgrelay.destinations.lazy import LazyDestination
from msgrelay.destinations.registry import (
    DEFAULT_DESTINATION,
    Deliver,
    DeliverMany,
    Destination,
    DestinationRegistry,
    RegisterDestination,
)
from msgrelay.destinations.routes import Route, RouteTable
from msgrelay.destinations.types import (
    BuiltDestination,
    DestinationFactory,
    DestinationSettings,
    DestinationType,
    RegisterDestinationType,
)
