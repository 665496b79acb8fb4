"""msgrelay-lemlist: a msgrelay destination that adds each lead to a lemlist campaign, every generated
message in a custom variable (``upscaleConnectionRequest``, ``upscaleFirstFollowUp``...).

Installed, it registers the ``lemlist`` destination (configured by ``MSGRELAY_LEMLIST_*``). A host can
build its own: ``LemlistDestination(LemlistSettings(api_key=..., campaign_id=...)).register_as(register,
"acme-lemlist")``. `LemlistEmulator` emulates lemlist's API for tests and the demo.
"""

__all__ = [
    "DESTINATION_TYPE",
    "CampaignRunningError",
    "EnvironmentLemlist",
    "LemlistClient",
    "LemlistDestination",
    "LemlistEmulator",
    "LemlistSettings",
    "NotSentError",
    "OtherCampaignError",
    "RateLimiter",
    "RunningEmulator",
    "__version__",
    "build_destination",
    "canonical_linkedin",
    "demo_emulator",
    "is_retryable",
    "lead_body",
    "lead_field",
    "register_destination_types",
    "register_destinations",
    "serve",
    "variable_name",
]

from msgrelay_lemlist._version import __version__
from msgrelay_lemlist.client import LemlistClient
from msgrelay_lemlist.destination import DESTINATION_TYPE, LemlistDestination
from msgrelay_lemlist.emulator import LemlistEmulator, RunningEmulator, serve
from msgrelay_lemlist.errors import CampaignRunningError, NotSentError, OtherCampaignError, is_retryable
from msgrelay_lemlist.mapping import canonical_linkedin, lead_body, lead_field, variable_name
from msgrelay_lemlist.pacing import RateLimiter
from msgrelay_lemlist.plugin import (
    EnvironmentLemlist,
    build_destination,
    demo_emulator,
    register_destination_types,
    register_destinations,
)
from msgrelay_lemlist.settings import LemlistSettings
