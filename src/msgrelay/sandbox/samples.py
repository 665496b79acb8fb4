"""Sample generation requests for the sandbox: the packaged leads with a four-step sequence.

What ``msgrelay demo``, the README's examples and the test harness submit when they need a realistic
batch without writing one.
"""

from __future__ import annotations

from importlib import resources

from msgrelay.upscale.leads import read_leads
from msgrelay.upscale.models import GenerationRequest, MessageStep

__all__ = ["DEMO_SEQUENCE", "default_request"]

#: The message types the sample request asks for, in step order.
DEMO_SEQUENCE = ("connection_request", "first_follow_up", "share_material", "hiring_activity")


def default_request(notify_url: str) -> GenerationRequest:
    """The packaged sample leads and four message types, notifying ``notify_url``."""
    leads = read_leads(str(resources.files("msgrelay") / "data" / "sample_leads.csv"))
    return GenerationRequest(
        completion_notification_url=notify_url,
        automation_tool_customer_id="demo-customer",
        automation_tool_campaign_id="demo-campaign",
        automation_tool_campaign_name="msgrelay demo",
        proposition_company_name="Ledgerly",
        proposition_company_url="https://ledgerly.example.com",
        material_link="https://ledgerly.example.com/case-studies/close-in-3-days",
        hiring_location="United Kingdom",
        signoff_name="Priya",
        message_sequence=[MessageStep(step=i, message_type=t) for i, t in enumerate(DEMO_SEQUENCE, start=1)],
        lead_data=leads,
    )
