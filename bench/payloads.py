"""Deterministic payloads shaped like the vendors' examples, at any size.

A retrieve response follows the seed example (``/work/shared/seeds/000_*.txt``): ``metadata``,
``account`` and ``campaign`` with one object per lead in ``leads_data``. Each lead carries four message
types (``outreach_message``, ``first_follow_up_message``, ``share_material_message``,
``hiring_activity_message``) of realistic LinkedIn lengths; every seventh lead's messages are all null
(not generated yet), every fifth lead has ``no_job_posts: true`` and a null ``hiring_activity_message``.
"""

from __future__ import annotations

from typing import Any

import orjson

MESSAGE_TYPES: tuple[str, ...] = (
    "connection_request",
    "first_follow_up",
    "share_material",
    "hiring_activity",
)
MESSAGE_KEYS: tuple[str, ...] = (
    "outreach_message",
    "first_follow_up_message",
    "share_material_message",
    "hiring_activity_message",
)
SIZES: tuple[int, ...] = (1_000, 10_000, 100_000)
REQUEST_ID = "550e8400-e29b-41d4-a716-446655440000"

_FIRST = ("Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Dennis", "Frances", "Ken", "Radia")
_COMPANY = ("Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises")
_CONNECT = (
    "Hi {name}, I noticed your work at {company} on scaling the platform team. We help companies like "
    "{company} cut onboarding time in half. Would love to connect and swap notes."
)
_FOLLOW = (
    "Thanks for connecting, {name}! I was curious how {company} handles lead routing today. Most teams we "
    "speak with lose a day or two between a form fill and the first touch, and the fix is usually small: "
    "one rule and one owner. Happy to share what worked for three of your peers if that is useful."
)
_SHARE = (
    "{name}, thought this might help: a short write-up on how a team the size of {company} rebuilt its "
    "outbound in six weeks, with the numbers before and after. No form to fill: "
    "https://example.com/material/{lead}"
)
_HIRING = (
    "Saw that {company} is hiring three account executives, {name}. Ramp time is usually the hidden cost; "
    "we shortened it by a month for similar teams. Worth a quick chat next week?"
)


def lead(index: int) -> dict[str, Any]:
    """The wire object of lead number ``index``."""
    name = _FIRST[index % len(_FIRST)]
    company = _COMPANY[index % len(_COMPANY)]
    lead_id = f"lead_{index:06d}"
    fill = {"name": name, "company": company, "lead": lead_id}
    pending = index % 7 == 6
    no_jobs = index % 5 == 4
    out: dict[str, Any] = {
        "external_prospect_id": lead_id,
        "linkedin": f"https://linkedin.com/in/{name.lower()}-{index}",
        "outreach_message": None if pending else _CONNECT.format(**fill),
        "first_follow_up_message": None if pending else _FOLLOW.format(**fill),
        "share_material_message": None if pending else _SHARE.format(**fill),
        "hiring_activity_message": None if pending or no_jobs else _HIRING.format(**fill),
    }
    if no_jobs:
        out["no_job_posts"] = True
    return out


def retrieve_response(leads: int) -> dict[str, Any]:
    """A complete (200) retrieve response with ``leads`` leads."""
    requested = leads * len(MESSAGE_TYPES)
    data = [lead(i) for i in range(leads)]
    generated = sum(1 for item in data for key in MESSAGE_KEYS if item[key] is not None)
    return {
        "metadata": {
            "request_message_generation_api_request_secure_request_id": REQUEST_ID,
            "retrieve_messages_api_request_secure_request_id": "660e8400-e29b-41d4-a716-446655440001",
            "generation_status": "complete",
            "status_message": "Message generation complete. Some messages could not be generated.",
            "requested_message_count": requested,
            "generated_message_count": generated,
            "failed_messages_count": requested - generated,
            "failed_messages_reason": "relevant research information not found; no hiring activity",
        },
        "account": {"automation_tool_customer_id": "customer_12345"},
        "campaign": {
            "automation_tool_campaign_id": "campaign_67890",
            "automation_tool_campaign_name": "Campaign 1 - North America",
            "message_sequence": [
                {"step": step, "messageType": kind} for step, kind in enumerate(MESSAGE_TYPES, start=1)
            ],
            "leads_data": data,
        },
    }


def retrieve_bytes(leads: int) -> bytes:
    """The JSON bytes of `retrieve_response`."""
    return orjson.dumps(retrieve_response(leads))


_CHANNELS = ("internal", "email", "sms")


def collect_message(index: int) -> dict[str, Any]:
    """One Collect message shaped like the seed (``seeds/003_*``); channels cycle internal, email, sms."""
    channel = _CHANNELS[index % 3]
    minute, second = divmod(index % 3600, 60)
    created = f"2026-02-06T09:{minute % 60:02d}:{second:02d}" + (".120Z" if index % 2 else "Z")
    common = {"id": f"msg_{index:07d}", "channel": channel, "createdAt": created, "requestId": "req_456"}
    if channel == "internal":
        return {
            **common,
            "title": "AI Agent - reply sent",
            "text": f"Here is the response generated by the agent for document {index}. " * 3,
            "updatedAt": created,
        }
    message = {
        **common,
        "body": f"Hello, a reminder that document {index} is still missing from your file. " * 2,
        "status": ("pending", "sent", "opened")[index % 3],
        "sendOn": "2026-02-07T10:00:00Z",
    }
    if channel == "email":
        message["title"] = "Your documents are due"
    return message


def collect_list_bytes(messages: int) -> bytes:
    """A Collect message list (a bare array, as the list endpoint returns) of ``messages`` messages."""
    return orjson.dumps([collect_message(i) for i in range(messages)])
