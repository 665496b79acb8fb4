"""What one request carries: a Standard Webhooks envelope around one lead (or one Collect message).

An Upscale lead::

    {"type": "upscale.lead.messages_generated",
     "timestamp": "2026-01-15T10:30:00Z",
     "data": {"delivery_key": "d_...", "source": "upscale", "secure_request_id": "...",
              "customer_id": "...", "campaign_id": "...", "campaign_name": "...",
              "external_prospect_id": "crm-000123",
              "linkedin": "https://www.linkedin.com/in/ada-example/",
              "no_job_posts": true,
              "messages": {"connection_request": "Hi Ada, ...", "first_follow_up": "..."},
              "message_connection_request": "Hi Ada, ...", "message_first_follow_up": "...",
              "null_messages": ["hiring_activity"],        # requested, not generated
              "status_message": "...", "failed_messages_reason": "...",   # the batch's, from the vendor
              "requested_message_count": 4, "generated_message_count": 3, "failed_messages_count": 1,
              "first_name": "Ada", "lead_company": "...",  # the lead as submitted, when msgrelay sent it
              "email": "...", "last_name": "...", ...,     # when the lead carries them
              "extra": {...}}}                             # any other key the lead carries

Messages that were not generated (null) are left out, so a receiver never overwrites a text with an
empty value (``destinations.md`` §0.2). ``message_<type>`` repeats each text as a flat key, which
Zapier and Make map far more easily than a nested object (§3.5). The body is serialised once, compactly;
those exact bytes are signed and sent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from msgrelay import Delivery
from msgrelay.upscale import LEAD_INPUT_FIELDS
from msgrelay_webhook.linkedin import canonical_linkedin

__all__ = ["COLLECT_MESSAGE_EVENT", "LEAD_EVENT", "build_payload", "encode_body", "iso_timestamp"]

#: The event type of an Upscale lead with its generated messages.
LEAD_EVENT = "upscale.lead.messages_generated"
#: The event type of a Collect message.
COLLECT_MESSAGE_EVENT = "collect.request_message.created"
#: Lead attributes of the normalised lead (§0.2) lifted from the lead's extra keys to the top level.
LEAD_ATTRIBUTES = ("email", "first_name", "last_name", "company", "generated_at")


def iso_timestamp(seconds: float) -> str:
    """``2026-01-15T10:30:00Z`` (UTC, whole seconds)."""
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_payload(delivery: Delivery, *, now: float) -> dict[str, Any]:
    """The JSON-ready envelope for one delivery.

    Args:
        delivery: what the relay hands the destination.
        now: seconds since the epoch; the event ``timestamp`` when the lead carries no ``generated_at``.
    """
    context = delivery.context
    if delivery.lead is None:
        data: dict[str, Any] = {
            "delivery_key": delivery.key,
            "source": context.source,
            "request_id": context.batch_id,
            "message": delivery.message,
        }
        return {"type": COLLECT_MESSAGE_EVENT, "timestamp": iso_timestamp(now), "data": data}
    lead = delivery.lead
    messages = {kind: text for kind, text in lead.messages.items() if text is not None}
    data = {
        "delivery_key": delivery.key,
        "source": context.source,
        "secure_request_id": context.secure_request_id,
        "customer_id": context.customer_id,
        "campaign_id": context.campaign_id,
        "campaign_name": context.campaign_name,
        "external_prospect_id": lead.external_prospect_id,
        "linkedin": canonical_linkedin(lead.linkedin),
        "no_job_posts": lead.no_job_posts,
        "messages": messages,
        "null_messages": list(lead.null_messages),
        **context.failures(),
    }
    for kind, text in messages.items():
        data[f"message_{kind}"] = text
    for name in LEAD_INPUT_FIELDS:
        value = getattr(lead, name)
        if value is not None:
            data[name] = value
    extra = dict(lead.extra)
    for name in LEAD_ATTRIBUTES:
        value = extra.pop(name, None)
        if value is not None:
            data[name] = value
    if extra:
        data["extra"] = extra
    generated_at = data.get("generated_at")
    timestamp = generated_at if isinstance(generated_at, str) and generated_at else iso_timestamp(now)
    return {"type": LEAD_EVENT, "timestamp": timestamp, "data": data}


def encode_body(payload: Any) -> bytes:
    """The payload as compact UTF-8 JSON: the exact bytes that are signed and sent.

    Raises:
        TypeError: a value is not JSON-serialisable.
    """
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
