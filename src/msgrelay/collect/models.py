"""Typed messages and requests of the Collect API, as read from it.

A message is one of `InternalMessage`, `EmailMessage` or `SmsMessage`, chosen by its ``channel``; a
message of a channel this version does not know is kept whole as an `UnknownMessage`. A message with no
``channel`` (the older, internal-only docs) is internal.

Python attributes are snake_case (``created_at``); the converter maps them to the camelCase wire names
(``createdAt``). Every class keeps the keys it does not know in ``extra``, and they survive a round trip.
Channels and statuses are open sets: the known values are constants, other strings pass through.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, TypeAlias

import attrs

__all__ = [
    "CLICKED",
    "CREDIT_MISSING",
    "EMAIL",
    "INTERNAL",
    "KNOWN_CHANNELS",
    "KNOWN_STATUSES",
    "OPENED",
    "PAUSED",
    "PENDING",
    "PHONE_ERROR",
    "SENDING",
    "SENT",
    "SMS",
    "CollectRequest",
    "Contact",
    "EmailMessage",
    "InternalMessage",
    "Message",
    "SmsMessage",
    "UnknownMessage",
]

# --- channels (open set) -----------------------------------------------------------------------
INTERNAL = "internal"
EMAIL = "email"
SMS = "sms"
KNOWN_CHANNELS: tuple[str, ...] = (INTERNAL, EMAIL, SMS)

# --- email and SMS statuses (open set: the docs list them after "e.g.") -------------------------
PENDING = "pending"
PAUSED = "paused"
SENDING = "sending"
SENT = "sent"
OPENED = "opened"
CLICKED = "clicked"
CREDIT_MISSING = "creditMissing"
PHONE_ERROR = "phoneError"
KNOWN_STATUSES: tuple[str, ...] = (
    PENDING,
    PAUSED,
    SENDING,
    SENT,
    OPENED,
    CLICKED,
    CREDIT_MISSING,
    PHONE_ERROR,
)


@attrs.frozen(kw_only=True)
class InternalMessage:
    """A note shown only in the Collect interface (``channel: "internal"``, or no channel at all)."""

    channel: ClassVar[str] = INTERNAL

    id: str
    request_id: str
    title: str | None = None
    #: Markdown, sanitised by Collect; None when the message has no text.
    text: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    #: Keys the API sent that this class does not model; written back unchanged on encode.
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class EmailMessage:
    """An email to the request's contact. ``status`` is an open set (`KNOWN_STATUSES`)."""

    channel: ClassVar[str] = EMAIL

    id: str
    request_id: str
    #: The subject.
    title: str | None = None
    body: str | None = None
    status: str | None = None
    #: When it is (or was) scheduled to go out.
    send_on: datetime | None = None
    created_at: datetime
    updated_at: datetime | None = None
    #: Keys the API sent that this class does not model; written back unchanged on encode.
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class SmsMessage:
    """A text message to the request's contact. SMS has no title; one sent by the API is kept."""

    channel: ClassVar[str] = SMS

    id: str
    request_id: str
    body: str | None = None
    status: str | None = None
    send_on: datetime | None = None
    created_at: datetime
    title: str | None = None
    updated_at: datetime | None = None
    #: Keys the API sent that this class does not model; written back unchanged on encode.
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class UnknownMessage:
    """A message on a channel this version does not know, kept exactly as received in ``data``."""

    channel: str
    data: dict[str, Any]

    @property
    def id(self) -> str | None:
        """The message id, when the object has a string one."""
        value = self.data.get("id")
        return value if isinstance(value, str) else None

    @property
    def request_id(self) -> str | None:
        """The request id, when the object has a string one."""
        value = self.data.get("requestId")
        return value if isinstance(value, str) else None


Message: TypeAlias = InternalMessage | EmailMessage | SmsMessage | UnknownMessage


# --- requests, so a user can find the messages to work on --------------------------------------
@attrs.frozen(kw_only=True)
class Contact:
    """The contact a request was sent to (wire ``_id``, ``firstName``...); other keys in ``extra``."""

    id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    #: Keys the API sent that this class does not model; written back unchanged on encode.
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class CollectRequest:
    """A Collect request: one instance of a campaign sent to a contact.

    The list endpoint returns a summary; `get_request` adds ``documents``, ``forms``, ``texts`` and
    ``pages``, which stay in ``extra`` as the API sent them.
    """

    id: str
    campaign_id: str | None = None
    #: pending, completed, due, waiting, archived, cancelled, error, or a team's own status.
    status: str | None = None
    created_at: datetime | None = None
    due_date: datetime | None = None
    portal_url: str | None = None
    contact: Contact | None = None
    #: Keys the API sent that this class does not model; written back unchanged on encode.
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)
