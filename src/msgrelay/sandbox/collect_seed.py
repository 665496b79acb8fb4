"""The Collect emulator's seed data: deterministic campaigns, requests, contacts and messages.

Plain data: each function returns new wire objects, in the order the API lists them, for
`msgrelay.sandbox.collect.CollectSandbox` to load and then change as calls come in. The ``SEED_*`` ids
are stable, so docs, demos and tests can name them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from msgrelay.collect.models import EMAIL, INTERNAL, OPENED, PENDING, SENT, SMS

#: The campaign most seeded requests belong to (9 of them; 7 listed without a ``filter``).
SEED_CAMPAIGN_ID = "Kq7vTz2mWb9xLc4Rn"
#: A second campaign with two requests.
SEED_OTHER_CAMPAIGN_ID = "P3hYd8sQe5uJf1GwA"
#: A request with messages on all three channels, newest first: email, SMS, sent email, internal x2.
SEED_REQUEST_ID = "NxAHPWu9hRzcyD24m"
#: A request whose messages use the older shape (no ``channel``) and an unknown channel.
SEED_LEGACY_REQUEST_ID = "Tc5JmQ8vRz3WkY7bD"
#: A request hidden from the sandbox key: every call on it answers 403.
SEED_HIDDEN_REQUEST_ID = "Wf2GsN6pXa9HcE4tK"

SEED_INTERNAL_MESSAGE_ID = "msg_Bq4Zr8TmXv2Wc9Lp"
SEED_EMAIL_MESSAGE_ID = "msg_Hd7Ks3PwYn6Rb2Qf"
SEED_SMS_MESSAGE_ID = "msg_Mv5Tg9JcZa4Xe8Nh"
SEED_SENT_EMAIL_MESSAGE_ID = "msg_Ry3Lb6WqFs2Kd9Pt"

#: The seeded requests hidden from the sandbox key.
HIDDEN_REQUEST_IDS = frozenset({SEED_HIDDEN_REQUEST_ID})


_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"


def meteor_id(seed: str, length: int = 17) -> str:
    """A deterministic Meteor-style id (17 characters from Meteor's alphabet) derived from ``seed``."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = []
    for _ in range(length):
        digest, index = divmod(digest, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


# --- seed data ---------------------------------------------------------------------------------
_PEOPLE = [
    ("Ada", "Lovelace", "Analytical Engines Ltd"),
    ("Grace", "Hopper", "Cobol Systems"),
    ("Alan", "Turing", "Bletchley Advisory"),
    ("Katherine", "Johnson", "Orbital Partners"),
    ("Edsger", "Dijkstra", "Shortest Path BV"),
    ("Barbara", "Liskov", "Substitution Inc"),
    ("Donald", "Knuth", "Literate Press"),
    ("Margaret", "Hamilton", "Apollo Guidance"),
    ("Tim", "Berners-Lee", "Hypertext Co"),
    ("Radia", "Perlman", "Spanning Tree GmbH"),
    ("Frances", "Allen", "Optimising Compilers"),
]


def _contact(index: int) -> dict[str, Any]:
    first, last, company = _PEOPLE[index % len(_PEOPLE)]
    return {
        "_id": meteor_id(f"contact-{index}"),
        "email": f"{first.lower()}.{last.lower()}@example.com",
        "firstName": first,
        "lastName": last,
        "company": company,
        "tag": ["sandbox"],
        "custom": [],
        "nbRequest": 1,
        "createdAt": "2025-12-01T09:00:00.000Z",
        "lastActivity": "2026-01-20T16:45:10.000Z",
    }


def _collect_request(request_id: str, campaign_id: str, status: str, index: int) -> dict[str, Any]:
    return {
        "_id": request_id,
        "campaignId": campaign_id,
        "createdAt": f"2026-01-{10 + index:02d}T08:00:00.000Z",
        "portalUrl": f"https://portal.collect.sandbox.invalid/r/{request_id}",
        "status": status,
        "dueDate": "2026-03-31T23:59:59.000Z",
        "privacy": "team",
        "contact": _contact(index),
        "branding": {"useBranding": False, "brandingId": None},
        "documents": [
            {
                "id": meteor_id(f"document-{index}"),
                "itemId": meteor_id("item-id-card"),
                "name": "Identity card",
                "status": "waiting",
                "order": 0,
                "visibility": "all",
                "mandatory": True,
                "extensions": ["pdf", "jpg", "png"],
                "multipleupload": False,
                "uploads": [],
            }
        ],
        "forms": [],
        "texts": [],
        "pages": [],
    }


def seed_campaigns() -> list[dict[str, Any]]:
    """The seeded campaigns (`SEED_CAMPAIGN_ID`, `SEED_OTHER_CAMPAIGN_ID`)."""
    campaigns = [
        (SEED_CAMPAIGN_ID, "Tenant onboarding 2026", "2025-11-03T10:00:00.000Z"),
        (SEED_OTHER_CAMPAIGN_ID, "Annual KYC refresh", "2025-11-17T14:30:00.000Z"),
    ]
    return [
        {"_id": campaign_id, "name": name, "createdAt": created, "status": "open"}
        for campaign_id, name, created in campaigns
    ]


def seed_requests() -> list[dict[str, Any]]:
    """The seeded requests with their contacts: nine in `SEED_CAMPAIGN_ID` (`SEED_REQUEST_ID` and
    `SEED_LEGACY_REQUEST_ID` first), two in `SEED_OTHER_CAMPAIGN_ID`, then `SEED_HIDDEN_REQUEST_ID`."""
    statuses = [
        "pending",
        "pending",
        "completed",
        "waiting",
        "due",
        "pending",
        "error",
        "archived",
        "cancelled",
    ]
    ids = [SEED_REQUEST_ID, SEED_LEGACY_REQUEST_ID] + [
        meteor_id(f"request-{i}") for i in range(2, len(statuses))
    ]
    requests = [
        _collect_request(request_id, SEED_CAMPAIGN_ID, status, index)
        for index, (request_id, status) in enumerate(zip(ids, statuses, strict=True))
    ]
    requests += [
        _collect_request(meteor_id(f"request-{index}"), SEED_OTHER_CAMPAIGN_ID, "pending", index)
        for index in (len(statuses), len(statuses) + 1)
    ]
    requests.append(_collect_request(SEED_HIDDEN_REQUEST_ID, SEED_CAMPAIGN_ID, "pending", 12))
    return requests


def seed_messages() -> list[dict[str, Any]]:
    """The seeded messages, in the order they were created (each names its request in ``requestId``)."""
    # The three timestamp forms the docs show all appear, so a client must read each of them.
    return [
        {
            "id": "msg_Ak2Np7Xs4Gd9Vf3J",
            "requestId": SEED_REQUEST_ID,
            "channel": INTERNAL,
            "title": "Imported from the old CRM",
            "text": None,
            "createdAt": "2022-07-04 07:20:06 UTC",
            "updatedAt": "2022-07-04 07:20:06 UTC",
        },
        {
            "id": SEED_INTERNAL_MESSAGE_ID,
            "requestId": SEED_REQUEST_ID,
            "channel": INTERNAL,
            "title": "AI Agent - reply sent",
            "text": "Here is the response generated by the agent...",
            "createdAt": "2026-01-21T10:12:46Z",
            "updatedAt": "2026-01-21T10:12:46Z",
        },
        {
            "id": SEED_SENT_EMAIL_MESSAGE_ID,
            "requestId": SEED_REQUEST_ID,
            "channel": EMAIL,
            "title": "Welcome to your tenant portal",
            "body": "Hello Ada, please upload your identity card on the portal.",
            "status": OPENED,
            "sendOn": "2026-01-21T10:15:00Z",
            "createdAt": "2026-01-21T10:12:46.120Z",
        },
        {
            "id": SEED_SMS_MESSAGE_ID,
            "requestId": SEED_REQUEST_ID,
            "channel": SMS,
            "body": "Reminder: two documents are still missing on your portal.",
            "status": SENT,
            "sendOn": "2026-02-01T09:00:00Z",
            "createdAt": "2026-01-31T17:02:11.457Z",
        },
        {
            "id": SEED_EMAIL_MESSAGE_ID,
            "requestId": SEED_REQUEST_ID,
            "channel": EMAIL,
            "title": "Your documents are due soon",
            "body": "Hello Ada, your documents are due on March 31. Thank you!",
            "status": PENDING,
            "sendOn": "2026-02-06T10:00:00Z",
            "createdAt": "2026-02-06T09:00:00Z",
        },
        {
            "id": "msg_Qe8Wd3Hn6Ct2Zb5K",
            "requestId": SEED_LEGACY_REQUEST_ID,
            "title": "Note from the older API",
            "text": "Messages of the internal-only API carry **no** channel.",
            "createdAt": "2025-12-15T11:00:00Z",
            "updatedAt": "2025-12-16T08:30:00Z",
        },
        {
            "id": "msg_Vk4Ps9Fy2Mh7Tr3N",
            "requestId": SEED_LEGACY_REQUEST_ID,
            "channel": "whatsapp",
            "body": "A channel this client version does not know yet.",
            "status": "delivered",
            "templateName": "document_reminder",
            "createdAt": "2026-01-05T12:00:00Z",
        },
    ]
