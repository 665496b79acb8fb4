"""Idempotent generation requests: the same request, sent twice, is paid for once.

`submit_once` records the request in the ledger *before* the POST, keyed by (account, customer id,
campaign id, sorted lead ids, message types), with every lead in full (the relay joins them back with
what the vendor generated) and the request's other fields. The account is the base URL and a digest of
the API key, so the same command against another server or key is sent there.

A re-run with the same key:
- returns the stored ticket without a POST when every other field is the same too;
- raises `msgrelay.errors.SubmissionChangedError`, sending nothing, when any field differs (a corrected
  campaign name, company or notify URL must not silently hand back the old batch); ``force`` sends;
- raises `SubmissionInDoubtError` when the row has no id: the outcome is unknown (the process died or
  the request timed out after it may have reached Upscale). It says how to check and how to force a
  resend. It never resends silently.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from msgrelay import errors
from msgrelay.ledger import Ledger, Submission, new_owner, open_ledger, owner_state
from msgrelay.transport.redact import redact_url
from msgrelay.upscale import convert
from msgrelay.upscale.models import GenerationRequest, GenerationTicket
from msgrelay.upscale.validation import validate_generation_request

__all__ = ["SubmissionInDoubtError", "record_submission", "submission_key", "submit_once"]

#: Bumped if the key's recipe ever changes, so old and new keys never collide (2: the account).
_KEY_VERSION = 2
#: Differing fields named in a `SubmissionChangedError` before "and N more".
_MAX_NAMED = 20
#: Leads compared per ledger call on a re-run.
_COMPARE_CHUNK = 500

logger = logging.getLogger(__name__)


class GenerationClient(Protocol):
    """What `submit_once` needs from `msgrelay.upscale.UpscaleClient`."""

    @property
    def account(self) -> str:
        """The account the client acts for (base URL and key digest; `UpscaleClient.account`)."""
        ...

    def request_generation(self, request: GenerationRequest) -> GenerationTicket: ...


class SubmissionInDoubtError(errors.MsgrelayError):
    """A matching submission was sent before but its outcome is unknown (or it is being sent now).

    Attributes:
        submission: the ledger row.
        in_flight: True when the process sending it is still running on this machine.
        force_switch: how the caller's face sends anyway, named in the message (the CLI's ``--force``
            by default; the steps say their ``force`` input).
    """

    def __init__(self, submission: Submission, *, in_flight: bool, force_switch: str = "--force") -> None:
        self.submission = submission
        self.in_flight = in_flight
        self.force_switch = force_switch
        s = submission
        what = (
            f"the generation request for customer {s.customer_id!r}, campaign {s.campaign_id!r} "
            f"({s.lead_count} leads; {s.message_types})"
        )
        sent = _when(s.created_at)
        if in_flight:
            text = f"{what} is being sent right now by another process (since {sent}); wait for it to finish"
        else:
            text = (
                f"{what} was sent at {sent} but its outcome is unknown: the sender stopped or timed out "
                "before Upscale answered, so it may have been accepted and charged. Before sending it "
                "again, check: 'msgrelay upscale credits' (were credits used?) and whether a completion "
                "webhook or the Upscale dashboard names its secure_request_id. To send it again anyway, "
                f"rerun with {force_switch} (submission key {s.key})"
            )
        super().__init__(text)


def submission_key(request: GenerationRequest, *, account: str = "") -> str:
    """The stable key of a request sent from ``account`` (`UpscaleClient.account`).

    Made of the account, the customer id, the campaign id, the sorted lead ids and the message types
    in step order.
    """
    material = orjson.dumps(
        [
            _KEY_VERSION,
            account,
            request.automation_tool_customer_id,
            request.automation_tool_campaign_id,
            sorted(lead.external_prospect_id for lead in request.lead_data),
            list(request.message_types),
        ]
    )
    return "s_" + hashlib.sha256(material).hexdigest()[:40]


def _legacy_key(request: GenerationRequest) -> str:
    """The key msgrelay before key version 2 gave the same request (no account in it)."""
    material = orjson.dumps(
        [
            1,
            request.automation_tool_customer_id,
            request.automation_tool_campaign_id,
            sorted(lead.external_prospect_id for lead in request.lead_data),
            list(request.message_types),
        ]
    )
    return "s_" + hashlib.sha256(material).hexdigest()[:40]


def _request_fields(request: GenerationRequest) -> dict[str, Any]:
    """The request's wire fields other than its leads (compared on a re-run), with no secret: the notify
    URL usually carries the webhook secret (`msgrelay.web.notification_url`), and the ledger holds none."""
    wire = convert.unstructure(request)
    wire.pop("lead_data", None)
    url = wire.get("completion_notification_url")
    if isinstance(url, str):
        wire["completion_notification_url"] = redact_url(url)
    return dict(wire)


def _lead_payloads(request: GenerationRequest) -> Iterator[tuple[str, str]]:
    for lead in request.lead_data:
        yield lead.external_prospect_id, orjson.dumps(convert.unstructure(lead)).decode()


def _differences(ledger: Ledger, row: Submission, request: GenerationRequest) -> list[str]:
    """The wire paths where ``request`` differs from the stored submission (fields, then leads)."""
    if row.request is None:  # recorded by an older msgrelay: nothing to compare with
        return []
    stored: dict[str, Any] = orjson.loads(row.request)
    given = orjson.loads(orjson.dumps(_request_fields(request)))
    paths = sorted(k for k in stored.keys() | given.keys() if stored.get(k) != given.get(k))
    numbered = enumerate(request.lead_data)
    while part := list(itertools.islice(numbered, _COMPARE_CHUNK)):
        found = ledger.submitted_leads(row.key, [lead.external_prospect_id for _, lead in part])
        for index, lead in part:
            payload = found.get(lead.external_prospect_id)
            if payload is None:
                continue
            before: dict[str, Any] = orjson.loads(payload)
            now = orjson.loads(orjson.dumps(convert.unstructure(lead)))
            paths += [
                f"lead_data[{index}].{k}"
                for k in sorted(before.keys() | now.keys())
                if before.get(k) != now.get(k)
            ]
    return paths


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


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
    on_reuse: Callable[[Submission], None] | None = None,
) -> GenerationTicket:
    """Send ``request`` unless the same request was sent before from the same account; the ticket either way.

    Args:
        client: the Upscale client.
        request: the generation request.
        ledger: where submissions are recorded (default: `open_ledger`, from ``MSGRELAY_LEDGER_URL``).
        force: send even if a matching submission exists (a new batch; after checking an in-doubt one
            was not charged).
        clock: seconds since the epoch.
        on_reuse: called with the stored submission when its ticket is returned instead of sending
            (the CLI prints ``reusing submission <id> from <time>``).

    Raises:
        SubmissionInDoubtError: a matching submission has no ``secure_request_id`` (see its message).
        msgrelay.errors.SubmissionChangedError: a matching submission was sent with other field values;
            nothing is sent.
        Whatever ``client.request_generation`` raises; the reservation is kept unless the request
        certainly did not reach Upscale.
    """
    validate_generation_request(request)  # a bad request is refused, never answered from the ledger
    ledger = ledger if ledger is not None else open_ledger()
    key = submission_key(request, account=client.account)
    owner = new_owner()
    fields = orjson.dumps(_request_fields(request), option=orjson.OPT_SORT_KEYS).decode()

    def reserve() -> tuple[Submission, bool]:
        return ledger.reserve_submission(
            key,
            customer_id=request.automation_tool_customer_id,
            campaign_id=request.automation_tool_campaign_id,
            lead_count=len(request.lead_data),
            message_types=",".join(request.message_types),
            owner=owner,
            now=clock(),
            account=client.account,
            request=fields,
            leads=_lead_payloads(request),
        )

    legacy = None if force or ledger.get_submission(key) else ledger.get_submission(_legacy_key(request))
    if legacy is not None and legacy.secure_request_id:
        # Sent by a msgrelay whose keys did not name the account, so it cannot tell which account paid;
        # returning its id is what that version promised, and never pays twice across the upgrade.
        logger.info(
            "this submission was sent before as %s (recorded by an older msgrelay)", legacy.secure_request_id
        )
        if on_reuse is not None:
            on_reuse(legacy)
        return GenerationTicket(secure_request_id=legacy.secure_request_id)
    row, created = reserve()
    if not created:
        if row.secure_request_id and not force:
            changed = _differences(ledger, row, request)
            if changed:
                raise errors.SubmissionChangedError(
                    [
                        errors.Problem(path, "differs from the submission sent before")
                        for path in changed[:_MAX_NAMED]
                    ],
                    secure_request_id=row.secure_request_id,
                    submitted_at=_when(row.created_at),
                    more=max(len(changed) - _MAX_NAMED, 0),
                )
            logger.info(
                "this submission was sent before as %s; returning that id instead of paying twice",
                row.secure_request_id,
            )
            if on_reuse is not None:
                on_reuse(row)
            return GenerationTicket(secure_request_id=row.secure_request_id)
        if not force:
            raise SubmissionInDoubtError(row, in_flight=owner_state(row.owner) == "alive")
        if row.secure_request_id:
            ledger.retire_submission(key)  # its batch still joins with its leads
        else:
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
    account: str = "",
    clock: Callable[[], float] = time.time,
) -> None:
    """Record the id of a submission whose outcome was in doubt, once you found it (dashboard, webhook).

    Later `submit_once` calls for the same request from the same ``account`` (`UpscaleClient.account`)
    then return this id.
    """
    ledger = ledger if ledger is not None else open_ledger()
    key = submission_key(request, account=account)
    ledger.reserve_submission(
        key,
        customer_id=request.automation_tool_customer_id,
        campaign_id=request.automation_tool_campaign_id,
        lead_count=len(request.lead_data),
        message_types=",".join(request.message_types),
        owner=new_owner(),
        now=clock(),
        account=account,
        request=orjson.dumps(_request_fields(request), option=orjson.OPT_SORT_KEYS).decode(),
        leads=_lead_payloads(request),
    )
    ledger.complete_submission(key, secure_request_id, now=clock())
