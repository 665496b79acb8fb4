"""From a delivery to what HubSpot is sent: the contact's unique id, its message properties, the
fields filled only where HubSpot has none, and the timeline note.

Checked here, before any request: a lead without a value for the id property, and a text over
HubSpot's length limit, are permanent failures that name the lead and what is wrong.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from msgrelay import Delivery
from msgrelay.errors import Problem, ValidationError
from msgrelay.upscale import Lead

__all__ = [
    "FILL_PROPERTIES",
    "MAX_TEXT",
    "ContactWrite",
    "lead_field",
    "marker",
    "message_property",
    "note_body",
    "prepare",
]

#: The longest value HubSpot stores in a text property, and the longest note body (characters).
MAX_TEXT = 65_536
#: Contact properties written only where HubSpot has no value yet → the lead fields they come from.
FILL_PROPERTIES: Mapping[str, tuple[str, ...]] = {
    "firstname": ("first_name",),
    "lastname": ("last_name",),
    "company": ("lead_company", "company"),
    "hs_linkedin_url": ("linkedin",),
    "email": ("email",),
}
#: Well-known id properties whose value a lead holds under another name.
_ID_FIELDS: Mapping[str, str] = {"email": "email", "hs_linkedin_url": "linkedin"}
_NOT_NAME = re.compile(r"[^a-z0-9_]+")


def lead_field(lead: Lead, name: str) -> str | None:
    """A submitted field of the lead by wire name: a named attribute first, then ``lead.extra``.

    The one place that knows where a lead keeps its fields (today ``first_name`` and ``email`` ride in
    ``extra``; a joined lead will carry the named ones as attributes). Blank values count as none.
    """
    value: Any = getattr(lead, name, None)
    if value is None:
        value = lead.extra.get(name)
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def message_property(prefix: str, message_type: str) -> str:
    """The contact property a message type is written to: ``msgrelay_connection_request``."""
    return prefix + (_NOT_NAME.sub("_", message_type.lower()).strip("_") or "message")


def marker(key: str) -> str:
    """The token a note carries so a retry finds it before creating another (the delivery key)."""
    return key


def note_body(delivery: Delivery, texts: Mapping[str, str]) -> str:
    """The note: each generated text under its type, as HTML (HubSpot collapses bare newlines), and
    the delivery's marker last."""
    parts = [
        f"<p><b>msgrelay: {html.escape(kind)}</b></p><p>{html.escape(text).replace(chr(10), '<br>')}</p>"
        for kind, text in texts.items()
    ]
    parts.append(f"<p>[msgrelay {marker(delivery.key)}]</p>")
    return "".join(parts)


@dataclass(frozen=True)
class ContactWrite:
    """One lead as HubSpot receives it.

    Attributes:
        delivery: the delivery it comes from (its key is the ``objectWriteTraceId``).
        id_value: the value of the id property that identifies the contact.
        messages: message property → text, null messages left out (never written over a text).
        fill: property → value, written only where the contact has none.
        note: the note body, or None (notes off, or nothing generated).
    """

    delivery: Delivery
    id_value: str
    messages: Mapping[str, str]
    fill: Mapping[str, str]
    note: str | None

    @property
    def key(self) -> str:
        """The delivery key."""
        return self.delivery.key

    def properties(self, existing: Mapping[str, Any]) -> dict[str, str]:
        """The upsert's properties: every message, and each fill field the contact lacks."""
        props = {name: value for name, value in self.fill.items() if not existing.get(name)}
        props.update(self.messages)
        return props


def prepare(
    delivery: Delivery, *, id_property: str, id_setting: str, prefix: str, notes: bool
) -> ContactWrite:
    """The `ContactWrite` of one delivery, or a `ValidationError` (permanent) naming the lead.

    Args:
        delivery: an Upscale delivery (a Collect message has no contact and is refused).
        id_property: the unique property contacts are upserted by.
        id_setting: how to name the id property's setting in an error.
        prefix: the message properties' prefix.
        notes: whether a note body is built.
    """
    lead = delivery.lead
    subject = f"HubSpot contact of lead {delivery.item_id!r}"
    if lead is None:
        raise ValidationError(
            Problem("lead", "a Collect message has no lead to write to a HubSpot contact"),
            subject=subject,
        )
    problems: list[Problem] = []
    source = _ID_FIELDS.get(id_property)
    if source is None and id_property == prefix + "external_prospect_id":
        source = "external_prospect_id"
    id_value = lead_field(lead, source or id_property)
    if id_value is None:
        problems.append(
            Problem(
                source or id_property,
                f"missing: contacts are upserted by the HubSpot property {id_property!r} "
                f"({id_setting}), and this lead has no value for it",
            )
        )
    texts = {kind: text for kind, text in lead.messages.items() if text is not None}
    messages: dict[str, str] = {}
    for kind, text in texts.items():
        if len(text) > MAX_TEXT:
            problems.append(
                Problem(
                    f"messages.{kind}",
                    f"{len(text)} characters, over HubSpot's limit of {MAX_TEXT} for a property value",
                )
            )
        messages[message_property(prefix, kind)] = text
    fill: dict[str, str] = {}
    for prop, fields in FILL_PROPERTIES.items():
        if prop == id_property:
            continue
        value = next((v for f in fields if (v := lead_field(lead, f)) is not None), None)
        if value is not None:
            fill[prop] = value
    note = note_body(delivery, texts) if notes and texts else None
    if note is not None and len(note) > MAX_TEXT:
        problems.append(Problem("note", f"{len(note)} characters, over HubSpot's note limit of {MAX_TEXT}"))
    if problems:
        raise ValidationError(problems, subject=subject)
    assert id_value is not None  # a missing one is a problem above
    return ContactWrite(delivery, id_value, messages, fill, note)
