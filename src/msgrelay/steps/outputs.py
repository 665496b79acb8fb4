"""What each step returns, as `TypedDict`s: the output schemas of ``msgrelay step NAME --schema`` and of
the OpenAPI document are generated from these.
"""

from __future__ import annotations

from typing import Any, TypedDict, cast

from msgrelay.upscale.models import RetrieveResult

__all__ = [
    "BatchFailures",
    "CollectDeleteOutput",
    "CollectMessageOutput",
    "CollectMessagesOutput",
    "CreditsOutput",
    "GenerateOutput",
    "LeadSummary",
    "RelayOutput",
    "RetrieveOutput",
    "StatusOutput",
    "lead_summaries",
    "retrieve_output",
]


class GenerateOutput(TypedDict):
    """What `generate` returns."""

    secure_request_id: str


class LeadSummary(TypedDict):
    """One lead of a generation: its id, LinkedIn URL, message type → text (None: not generated), the
    requested types that came back null, and the vendor's no-job-posts notice."""

    external_prospect_id: str
    linkedin: str
    messages: dict[str, str | None]
    null_messages: list[str]
    no_job_posts: bool


class BatchFailures(TypedDict):
    """The vendor's status and failure fields of a batch, and its message counts."""

    status_message: str | None
    failed_messages_reason: str | None
    requested_message_count: int | None
    generated_message_count: int | None
    failed_messages_count: int | None


class RetrieveOutput(BatchFailures):
    """What `retrieve` and `wait` return."""

    secure_request_id: str
    complete: bool
    generation_status: str | None
    leads: list[LeadSummary]


class RelayOutput(BatchFailures):
    """What `relay` returns: the ledger's delivery counts by state, the batch's failure fields and the
    run's report."""

    secure_request_id: str
    deliveries: dict[str, int]
    batches: int
    leads: int
    messages: int
    delivered: int
    retried: int
    dead: int
    lost: int
    batch_failures: int
    hook_errors: int
    errors: list[str]


class StatusOutput(TypedDict):
    """What `status` returns (``msgrelay relay --status``)."""

    ledger: str
    batches: dict[str, int]
    deliveries: dict[str, int]
    by_destination: dict[str, dict[str, int]]
    dead_batches: list[dict[str, Any]]
    dead_letters: list[dict[str, Any]]
    hook_errors: dict[str, Any]


class CreditsOutput(TypedDict):
    """What `credits` returns."""

    message_allowance: int
    credits_used: int
    remaining_credits: int


class CollectMessagesOutput(TypedDict):
    """What `collect_messages` returns: the request's messages as the API's JSON."""

    request_id: str
    messages: list[dict[str, Any]]


class CollectMessageOutput(TypedDict):
    """What `collect_create` and `collect_update` return: the message as the API's JSON."""

    request_id: str
    message: dict[str, Any]


class CollectDeleteOutput(TypedDict):
    """What `collect_delete` returns: the API's ``deleted`` flag."""

    request_id: str
    message_id: str
    deleted: bool


def lead_summaries(result: RetrieveResult) -> list[LeadSummary]:
    """One `LeadSummary` per lead of ``result``."""
    # `lead_summaries` builds exactly these keys; it types them loosely since the CLI prints them too.
    return cast(list[LeadSummary], result.lead_summaries())


def retrieve_output(secure_request_id: str, result: RetrieveResult) -> RetrieveOutput:
    """What `retrieve` and `wait` return for ``result``: completeness, the failure fields, the leads."""
    failures: dict[str, Any] = result.failures()
    return {
        "secure_request_id": secure_request_id,
        "complete": result.is_complete,
        "generation_status": failures["generation_status"],
        "status_message": failures["status_message"],
        "failed_messages_reason": failures["failed_messages_reason"],
        "requested_message_count": failures["requested_message_count"],
        "generated_message_count": failures["generated_message_count"],
        "failed_messages_count": failures["failed_messages_count"],
        "leads": lead_summaries(result),
    }
