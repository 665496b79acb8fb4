"""msgrelay: typed clients, a webhook receiver and a loss-free relay for the Upscale Outreach and
Collect message APIs, extended with pluggy plugins.

Plugins import only this module: ``from msgrelay import hookimpl``.
"""

__all__ = [
    "CollectClient",
    "GenerationRequest",
    "Lead",
    "LeadInput",
    "MessageStep",
    "MsgrelayError",
    "RetrieveResult",
    "UpscaleClient",
    "ValidationError",
    "__version__",
    "hookimpl",
]

from msgrelay._version import __version__
from msgrelay.collect import CollectClient
from msgrelay.errors import MsgrelayError, ValidationError
from msgrelay.hookspecs import hookimpl
from msgrelay.upscale import GenerationRequest, Lead, LeadInput, MessageStep, RetrieveResult, UpscaleClient
