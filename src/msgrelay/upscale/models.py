"""Typed payloads of the Upscale Outreach API.

Attribute names are the wire names (``messageType`` becomes ``message_type``). Every class keeps the
keys it does not know in ``extra``, and they survive a round trip. Message types, generation statuses
and webhook statuses are open sets: the known values are constants, unknown strings pass through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from msgrelay.upscale.lazy import LazySequence

# --- message types (open set) ------------------------------------------------------------------
CONNECTION_REQUEST = "connection_request"
FIRST_FOLLOW_UP = "first_follow_up"
SHARE_MATERIAL = "share_material"
HIRING_ACTIVITY = "hiring_activity"
STAGE_AMBITION = "stage_ambition"
KNOWN_MESSAGE_TYPES: tuple[str, ...] = (
    CONNECTION_REQUEST,
    FIRST_FOLLOW_UP,
    SHARE_MATERIAL,
    HIRING_ACTIVITY,
    STAGE_AMBITION,
)

# --- generation status (open set) --------------------------------------------------------------
IN_PROGRESS = "in_progress"
COMPLETE = "complete"

#: The lead field of each message type whose field breaks the ``<type>_message`` pattern.
#: The one place this mapping lives (contract §3); every other type maps to ``<type>_message``.
MESSAGE_FIELD_EXCEPTIONS: Mapping[str, str] = MappingProxyType({CONNECTION_REQUEST: "outreach_message"})
_TYPE_OF_EXCEPTION_FIELD = {field: kind for kind, field in MESSAGE_FIELD_EXCEPTIONS.items()}
MESSAGE_FIELD_SUFFIX = "_message"


def message_field(message_type: str) -> str:
    """The lead key that carries a message type's text (``connection_request`` → ``outreach_message``)."""
    return MESSAGE_FIELD_EXCEPTIONS.get(message_type) or f"{message_type}{MESSAGE_FIELD_SUFFIX}"


def message_type_of_field(key: str) -> str | None:
    """The message type a lead key carries, or None when the key is not a message field."""
    kind = _TYPE_OF_EXCEPTION_FIELD.get(key)
    if kind is not None:
        return kind
    if key.endswith(MESSAGE_FIELD_SUFFIX) and len(key) > len(MESSAGE_FIELD_SUFFIX):
        return key[: -len(MESSAGE_FIELD_SUFFIX)]
    return None


def _extra() -> Any:
    # Keys the vendor sent that this class does not model; written back unchanged on encode.
    return attrs.field(factory=dict, kw_only=True, repr=False)


# --- the generation request --------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class MessageStep:
    """One entry of ``message_sequence``: ``{"step": 1, "messageType": "connection_request"}``."""

    step: int
    message_type: str
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class LeadInput:
    """A lead to generate for (an item of ``lead_data``). Keys beyond the documented ones go in ``extra``
    and are sent as they are (``last_name``, ``job_title``...)."""

    external_prospect_id: str
    linkedin: str
    first_name: str
    lead_company: str
    lead_specified_url: str | None = None
    lead_company_website_url: str | None = None
    extra: dict[str, Any] = _extra()


#: The named fields of a submitted lead beyond its id and LinkedIn URL, which a joined `Lead` carries.
LEAD_INPUT_FIELDS: tuple[str, ...] = (
    "first_name",
    "lead_company",
    "lead_specified_url",
    "lead_company_website_url",
)


def _steps(value: Any) -> tuple[MessageStep, ...]:
    return tuple(value)


