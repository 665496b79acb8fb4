"""An emulator of the Upscale Outreach and Collect APIs, for the demo, cassettes and your own tests."""

from msgrelay.sandbox.collect_seed import (
    SEED_CAMPAIGN_ID,
    SEED_EMAIL_MESSAGE_ID,
    SEED_INTERNAL_MESSAGE_ID,
    SEED_REQUEST_ID,
    SEED_SMS_MESSAGE_ID,
)
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
    "SEED_CAMPAIGN_ID",
    "SEED_EMAIL_MESSAGE_ID",
    "SEED_INTERNAL_MESSAGE_ID",
    "SEED_REQUEST_ID",
    "SEED_SMS_MESSAGE_ID",
    "UPSCALE_PREFIX",
    "Fault",
    "FaultPlan",
    "Sandbox",
    "SandboxApp",
]
