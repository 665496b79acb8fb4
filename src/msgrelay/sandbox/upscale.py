"""The Upscale Outreach half of the sandbox.

Behaves as the contract describes the vendor (``contracts/upscale.md``):

* ``Api-Key`` auth: 401 ``Unauthorized: Invalid API key`` / ``... has been revoked``;
* 422 ``{"error": "..."}`` with every problem joined by single spaces, in the vendor's wording;
* 402 when the remaining credits cannot cover the new messages of a request (all or nothing);
* generation that progresses over time: each message takes ``seconds_per_message``; retrieve answers
  202 with the messages generated so far (the rest null), then 200;
* a ``hiring_activity`` message fails for a lead whose company has no job posts (null message,
  ``no_job_posts: true``, ``failed_messages_reason``, not charged);
* de-duplication: an identical request returns the same ``secure_request_id``; a (lead id, message
  type) generated before is returned again and not charged again;
* the completion webhook POSTed to ``completion_notification_url`` when a batch completes, retried
  with backoff on failure (3xx counts as failure), each attempt logged in ``webhook_log``.

This module holds the emulator's state and request handlers. A batch and the bodies it renders are
`msgrelay.sandbox.upscale_batches`, the webhook sender `msgrelay.sandbox.webhooks` and the sequence
catalogue `msgrelay.sandbox.sequences`; import their names from there.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from msgrelay.sandbox.sequences import select_sequences
from msgrelay.sandbox.upscale_batches import (
    Batch,
    PlannedMessage,
)
from msgrelay.sandbox.upscale_texts import WRITERS
from msgrelay.sandbox.webhooks import WebhookAttempt, WebhookSender
from msgrelay.upscale import convert
from msgrelay.upscale.models import HIRING_ACTIVITY, GenerationRequest
from msgrelay.upscale.validation import REQUIRED_LEAD, REQUIRED_TOP_LEVEL, check_generation_request
from msgrelay.web.routing import HttpError, Request, Response, Router

__all__ = [
    "DEFAULT_COMPANIES_WITHOUT_JOB_POSTS",
    "INVALID_KEY",
    "NO_CREDITS",
    "RETRIEVE_PARAM",
    "REVOKED_KEY",
    "UpscaleSandbox",
]

INVALID_KEY = "Unauthorized: Invalid API key"
REVOKED_KEY = "Unauthorized: API key has been revoked"
NO_CREDITS = (
    "Not enough credits remaining to complete this request. Please upgrade your plan or purchase a bundle."
)
RETRIEVE_PARAM = "request_message_generation_secure_request_id"

#: Companies the emulator treats as having no open job posts (compared case-insensitively).
DEFAULT_COMPANIES_WITHOUT_JOB_POSTS = frozenset({"quiet labs", "stealth startup", "solo consulting"})


class UpscaleSandbox:
    """The emulator's state and handlers. Thread-safe: waitress serves from several threads.

    Args:
        api_key: the key accepted.
        revoked_keys: keys answered with the "revoked" 401.
        credits: the monthly message allowance.
        seconds_per_message: generation time per message (0: complete at once).
        webhook_delivery: whether completion webhooks are sent (the vendor sends none without a
            webhook secret configured in the account).
        webhook_attempts / webhook_backoff: delivery attempts in all, and the first retry's wait
            (doubled each time); the vendor's 25 attempts over 21 days, scaled down.
        companies_without_job_posts: lower-case company names whose ``hiring_activity`` fails.
        external_webhooks: allow webhooks to non-loopback hosts (off: the sandbox stays on this machine).
        clock: seconds since the epoch.
    """

    def __init__(
        self,
        *,
        api_key: str,
        revoked_keys: Iterable[str] = (),
        credits: int = 10_000,
        seconds_per_message: float = 0.02,
        webhook_delivery: bool = True,
        webhook_attempts: int = 5,
        webhook_backoff: float = 0.2,
        companies_without_job_posts: Iterable[str] = DEFAULT_COMPANIES_WITHOUT_JOB_POSTS,
        external_webhooks: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_key = api_key
        self.revoked_keys = frozenset(revoked_keys)
        self.message_allowance = credits
        self.credits_used = 0
        self.seconds_per_message = seconds_per_message
        self.companies_without_job_posts = frozenset(c.lower() for c in companies_without_job_posts)
        self.clock = clock
        #: POSTs received on the generation endpoint, accepted or not.
        self.generation_posts = 0
        self.batches: dict[str, Batch] = {}
        self._by_fingerprint: dict[str, str] = {}
        self._generated: dict[tuple[str, str], str] = {}
        self._lock = threading.RLock()
        self.webhooks = WebhookSender(
            enabled=webhook_delivery,
            attempts=webhook_attempts,
            backoff=webhook_backoff,
            clock=clock,
            external_hosts=external_webhooks,
        )
        self.router = Router()
        self.router.add("POST", "/messages/request_message_generation", self.request_generation)
        self.router.add("POST", "/request_message_generation", self.request_generation)
        self.router.add("GET", "/messages/retrieve_messages", self.retrieve_messages)
        self.router.add("GET", "/retrieve_messages", self.retrieve_messages)
        self.router.add("GET", "/account/check_credits", self.check_credits)
        self.router.add("GET", "/sequences/get_sequences", self.get_sequences)

    @property
    def webhook_log(self) -> list[WebhookAttempt]:
        """Every completion-webhook attempt so far."""
        return self.webhooks.log

    def close(self) -> None:
        """Stop the webhook sender."""
        self.webhooks.close()

    def dispatch(self, request: Request) -> Response:
        """Authenticate, then route."""
        key = request.header("api-key")
        if key in self.revoked_keys:
            return Response(401, {"error": REVOKED_KEY})
        if key is None or not _same(key, self.api_key):
            return Response(401, {"error": INVALID_KEY})
        return self.router.dispatch(request)

    # --- POST /messages/request_message_generation --------------------------------------------
    def request_generation(self, request: Request) -> Response:
        with self._lock:
            self.generation_posts += 1
        body = request.json()
        generation = _parse_generation_request(body)
        fingerprint = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
        with self._lock:
            existing = self._by_fingerprint.get(fingerprint)
            if existing is not None:
                return Response(200, _ticket(existing, duplicate=True))
            batch = self._plan(body, generation)
            cost = sum(1 for item in batch.plan if item.charged)
            if cost > self.remaining_credits:
                raise HttpError(402, {"error": NO_CREDITS})
            self.credits_used += cost
            for item in batch.plan:
                if item.text is not None:
                    lead = body["lead_data"][item.lead_index]
                    self._generated[(lead["external_prospect_id"], item.message_type)] = item.text
            self.batches[batch.secure_request_id] = batch
            self._by_fingerprint[fingerprint] = batch.secure_request_id
        self.webhooks.schedule(
            batch.completes_at,
            lambda: self.completion_event(batch.secure_request_id),
            generation.completion_notification_url,
        )
        return Response(200, _ticket(batch.secure_request_id, duplicate=False))

    def _plan(self, body: dict[str, Any], generation: GenerationRequest) -> Batch:
        types = list(generation.message_types)
        plan: list[PlannedMessage] = []
        for index, lead in enumerate(body["lead_data"]):
            for kind in types:
                earlier = self._generated.get((lead["external_prospect_id"], kind))
                if earlier is not None:
                    plan.append(PlannedMessage(index, kind, earlier, charged=False))
                elif (
                    kind == HIRING_ACTIVITY
                    and lead["lead_company"].strip().lower() in self.companies_without_job_posts
                ):
                    plan.append(PlannedMessage(index, kind, None, charged=False))
                else:
                    plan.append(PlannedMessage(index, kind, WRITERS[kind](lead, body), charged=True))
        return Batch(str(uuid.uuid4()), body, types, plan, self.clock(), self.seconds_per_message)

    @property
    def remaining_credits(self) -> int:
        """Allowance minus used, floored at 0 (as the vendor reports it)."""
        return max(self.message_allowance - self.credits_used, 0)

    # --- GET /messages/retrieve_messages -------------------------------------------------------
    def retrieve_messages(self, request: Request) -> Response:
        request_id = (request.query.get(RETRIEVE_PARAM) or "").strip()
        if not request_id:
            raise HttpError(422, {"error": f"{RETRIEVE_PARAM} is required but was missing or blank"})
        try:
            uuid.UUID(request_id)
        except ValueError:
            raise HttpError(422, {"error": f"{RETRIEVE_PARAM} must be a valid UUID"}) from None
        with self._lock:
            batch = self.batches.get(request_id.lower())
        if batch is None:
            raise HttpError(404, {"error": "No message generation request found for this secure_request_id"})
        body = self.retrieve_body(batch, self.clock())
        status = 200 if body["metadata"]["generation_status"] == "complete" else 202
        return Response(status, body)

    def retrieve_body(self, batch: Batch, now: float) -> dict[str, Any]:
        """The retrieve response of ``batch`` as it stands at ``now``."""
        return batch.retrieve_body(now)

    def completion_event(self, secure_request_id: str) -> dict[str, Any]:
        """The completion webhook body of a batch."""
        with self._lock:
            batch = self.batches[secure_request_id]
        return batch.completion_event(self.clock())

    def redeliver_webhook(self, secure_request_id: str) -> None:
        """Send a batch's completion webhook again now (the vendor may deliver one event several times)."""
        with self._lock:
            batch = self.batches[secure_request_id]
        url = batch.body["completion_notification_url"]
        self.webhooks.schedule(self.clock(), lambda: self.completion_event(secure_request_id), url)

    # --- GET /account/check_credits ------------------------------------------------------------
    def check_credits(self, request: Request) -> Response:
        with self._lock:
            return Response(
                200,
                {
                    "message_allowance": self.message_allowance,
                    "credits_used": self.credits_used,
                    "remaining_credits": self.remaining_credits,
                },
            )

    # --- GET /sequences/get_sequences ----------------------------------------------------------
    def get_sequences(self, request: Request) -> Response:
        return Response(200, {"sequences": select_sequences(request.query)})


