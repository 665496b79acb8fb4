"""The Upscale steps: generate, retrieve, wait, relay, status, credits."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, cast

import orjson

from msgrelay import errors
from msgrelay.destinations.delivery import RelayContext
from msgrelay.ledger import open_ledger
from msgrelay.plugins import PluginManager
from msgrelay.relay import Relay
from msgrelay.relay.submit import SubmissionInDoubtError, submit_once
from msgrelay.steps.inputs import as_list, as_rows, as_seconds
from msgrelay.steps.outputs import (
    CreditsOutput,
    GenerateOutput,
    RelayOutput,
    RetrieveOutput,
    StatusOutput,
    retrieve_output,
)
from msgrelay.upscale.client import UpscaleClient
from msgrelay.upscale.leads import leads_from_mappings
from msgrelay.upscale.models import GenerationRequest, MessageStep
from msgrelay.upscale.validation import validate_secure_request_id
from msgrelay.web.openapi import HTTP_WAIT

__all__ = ["FORCE_SWITCH", "credits", "generate", "relay", "retrieve", "status", "wait"]

#: How a step's caller sends a generation anyway: named in the errors `generate` raises.
FORCE_SWITCH = 'the input "force": true'


def generate(
    *,
    leads: list[dict[str, Any]] | str,
    sequence: list[str] | str,
    customer_id: str,
    campaign_id: str,
    campaign_name: str,
    company_name: str,
    company_url: str,
    notify_url: str,
    material_link: str | None = None,
    hiring_location: str | None = None,
    signoff_name: str | None = None,
    force: bool = False,
    api_key: str | None = None,
    base_url: str | None = None,
) -> GenerateOutput:
    """Submit leads for generation, once: the same inputs again return the same output, sending nothing.

    The same account, customer, campaign, lead ids and message types with any other field changed is
    refused (`msgrelay.errors.SubmissionChangedError`, naming each field) and nothing is sent; so is one
    sent before whose outcome is unknown (`msgrelay.relay.submit.SubmissionInDoubtError`). ``force``
    sends a new batch anyway (after checking an in-doubt one was not charged).
    """
    rows = as_rows(leads)
    request = GenerationRequest(
        completion_notification_url=notify_url,
        automation_tool_customer_id=customer_id,
        automation_tool_campaign_id=campaign_id,
        automation_tool_campaign_name=campaign_name,
        proposition_company_name=company_name,
        proposition_company_url=company_url,
        message_sequence=[
            MessageStep(step=i, message_type=t) for i, t in enumerate(as_list("sequence", sequence) or [], 1)
        ],
        lead_data=leads_from_mappings(rows),
        material_link=material_link,
        hiring_location=hiring_location,
        signoff_name=signoff_name,
    )
    with UpscaleClient(api_key, base_url) as client, contextlib.closing(open_ledger()) as ledger:
        try:
            ticket = submit_once(client, request, ledger=ledger, force=force)
        except errors.SubmissionChangedError as exc:
            # The same refusal, naming this face's switch rather than the CLI's --force.
            raise errors.SubmissionChangedError(
                exc.problems,
                secure_request_id=exc.secure_request_id,
                submitted_at=exc.submitted_at,
                more=exc.more,
                force_switch=FORCE_SWITCH,
            ) from None
        except SubmissionInDoubtError as exc:
            raise SubmissionInDoubtError(
                exc.submission, in_flight=exc.in_flight, force_switch=FORCE_SWITCH
            ) from None
    # The same output on a re-run: a low-code platform retrying a step must see what it saw first.
    return {"secure_request_id": ticket.secure_request_id}


def retrieve(
    *, secure_request_id: str, api_key: str | None = None, base_url: str | None = None
) -> RetrieveOutput:
    """The messages generated so far, with the vendor's status and failure fields.

    ``{"complete", "status_message", "failed_messages_reason", "requested_message_count",
    "generated_message_count", "failed_messages_count", "leads": [{id, linkedin, messages,
    null_messages, no_job_posts}]}``.
    """
    with UpscaleClient(api_key, base_url) as client:
        result = client.retrieve_messages(secure_request_id)
    return retrieve_output(secure_request_id, result)


def relay(
    *,
    secure_request_id: str,
    destinations: list[str] | str | None = None,
    max_wait: Annotated[float | str, HTTP_WAIT] = 30.0,
    api_key: str | None = None,
    base_url: str | None = None,
) -> RelayOutput:
    """Deliver a generation to destinations (default ``MSGRELAY_DESTINATIONS``, else the store)."""
    wanted, wait = as_list("destinations", destinations), as_seconds("max_wait", max_wait)
    secure_request_id = validate_secure_request_id(secure_request_id)  # one batch per id, any case
    with contextlib.closing(open_ledger()) as ledger:
        worker = Relay(
            ledger=ledger, plugins=PluginManager().load(), upscale=lambda: UpscaleClient(api_key, base_url)
        )
        try:
            report = worker.relay(secure_request_id, destinations=wanted, max_wait=wait)
            counts = ledger.batch_counts("upscale", secure_request_id)
            batch = ledger.get_batch("upscale", secure_request_id) or {}
        finally:
            worker.close()
    context = RelayContext.from_json(orjson.loads(batch["context"])) if batch.get("context") else None
    failures = context.failures() if context else RelayContext(source="upscale", batch_id="").failures()
    # Both dicts hold exactly `RelayOutput`'s other keys; they are typed loosely for their other users.
    return cast(
        RelayOutput,
        {"secure_request_id": secure_request_id, "deliveries": counts, **failures, **report.to_json()},
    )


def status() -> StatusOutput:
    """The ledger's counts by state, dead letters and hook errors."""
    with contextlib.closing(open_ledger()) as ledger:
        return ledger.status()  # type: ignore[return-value]


def wait(
    *,
    secure_request_id: str,
    timeout: Annotated[float | str, HTTP_WAIT] = 600.0,
    api_key: str | None = None,
    base_url: str | None = None,
) -> RetrieveOutput:
    """Wait until a generation is complete (polling with growing intervals), then return its messages."""
    seconds = as_seconds("timeout", timeout)
    with UpscaleClient(api_key, base_url) as client:
        result = client.wait_for_completion(secure_request_id, timeout=seconds)
    return retrieve_output(secure_request_id, result)


def credits(*, api_key: str | None = None, base_url: str | None = None) -> CreditsOutput:
    """The Upscale account's monthly allowance, credits used and credits remaining."""
    with UpscaleClient(api_key, base_url) as client:
        found = client.check_credits()
    return {
        "message_allowance": found.message_allowance,
        "credits_used": found.credits_used,
        "remaining_credits": found.remaining_credits,
    }
