"""What the fixtures hand a test: a recorder of hook calls, a valid made-up generation request, and the
pipeline wired together (`RelayHarness`). Usable without pytest too.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from msgrelay.collect.client import CollectClient
from msgrelay.destinations.store import Store
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import HookCall, PluginManager
from msgrelay.relay import Relay, RelayReport
from msgrelay.sandbox import Sandbox
from msgrelay.upscale.client import UpscaleClient
from msgrelay.upscale.models import GenerationRequest, LeadInput, MessageStep

__all__ = ["DEFAULT_MESSAGE_TYPES", "HookRecorder", "RelayHarness", "make_request"]

#: The message types `make_request` asks for unless told otherwise.
DEFAULT_MESSAGE_TYPES = ("connection_request", "first_follow_up")


class HookRecorder:
    """Every hook call, in order: ``recorder.of("transform_lead")`` → the `HookCall` objects."""

    def __init__(self) -> None:
        self.calls: list[HookCall] = []

    def __call__(self, call: HookCall) -> None:
        self.calls.append(call)

    def of(self, hook: str, plugin: str | None = None) -> list[HookCall]:
        """The calls of one hook (to one plugin's implementation, if given)."""
        return [c for c in self.calls if c.hook == hook and (plugin is None or c.plugin == plugin)]

    @property
    def hooks(self) -> list[str]:
        """Hook names in call order."""
        return [c.hook for c in self.calls]


def make_request(
    leads: int = 3,
    *,
    message_types: Sequence[str] = DEFAULT_MESSAGE_TYPES,
    notify_url: str = "http://127.0.0.1:9/unused",
    prefix: str = "lead",
) -> GenerationRequest:
    """A valid generation request for ``leads`` made-up leads (ids ``lead-0``, ``lead-1``...)."""
    return GenerationRequest(
        completion_notification_url=notify_url,
        automation_tool_customer_id="test-customer",
        automation_tool_campaign_id="test-campaign",
        automation_tool_campaign_name="msgrelay tests",
        proposition_company_name="Example Labs",
        proposition_company_url="https://example.com",
        material_link="https://example.com/case-study",
        hiring_location="United Kingdom",
        signoff_name="Sam",
        message_sequence=[MessageStep(step=i, message_type=t) for i, t in enumerate(message_types, start=1)],
        lead_data=[
            LeadInput(
                external_prospect_id=f"{prefix}-{i}",
                linkedin=f"https://www.linkedin.com/in/{prefix}-{i}/",
                first_name=f"Person{i}",
                lead_company=f"Company {i}",
            )
            for i in range(leads)
        ],
    )


@attrs.define
class RelayHarness:
    """The pipeline wired for a test: the sandbox, both clients, a ledger and store under
    ``msgrelay_home``, the test's plugin manager, and a relay whose retries wait milliseconds."""

    sandbox: Sandbox
    plugins: PluginManager
    ledger: SQLiteLedger
    client: UpscaleClient
    relay: Relay
    store: Store
    collect: CollectClient

    def submit(self, leads: int = 3, *, message_types: Sequence[str] = DEFAULT_MESSAGE_TYPES) -> str:
        """Request a generation in the sandbox and wait until it is complete; its ``secure_request_id``."""
        ticket = self.client.request_generation(make_request(leads, message_types=message_types))
        self.client.wait_for_completion(ticket.secure_request_id, timeout=60.0, initial_interval=0.01)
        return ticket.secure_request_id

    def generate(
        self,
        leads: int = 3,
        *,
        message_types: Sequence[str] = DEFAULT_MESSAGE_TYPES,
        destinations: Sequence[str] | None = None,
        max_wait: float = 5.0,
    ) -> RelayReport:
        """Generate for ``leads`` leads and relay them to ``destinations`` (default: the store)."""
        sid = self.submit(leads, message_types=message_types)
        return self.relay.relay(sid, destinations=destinations, max_wait=max_wait)
