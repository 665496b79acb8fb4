"""What the relay hands to plugins: the batch context, a fetched message, and a delivery.

These are plain frozen values. A `Delivery` is rebuilt from the ledger on every attempt, so its
``key`` and its ``lead`` are the same on a retry, in a later run, or in another worker. The relay makes
it from the lead as the ledger stores it (`Delivery.lead_wire`) and builds the `Lead` only when a
destination first reads ``delivery.lead``: the built-in store writes its rows from the stored object
itself, and building 10,000 leads it never reads cost a tenth of a relayed batch (issue 14).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import attrs

from msgrelay.upscale.convert import structure_lead
from msgrelay.upscale.models import Lead

__all__ = ["COLLECT", "UPSCALE", "Delivery", "GeneratedMessage", "RelayContext"]

#: The two sources a batch can come from (`RelayContext.source`).
UPSCALE = "upscale"
COLLECT = "collect"


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class RelayContext:
    """The batch a hook call or a delivery belongs to.

    Attributes:
        source: ``"upscale"`` or ``"collect"``.
        batch_id: the Upscale ``secure_request_id``, or the Collect request id.
        customer_id: the Upscale ``automation_tool_customer_id``, when known.
        campaign_id: the Upscale ``automation_tool_campaign_id``, when known.
        campaign_name: the Upscale ``automation_tool_campaign_name``, when known.
        message_types: the requested message types, in step order.
        destinations: the destination names this batch is delivered to.
        status_message: the vendor's ``metadata.status_message``.
        failed_messages_reason: the vendor's ``metadata.failed_messages_reason`` (why some messages
            were not generated, e.g. no job posts for ``hiring_activity``).
        requested_message_count / generated_message_count / failed_messages_count: the vendor's counts.
    """

    source: str
    batch_id: str
    customer_id: str | None = None
    campaign_id: str | None = None
    campaign_name: str | None = None
    message_types: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    destinations: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    status_message: str | None = None
    failed_messages_reason: str | None = None
    requested_message_count: int | None = None
    generated_message_count: int | None = None
    failed_messages_count: int | None = None

    @property
    def secure_request_id(self) -> str | None:
        """The Upscale generation id (None for a Collect batch)."""
        return self.batch_id if self.source == UPSCALE else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stored in the ledger with the batch)."""
        return {
            "source": self.source,
            "batch_id": self.batch_id,
            "customer_id": self.customer_id,
            "campaign_id": self.campaign_id,
            "campaign_name": self.campaign_name,
            "message_types": list(self.message_types),
            "destinations": list(self.destinations),
            **self.failures(),
        }

    def failures(self) -> dict[str, Any]:
        """The vendor's failure fields and counts, JSON-ready (what steps, the store and webhooks carry)."""
        return {
            "status_message": self.status_message,
            "failed_messages_reason": self.failed_messages_reason,
            "requested_message_count": self.requested_message_count,
            "generated_message_count": self.generated_message_count,
            "failed_messages_count": self.failed_messages_count,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RelayContext:
        """The inverse of `to_json`; unknown keys (from a newer version) are ignored."""
        known = {f.name for f in attrs.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@attrs.frozen(kw_only=True)
class GeneratedMessage:
    """One generated Upscale message: what `on_message_fetched` receives for Upscale batches."""

    secure_request_id: str
    external_prospect_id: str
    message_type: str
    text: str


@attrs.frozen(kw_only=True, eq=False)
class Delivery:
    """One item for one destination: an Upscale lead with its messages, or a Collect message.

    Attributes:
        destination: the destination's registered name.
        key: the idempotency key, identical on every attempt (use it as a webhook id or CRM marker,
            and drop a delivery whose key you have already seen).
        context: the batch.
        lead: the transformed lead (Upscale), with ``lead.messages``: message type → text or None.
            None for a Collect message. Given as ``lead_wire``, it is built on first read.
        lead_wire: the lead's wire object as the ledger stores it (``unstructure_lead`` of the
            transformed lead), when the delivery was made from it; None otherwise.
        message: the Collect message as stored (a JSON-ready dict), or None for Upscale.
        attempt: 1 on the first attempt, 2 on the first retry, and so on.

    Two deliveries are equal when these are, whether their leads were given built or as wire objects.
    """

    destination: str
    key: str
    context: RelayContext
    # Set at most once after init (`lead`), from ``_lead_wire``: the build is cached.
    _lead: Lead | None = attrs.field(default=None, alias="lead")
    _lead_wire: dict[str, Any] | None = attrs.field(default=None, alias="lead_wire", repr=False)
    message: dict[str, Any] | None = None
    attempt: int = 1

    @property
    def lead(self) -> Lead | None:
        """The transformed lead (Upscale), built from ``lead_wire`` on first read; None for Collect."""
        lead = self._lead
        if lead is None and self._lead_wire is not None:
            lead = structure_lead(self._lead_wire)
            object.__setattr__(self, "_lead", lead)  # a cache: two threads racing build equal leads
        return lead

    @property
    def lead_wire(self) -> dict[str, Any] | None:
        """The lead's wire object as stored in the ledger, if the delivery was made from one."""
        return self._lead_wire

    @property
    def lead_built(self) -> bool:
        """Whether the `Lead` exists already (given, or built by a read of ``lead``)."""
        return self._lead is not None

    def _compared(self) -> tuple[Any, ...]:
        return (self.destination, self.key, self.context, self.lead, self.message, self.attempt)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Delivery)
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    @property
    def item_id(self) -> str:
        """The lead's ``external_prospect_id``, or the Collect message's id."""
        if self._lead is not None:
            return self._lead.external_prospect_id
        if self._lead_wire is not None:
            return str(self._lead_wire["external_prospect_id"])
        return str((self.message or {}).get("id", ""))

    def message_key(self, message_type: str) -> str:
        """A stable key for one message of the lead (for destinations that write one record per
        message, such as a CRM note): the delivery key and the message type, hashed."""
        digest = hashlib.sha256(f"{self.key}\x1f{message_type}".encode()).hexdigest()
        return "m_" + digest[:32]
