"""Where relayed items go: the values a destination receives, the registry of destinations by name.

The built-in SQLite store (`msgrelay.destinations.store`) and its export (`msgrelay.destinations.export`)
sit on top of the relay and are imported from their modules; this package's face is the part plugins
and the relay share.
"""

__all__ = [
    "COLLECT",
    "DEFAULT_DESTINATION",
    "UPSCALE",
    "Check",
    "CheckResult",
    "Deliver",
    "DeliverMany",
    "Delivery",
    "DemoEmulator",
    "Destination",
    "DestinationRegistry",
    "GeneratedMessage",
    "RegisterDestination",
    "RelayContext",
]

from msgrelay.destinations.checks import Check, CheckResult
from msgrelay.destinations.delivery import COLLECT, UPSCALE, Delivery, GeneratedMessage, RelayContext
from msgrelay.destinations.emulator import DemoEmulator
from msgrelay.destinations.registry import (
    DEFAULT_DESTINATION,
    Deliver,
    DeliverMany,
    Destination,
    DestinationRegistry,
    RegisterDestination,
)
