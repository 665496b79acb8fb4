"""msgrelay: typed clients, a webhook receiver and a loss-free relay for the Upscale Outreach and
Collect message APIs, extended with pluggy plugins.

The names hosts and plugin authors type are re-exported here: ``from msgrelay import hookimpl,
Delivery``. Everything else is importable from its package (`msgrelay.upscale`, `msgrelay.collect`,
`msgrelay.transport`, `msgrelay.relay`, `msgrelay.ledger`, `msgrelay.web`, `msgrelay.testing`...).
"""

__all__ = [
    "COLLECT",
    "UPSCALE",
    "CollectClient",
    "Delivery",
    "DeliveryPolicy",
    "GeneratedMessage",
    "GenerationRequest",
    "Lead",
    "LeadInput",
    "MessageStep",
    "MsgrelayError",
    "PluginManager",
    "Relay",
    "RelayContext",
    "RelayReport",
    "RetrieveResult",
    "UpscaleClient",
    "ValidationError",
    "__version__",
    "delivery_key",
    "hookimpl",
]

from msgrelay._version import __version__
from msgrelay.collect import CollectClient
from msgrelay.destinations import COLLECT, UPSCALE, Delivery, GeneratedMessage, RelayContext
from msgrelay.errors import MsgrelayError, ValidationError
from msgrelay.ledger import delivery_key
from msgrelay.plugins import PluginManager, hookimpl
from msgrelay.relay import DeliveryPolicy, Relay, RelayReport
from msgrelay.upscale import GenerationRequest, Lead, LeadInput, MessageStep, RetrieveResult, UpscaleClient
