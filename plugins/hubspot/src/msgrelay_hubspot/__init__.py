"""msgrelay-hubspot: a msgrelay destination that upserts each lead as a HubSpot contact, writing its
generated messages into contact properties (``msgrelay_<message_type>``) and, optionally, a note.

Installed, it registers the ``hubspot`` destination (configured by ``MSGRELAY_HUBSPOT_*``). A host can
build its own: ``HubSpotDestination(HubSpotSettings(token=...)).register_as(register, "crm-eu")``.
"""

__all__ = [
    "BATCH_CAP",
    "EMULATOR_TOKEN",
    "MAX_TEXT",
    "PLUGIN",
    "ContactWrite",
    "EnvironmentHubSpot",
    "Fault",
    "HubSpotAuthError",
    "HubSpotClient",
    "HubSpotDailyLimitError",
    "HubSpotDestination",
    "HubSpotEmulator",
    "HubSpotScopeError",
    "HubSpotSettings",
    "Pacer",
    "RecordError",
    "RunningEmulator",
    "__version__",
    "build_destination",
    "check_environment",
    "demo_emulator",
    "lead_field",
    "register_destination_types",
    "register_destinations",
    "serve",
]

from msgrelay_hubspot._version import __version__
from msgrelay_hubspot.client import BATCH_CAP, HubSpotClient, Pacer
from msgrelay_hubspot.config import HubSpotSettings
from msgrelay_hubspot.contacts import MAX_TEXT, ContactWrite, lead_field
from msgrelay_hubspot.destination import HubSpotDestination
from msgrelay_hubspot.emulator import EMULATOR_TOKEN, Fault, HubSpotEmulator, RunningEmulator, serve
from msgrelay_hubspot.errors import (
    PLUGIN,
    HubSpotAuthError,
    HubSpotDailyLimitError,
    HubSpotScopeError,
    RecordError,
)
from msgrelay_hubspot.plugin import (
    EnvironmentHubSpot,
    build_destination,
    check_environment,
    demo_emulator,
    register_destination_types,
    register_destinations,
)
