"""msgrelay-collect: a msgrelay destination that writes each lead's generated messages into a Collect
request (usecollect.com), as one internal note per lead or as scheduled emails or SMS.

Installed, it registers the ``collect`` destination (configured by ``COLLECT_API_KEY``,
``COLLECT_BASE_URL`` and ``MSGRELAY_COLLECT_*``). A host can build its own:
``CollectDestination(CollectSettings(api_key=..., request_id=...)).register_as(register, "crm-notes")``.
"""

__all__ = [
    "CHANNELS",
    "DEFAULT_NAME",
    "REQUEST_ID_FIELD",
    "CheckResult",
    "CollectDestination",
    "CollectEmulator",
    "CollectSettings",
    "CredentialsRefusedError",
    "EnvironmentCollect",
    "NotSentError",
    "__version__",
    "build_destination",
    "check_environment",
    "demo_emulator",
    "is_retryable",
    "lead_field",
    "plan_delivery",
    "register_destination_types",
    "register_destinations",
    "running_emulator",
]

from msgrelay_collect._version import __version__
from msgrelay_collect.checks import CheckResult, check_environment
from msgrelay_collect.compose import REQUEST_ID_FIELD, lead_field, plan_delivery
from msgrelay_collect.destination import DEFAULT_NAME, CollectDestination
from msgrelay_collect.emulator import CollectEmulator, running_emulator
from msgrelay_collect.errors import CredentialsRefusedError, NotSentError, is_retryable
from msgrelay_collect.plugin import (
    EnvironmentCollect,
    build_destination,
    demo_emulator,
    register_destination_types,
    register_destinations,
)
from msgrelay_collect.settings import CHANNELS, CollectSettings
