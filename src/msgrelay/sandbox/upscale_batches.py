"""A generation batch in the Upscale emulator: its plan, its progress over time, the bodies it renders.

A batch plans one message per (lead, message type) in generation order; each takes
``seconds_per_message``. At any moment it renders the retrieve response the vendor would send
(partial while in progress) and, once complete, the completion webhook's body.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import attrs

from msgrelay.upscale.models import message_field

__all__ = ["IN_PROGRESS_MESSAGE", "IN_PROGRESS_REASON", "NO_HIRING_REASON", "Batch", "PlannedMessage"]

IN_PROGRESS_MESSAGE = (
    "Message generation is still in progress. Data shown is partial. "
    "Please wait for webhook notification or check again later."
)
IN_PROGRESS_REASON = (
    "Message generation is still in progress. "
    "The failed messages count will be available once generation is complete."
)
NO_HIRING_REASON = "No hiring activity found for one or more prospects."


@attrs.define
class PlannedMessage:
    """One message of a batch, in the order the emulator generates them."""

    lead_index: int
    message_type: str
    text: str | None  # None: generation fails (no job posts)
    charged: bool


@attrs.define
class Batch:
    """A generation request the emulator accepted."""

    secure_request_id: str
    body: dict[str, Any]
    message_types: list[str]
    plan: list[PlannedMessage]
    started_at: float
    seconds_per_message: float

    @property
    def completes_at(self) -> float:
        return self.started_at + self.seconds_per_message * len(self.plan)

    def ready(self, now: float) -> int:
        """How many planned messages are done at ``now``."""
        if self.seconds_per_message <= 0:
            return len(self.plan)
        return min(len(self.plan), int((now - self.started_at) / self.seconds_per_message))

    def retrieve_body(self, now: float) -> dict[str, Any]:
        """The retrieve response of this batch as it stands at ``now``."""
        ready = self.ready(now)
        complete = ready == len(self.plan)
        source = self.body
        leads: list[dict[str, Any]] = []
        for lead in source["lead_data"]:
            item: dict[str, Any] = {
                "external_prospect_id": lead["external_prospect_id"],
                "linkedin": lead["linkedin"],
            }
            for kind in self.message_types:
                item[message_field(kind)] = None
            leads.append(item)
        generated = 0
        failed_leads: set[int] = set()
        for planned in self.plan[:ready]:
            if planned.text is None:
                failed_leads.add(planned.lead_index)
                leads[planned.lead_index]["no_job_posts"] = True
            else:
                generated += 1
                leads[planned.lead_index][message_field(planned.message_type)] = planned.text
        metadata = {
            "request_message_generation_api_request_secure_request_id": self.secure_request_id,
            "retrieve_messages_api_request_secure_request_id": str(uuid.uuid4()),
            "generation_status": "complete" if complete else "in_progress",
            "status_message": "Message generation is complete." if complete else IN_PROGRESS_MESSAGE,
            "requested_message_count": len(self.plan),
            "generated_message_count": generated,
            "failed_messages_count": len(failed_leads) if complete else None,
            "failed_messages_reason": (NO_HIRING_REASON if failed_leads else None)
            if complete
            else IN_PROGRESS_REASON,
        }
        return {
            "metadata": metadata,
            "account": {"automation_tool_customer_id": source["automation_tool_customer_id"]},
            "campaign": {
                "automation_tool_campaign_id": source["automation_tool_campaign_id"],
                "automation_tool_campaign_name": source["automation_tool_campaign_name"],
                "message_sequence": source["message_sequence"],
                "leads_data": leads,
            },
        }

    def completion_event(self, triggered_at: float) -> dict[str, Any]:
        """The completion webhook body of this batch, sent at ``triggered_at``."""
        generated = sum(1 for item in self.plan if item.text is not None)
        return {
            "secure_request_id": self.secure_request_id,
            "status": "complete",
            "completed_at": _iso(self.completes_at),
            "requested_messages_count": len(self.plan),
            "generated_messages_count": generated,
            "webhook_triggered_at": _iso(triggered_at),
        }


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
