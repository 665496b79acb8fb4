"""Idempotent generation requests: the same request, sent twice, is paid for once.

`submit_once` records the request in the ledger *before* the POST, keyed by (customer id, campaign id,
sorted lead ids, message types). A re-run with the same key returns the stored ticket without a POST.
A row left without an id means the outcome is unknown (the process died or the request timed out
after it may have reached Upscale): that raises `SubmissionInDoubtError`, which says how to check and
how to force a resend. It never resends silently.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import orjson

from msgrelay import errors
from msgrelay.ledger import Ledger, Submission, new_owner, open_ledger, owner_state
from msgrelay.upscale.models import GenerationRequest, GenerationTicket
from msgrelay.upscale.validation import validate_generation_request

__all__ = ["SubmissionInDoubtError", "record_submission", "submission_key", "submit_once"]

#: Bumped if the key's recipe ever changes, so old and new keys never collide.
_KEY_VERSION = 1

logger = logging.getLogger(__name__)


class GenerationClient(Protocol):
    """What `submit_once` needs from `msgrelay.upscale.UpscaleClient`."""

    def request_generation(self, request: GenerationRequest) -> GenerationTicket: ...


class SubmissionInDoubtError(errors.MsgrelayError):
    """A matching submission was sent before but its outcome is unknown (or it is being sent now).

    Attributes:
        submission: the ledger row.
        in_flight: True when the process sending it is still running on this machine.
    """

    def __init__(self, submission: Submission, *, in_flight: bool) -> None:
        self.submission = submission
        self.in_flight = in_flight
        s = submission
        what = (
            f"the generation request for customer {s.customer_id!r}, campaign {s.campaign_id!r} "
            f"({s.lead_count} leads; {s.message_types})"
        )
        sent = datetime.fromtimestamp(s.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if in_flight:
            text = f"{what} is being sent right now by another process (since {sent}); wait for it to finish"
        else:
            text = (
                f"{what} was sent at {sent} but its outcome is unknown: the sender stopped or timed out "
                "before Upscale answered, so it may have been accepted and charged. Before sending it "
                "again, check: 'msgrelay upscale credits' (were credits used?) and whether a completion "
                "webhook or the Upscale dashboard names its secure_request_id. To send it again anyway, "
                f"rerun with --force (submission key {s.key})"
            )
        super().__init__(text)


def submission_key(request: GenerationRequest) -> str:
    """The stable key of a request.

    Made of the customer id, the campaign id, the sorted lead ids and the message types in step order.
    """
    material = orjson.dumps(
        [
            _KEY_VERSION,
            request.automation_tool_customer_id,
            request.automation_tool_campaign_id,
            sorted(lead.external_prospect_id for lead in request.lead_data),
            list(request.message_types),
        ]
    )
    return "s_" + hashlib.sha256(material).hexdigest()[:40]


def _outcome_known_unsent(exc: BaseException) -> bool:
    """True when the request certainly was not processed, so the reservation may be dropped."""
    if isinstance(exc, errors.TransportError):
        return not exc.may_have_reached_server
    # 4xx (rejected: 401, 402, 422, 429...), invalid input, missing configuration: nothing was generated.
    # 5xx and unreadable 2xx bodies stay in doubt: the vendor may have acted on the request.
    return isinstance(
        exc, errors.ClientError | errors.RateLimitedError | errors.ValidationError | errors.ConfigurationError
    )


def submit_once(
    client: GenerationClient,
    request: GenerationRequest,
    *,
    ledger: Ledger | None = None,
    force: bool = False,
    clock: Callable[[], float] = time.time,
) -> GenerationTicket:
    """Send ``request`` unless the same request was sent before; the ticket either way.

    Args:
        client: the Upscale client.
        request: the generation request.
        ledger: where submissions are recorded (default: `open_ledger`, from ``MSGRELAY_LEDGER_URL``).
        force: send even if a matching submission exists (after checking it was not charged).
        clock: seconds since the epoch.

    Raises:
        SubmissionInDoubtError: a matching submission has no ``secure_request_id`` (see its message).
        Whatever ``client.request_generation`` raises; the reservation is kept unless the request
        certainly did not reach Upscale.
    """
    validate_generation_request(request)  # a bad request is refused, never answered from the ledger
    ledger = ledger if ledger is not None else open_ledger()
    key = submission_key(request)
    owner = new_owner()

    def reserve() -> tuple[Submission, bool]:
        return ledger.reserve_submission(
            key,
            customer_id=request.automation_tool_customer_id,
            campaign_id=request.automation_tool_campaign_id,
            lead_count=len(request.lead_data),
            message_types=",".join(request.message_types),
            owner=owner,
            now=clock(),
        )

    row, created = reserve()
    if not created:
        if row.secure_request_id and not force:
            logger.info(
                "this submission was sent before as %s; returning that id instead of paying twice",
                row.secure_request_id,
            )
            return GenerationTicket(secure_request_id=row.secure_request_id)
        if not force:
            raise SubmissionInDoubtError(row, in_flight=owner_state(row.owner) == "alive")
        ledger.release_submission(key)
        row, created = reserve()
        if not created:  # another process reserved it between the two calls
            raise SubmissionInDoubtError(row, in_flight=True)
    try:
        ticket = client.request_generation(request)
    except BaseException as exc:
        if _outcome_known_unsent(exc):
            ledger.release_submission(key)
        raise
    ledger.complete_submission(key, ticket.secure_request_id, now=clock())
    return ticket


def record_submission(
    request: GenerationRequest,
    secure_request_id: str,
    *,
    ledger: Ledger | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Record the id of a submission whose outcome was in doubt, once you found it (dashboard, webhook).

    Later `submit_once` calls for the same request then return this id.
    """
    ledger = ledger if ledger is not None else open_ledger()
    key = submission_key(request)
    ledger.reserve_submission(
        key,
        customer_id=request.automation_tool_customer_id,
        campaign_id=request.automation_tool_campaign_id,
        lead_count=len(request.lead_data),
        message_types=",".join(request.message_types),
        owner=new_owner(),
        now=clock(),
    )
    ledger.complete_submission(key, secure_request_id, now=clock())