def _same(given: str, expected: str) -> bool:
    import hmac

    return hmac.compare_digest(given.encode(), expected.encode())


def _ticket(secure_request_id: str, *, duplicate: bool) -> dict[str, Any]:
    note = "Identical request already received." if duplicate else "Message generation request accepted."
    return {"secure_request_id": secure_request_id, "status": "accepted", "message": note}


def _parse_generation_request(body: Any) -> GenerationRequest:
    """The body as a `GenerationRequest`, or the 422 the vendor would send."""
    if not isinstance(body, dict):
        raise HttpError(422, {"error": "request body must be a JSON object"})
    if not isinstance(body.get("message_sequence"), list):
        raise HttpError(422, {"error": "message_sequence must be an array"})
    if not isinstance(body.get("lead_data"), list) or not body["lead_data"]:
        raise HttpError(422, {"error": "lead_data must contain at least one lead"})
    # Missing keys become blanks so the rule check below reports them all in the vendor's wording.
    filled = dict(body)
    for name in REQUIRED_TOP_LEVEL:
        if not isinstance(filled.get(name), str):
            filled[name] = ""
    filled["lead_data"] = [
        {
            **dict.fromkeys(REQUIRED_LEAD, ""),
            **{k: v for k, v in lead.items() if v is not None},
        }
        if isinstance(lead, dict)
        else lead
        for lead in body["lead_data"]
    ]
    try:
        generation = convert.structure(filled, GenerationRequest)
    except Exception as exc:  # the converter's ValidationError, with the wire path
        raise HttpError(422, {"error": " ".join(str(p) for p in getattr(exc, "problems", [exc]))}) from None
    problems = [f"{p.path} {p.message}" for p in check_generation_request(generation)]
    for index, step in enumerate(generation.message_sequence):
        if step.message_type not in WRITERS:
            problems.append(
                f"message_sequence[{index}].messageType {step.message_type!r} is not available yet"
            )
    if problems:
        raise HttpError(422, {"error": " ".join(problems)})
    return generation
