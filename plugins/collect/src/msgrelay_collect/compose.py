"""What one delivery writes into Collect: the request it goes to, and the message drafts, each marked.

Collect documents no idempotency key, so every message this destination creates carries a **marker**,
``msgrelay:<key>``, in a place Collect keeps and shows (plain text: no HTML comment, which Collect's
sanitiser would strip). Before creating anything, the destination lists the request's messages and
skips each draft whose marker is already there, so a retry after a failed or timed-out POST never
creates a message twice.

* ``internal`` (default): one note per lead, titled ``<title>: <lead>``, its markdown text holding
  every generated text under a heading of its message type, and a last line ``msgrelay:<delivery key>``.
* ``email`` / ``sms``: one scheduled message per generated text, to the request's contact. Its body
  is the text, then a short reference line ``msgrelay:m_<12 hex>`` (the start of
  ``delivery.message_key(type)``: one delivery, one message type), the only way to recognise the
  message again; the contact sees it. Collect's rules are checked on the text itself first: a text
  under `BODY_MIN_LENGTH` characters is a permanent failure naming the lead and the limit.

A null message is never written (it would blank nothing, but it would say nothing either), and a
lead with no text at all writes nothing and counts as delivered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from msgrelay import Delivery, Lead
from msgrelay.collect import (
    BODY_MIN_LENGTH,
    EMAIL,
    INTERNAL,
    EmailMessage,
    InternalMessage,
    Message,
    NewEmailMessage,
    NewInternalMessage,
    NewMessage,
    NewSmsMessage,
    SmsMessage,
)
from msgrelay.errors import ConfigurationError, Problem, ValidationError
from msgrelay_collect.settings import CollectSettings

__all__ = [
    "MARKER_PREFIX",
    "REQUEST_ID_FIELD",
    "Plan",
    "lead_field",
    "markers_in",
    "plan_delivery",
]

#: The submitted lead's column naming the Collect request its messages go to.
REQUEST_ID_FIELD = "collect_request_id"
MARKER_PREFIX = "msgrelay:"
#: Hex digits of the message key kept in an email's or SMS's reference line: 48 bits, so two texts
#: of one request never share one, yet short enough for an SMS.
SHORT_KEY_HEX = 12
_MARKER = re.compile(r"msgrelay:((?:d|m)_[0-9a-f]{12,64})")


def lead_field(lead: Lead, name: str) -> Any:
    """A submitted field of the lead by wire name: a named attribute first, then ``lead.extra``.

    msgrelay is moving the submitted lead's fields onto `Lead` (``first_name``, ``lead_company``...);
    until every one is there, the others travel in ``extra``. This is the one place that knows.
    """
    value = getattr(lead, name, None)
    if value is None:
        value = lead.extra.get(name)
    return value


@dataclass(frozen=True)
class Plan:
    """What one delivery writes: the request, and ``(marker, draft)`` pairs in order."""

    delivery: Delivery
    request_id: str
    request_source: str
    drafts: tuple[tuple[str, NewMessage], ...]


def _who(lead: Lead) -> str:
    names = [lead_field(lead, "first_name"), lead_field(lead, "last_name")]
    person = " ".join(str(n).strip() for n in names if isinstance(n, str) and n.strip())
    return f"{person} ({lead.external_prospect_id})" if person else lead.external_prospect_id


def _texts(lead: Lead) -> list[tuple[str, str]]:
    """The generated texts, in the lead's order; null and blank ones left out."""
    return [(kind, text) for kind, text in lead.messages.items() if isinstance(text, str) and text.strip()]


def _request(delivery: Delivery, lead: Lead, settings: CollectSettings) -> tuple[str, str]:
    value = lead_field(lead, REQUEST_ID_FIELD)
    if isinstance(value, str) and value.strip():
        return value.strip(), f"the lead's {REQUEST_ID_FIELD}"
    if settings.request_id:
        return settings.request_id, settings.source("request_id")
    raise ValidationError(
        Problem(REQUEST_ID_FIELD, f"is missing, and {settings.source('request_id')} is not set"),
        subject=f"lead {lead.external_prospect_id} for Collect",
    )


def plan_delivery(delivery: Delivery, settings: CollectSettings, *, now: float) -> Plan:
    """The request and the marked drafts for one delivery, every Collect rule checked first.

    Args:
        delivery: an Upscale lead (a Collect message is refused: it came from Collect).
        settings: the channel, title, send delay and default request.
        now: seconds since the epoch; email and SMS are scheduled ``settings.send_after`` later.

    Raises:
        ConfigurationError: the delivery is a Collect message, which this destination does not take.
        ValidationError: no request id, or a text breaks Collect's rules (named by lead and limit).
    """
    lead = delivery.lead
    if lead is None:
        raise ConfigurationError(
            "the collect destination writes Upscale leads into Collect; a Collect message is not "
            "written back (route Collect batches to another destination)"
        )
    request_id, source = _request(delivery, lead, settings)
    texts = _texts(lead)
    if settings.channel == INTERNAL:
        drafts: list[tuple[str, NewMessage]] = []
        if texts:
            marker = MARKER_PREFIX + delivery.key
            sections = [f"### {kind}\n\n{text.strip()}" for kind, text in texts]
            body = "\n\n".join([*sections, marker])
            drafts.append((marker, NewInternalMessage(title=f"{settings.title}: {_who(lead)}", text=body)))
        return Plan(delivery, request_id, source, tuple(drafts))
    short = [(kind, text) for kind, text in texts if len(text.strip()) < BODY_MIN_LENGTH]
    if short:
        raise ValidationError(
            [
                Problem(kind, f"is {len(text.strip())} characters; Collect wants at least {BODY_MIN_LENGTH}")
                for kind, text in short
            ],
            subject=f"{settings.channel} messages of lead {lead.external_prospect_id}",
        )
    send_on = datetime.fromtimestamp(now + settings.send_after, UTC)
    drafts = []
    for kind, text in texts:
        marker = MARKER_PREFIX + delivery.message_key(kind)[: 2 + SHORT_KEY_HEX]
        body = f"{text.strip()}\n\n{marker}"
        draft: NewMessage = (
            NewEmailMessage(title=settings.title, body=body, send_on=send_on)
            if settings.channel == EMAIL
            else NewSmsMessage(body=body, send_on=send_on)
        )
        drafts.append((marker, draft))
    return Plan(delivery, request_id, source, tuple(drafts))


def markers_in(messages: Iterable[Message]) -> set[str]:
    """Every ``msgrelay:<key>`` marker found in the messages' titles, texts and bodies."""
    found: set[str] = set()
    for message in messages:
        parts: list[object]
        if isinstance(message, InternalMessage):
            parts = [message.title, message.text]
        elif isinstance(message, EmailMessage | SmsMessage):
            parts = [message.title, message.body]
        else:
            parts = [message.data.get(k) for k in ("title", "text", "body")]
        for part in parts:
            if isinstance(part, str):
                found.update(MARKER_PREFIX + m for m in _MARKER.findall(part))
    return found
