"""An emulator of the Upscale Outreach and Collect APIs, for the demo, cassettes and your own tests."""

from msgrelay.sandbox.faults import Fault, FaultPlan
from msgrelay.sandbox.server import (
    COLLECT_PREFIX,
    SANDBOX_COLLECT_KEY,
    SANDBOX_UPSCALE_KEY,
    UPSCALE_PREFIX,
    Sandbox,
    SandboxApp,
)

__all__ = [
    "COLLECT_PREFIX",
    "SANDBOX_COLLECT_KEY",
    "SANDBOX_UPSCALE_KEY",
    "UPSCALE_PREFIX",
    "Fault",
    "FaultPlan",
    "Sandbox",
    "SandboxApp",
]