def _leads(value: Any) -> tuple[LeadInput, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class GenerationRequest:
    """The body of ``POST /messages/request_message_generation``."""

    completion_notification_url: str
    automation_tool_customer_id: str
    automation_tool_campaign_id: str
    automation_tool_campaign_name: str
    proposition_company_name: str
    proposition_company_url: str
    message_sequence: tuple[MessageStep, ...] = attrs.field(converter=_steps)
    lead_data: tuple[LeadInput, ...] = attrs.field(converter=_leads)
    material_link: str | None = None
    hiring_location: str | None = None
    signoff_name: str | None = None
    extra: dict[str, Any] = _extra()

    @property
    def message_types(self) -> tuple[str, ...]:
        """The requested message types, in step order, each once."""
        return tuple(
            dict.fromkeys(s.message_type for s in sorted(self.message_sequence, key=lambda s: s.step))
        )


@attrs.frozen(kw_only=True)
class GenerationTicket:
    """The answer to a generation request; ``secure_request_id`` is what retrieve and the webhook name."""

    secure_request_id: str
    extra: dict[str, Any] = _extra()


# --- the retrieve response ---------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class Metadata:
    """``metadata`` of a retrieve response: status and progress counts."""

    request_message_generation_api_request_secure_request_id: str | None = None
    retrieve_messages_api_request_secure_request_id: str | None = None
    generation_status: str | None = None
    status_message: str | None = None
    requested_message_count: int | None = None
    generated_message_count: int | None = None
    failed_messages_count: int | None = None
    failed_messages_reason: str | None = None
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class Account:
    """``account`` of a retrieve response."""

    automation_tool_customer_id: str | None = None
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class Lead:
    """A lead of ``campaign.leads_data`` with its generated messages, joined with the lead as submitted.

    ``messages`` maps message type → text, or None when not generated (yet, or at all); it holds
    every ``*_message`` key of the wire object. ``no_job_posts`` is the vendor's only per-lead notice.

    When msgrelay submitted the generation, the relay joins each retrieved lead with the lead as it
    was submitted (by ``external_prospect_id``): the named fields of `LeadInput` become attributes
    (``first_name``, ``lead_company``, the URLs) and every other submitted column (``email``,
    ``last_name``, a CRM id...) is in ``extra``. A batch msgrelay did not submit has only what the
    vendor returned: those attributes are None.
    """

    external_prospect_id: str
    linkedin: str | None = None
    messages: dict[str, str | None] = attrs.field(factory=dict)
    no_job_posts: bool | None = None
    first_name: str | None = None
    lead_company: str | None = None
    lead_specified_url: str | None = None
    lead_company_website_url: str | None = None
    extra: dict[str, Any] = _extra()

    def message(self, message_type: str) -> str | None:
        """The text of one message type, or None."""
        return self.messages.get(message_type)

    @property
    def null_messages(self) -> tuple[str, ...]:
        """The message types present but null: requested and not generated (see ``no_job_posts``)."""
        return tuple(kind for kind, text in self.messages.items() if text is None)


class LeadSequence(LazySequence[Lead]):
    """An immutable sequence of leads, each built the first time it is read (`LeadSequence.lazy`).

    For callers holding many wire leads of which few may be read; `decode_retrieve` builds every
    lead at once instead (its user reads them all), into a tuple. It compares equal to a tuple of
    equal leads, and ``+`` with a tuple or another sequence of leads gives a tuple; `Campaign` keeps
    it as it is.
    """

    __slots__ = ()


def _lead_sequence(leads: Iterable[Lead]) -> Sequence[Lead]:
    return leads if isinstance(leads, LeadSequence | tuple) else tuple(leads)


@attrs.frozen(kw_only=True)
class Campaign:
    """``campaign`` of a retrieve response: the echoed request and one `Lead` per submitted lead.

    ``leads_data`` is a tuple (any other iterable of leads given is made one), or a `LeadSequence`
    given as such.
    """

    automation_tool_campaign_id: str | None = None
    automation_tool_campaign_name: str | None = None
    message_sequence: tuple[MessageStep, ...] = ()
    leads_data: Sequence[Lead] = attrs.field(default=(), converter=_lead_sequence)
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class RetrieveResult:
    """A retrieve response: partial (HTTP 202) or complete (200)."""

    metadata: Metadata
    account: Account = attrs.field(factory=Account)
    campaign: Campaign = attrs.field(factory=Campaign)
    extra: dict[str, Any] = _extra()
    #: The HTTP status it came with (not on the wire); 0 when built from a bare body.
    http_status: int = attrs.field(default=0, eq=False)

    @property
    def secure_request_id(self) -> str | None:
        """The generation request this result belongs to."""
        return self.metadata.request_message_generation_api_request_secure_request_id

    @property
    def is_complete(self) -> bool:
        """True once generation finished; ``generation_status`` decides, else the HTTP status."""
        status = self.metadata.generation_status
        if status is not None:
            return status == COMPLETE
        return self.http_status == 200

    @property
    def leads(self) -> Sequence[Lead]:
        """Shortcut for ``campaign.leads_data``."""
        return self.campaign.leads_data

    @property
    def message_types(self) -> tuple[str, ...]:
        """The requested message types in step order, each once."""
        steps = sorted(self.campaign.message_sequence, key=lambda s: s.step)
        return tuple(dict.fromkeys(s.message_type for s in steps))

    def failures(self) -> dict[str, Any]:
        """The batch's progress and failure fields (``metadata``), JSON-ready."""
        m = self.metadata
        return {
            "generation_status": m.generation_status,
            "status_message": m.status_message,
            "failed_messages_reason": m.failed_messages_reason,
            "requested_message_count": m.requested_message_count,
            "generated_message_count": m.generated_message_count,
            "failed_messages_count": m.failed_messages_count,
        }

    def lead_summaries(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per lead: id, LinkedIn URL, every requested message type, which of them
        are null, the notice.

        The shape the CLI prints and the low-code steps return.
        """
        return [
            {
                "external_prospect_id": lead.external_prospect_id,
                "linkedin": lead.linkedin,
                "messages": (messages := self.messages_of(lead)),
                "null_messages": [kind for kind, text in messages.items() if text is None],
                "no_job_posts": bool(lead.no_job_posts),
            }
            for lead in self.leads
        ]

    def messages_of(self, lead: Lead) -> dict[str, str | None]:
        """The lead's messages with every requested type present (None where none was generated)."""
        full: dict[str, str | None] = dict.fromkeys(self.message_types)
        full.update(lead.messages)
        return full


@attrs.frozen(kw_only=True)
class Progress:
    """How far a generation has come, for progress displays."""

    secure_request_id: str
    generated: int
    requested: int
    complete: bool

    @property
    def fraction(self) -> float:
        """Between 0 and 1; 1 once complete."""
        if self.complete:
            return 1.0
        return min(self.generated / self.requested, 1.0) if self.requested else 0.0


# --- supporting endpoints ----------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class Credits:
    """``GET /account/check_credits``."""

    message_allowance: int
    credits_used: int
    remaining_credits: int
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class SequenceStep:
    """One step of a sequence template. The vendor does not document the shape; unknown keys kept."""

    step: int | None = None
    message_type: str | None = None
    wait_days: int | None = None
    extra: dict[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class SequenceTemplate:
    """A sequence template from ``GET /sequences/get_sequences``."""

    name: str | None = None
    sequence_length: str | None = None
    campaign_objective: str | None = None
    cadence_profile: str | None = None
    saturated_markets: bool | None = None
    steps: tuple[SequenceStep, ...] = ()
    extra: dict[str, Any] = _extra()


# --- the completion webhook --------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class CompletionEvent:
    """The completion webhook body. Both ``*_messages_count`` and ``*_message_count`` decode."""

    secure_request_id: str
    status: str | None = None
    completed_at: str | None = None
    requested_messages_count: int | None = None
    generated_messages_count: int | None = None
    webhook_triggered_at: str | None = None
    extra: dict[str, Any] = _extra()


__all__ = [
    "COMPLETE",
    "CONNECTION_REQUEST",
    "FIRST_FOLLOW_UP",
    "HIRING_ACTIVITY",
    "IN_PROGRESS",
    "KNOWN_MESSAGE_TYPES",
    "LEAD_INPUT_FIELDS",
    "MESSAGE_FIELD_EXCEPTIONS",
    "SHARE_MATERIAL",
    "STAGE_AMBITION",
    "Account",
    "Campaign",
    "CompletionEvent",
    "Credits",
    "GenerationRequest",
    "GenerationTicket",
    "Lead",
    "LeadInput",
    "LeadSequence",
    "MessageStep",
    "Metadata",
    "Progress",
    "RetrieveResult",
    "SequenceStep",
    "SequenceTemplate",
    "message_field",
    "message_type_of_field",
]
