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
"""

from __future__ import annotations

import hashlib
import heapq
import ipaddress
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import attrs
import orjson
import requests

from msgrelay.sandbox._router import HttpError, Request, Response, Router
from msgrelay.sandbox.upscale_texts import WRITERS
from msgrelay.upscale import convert
from msgrelay.upscale.models import (
    CONNECTION_REQUEST,
    FIRST_FOLLOW_UP,
    HIRING_ACTIVITY,
    SHARE_MATERIAL,
    STAGE_AMBITION,
    GenerationRequest,
    message_field,
)
from msgrelay.upscale.validation import check_generation_request

logger = logging.getLogger("msgrelay.sandbox.upscale")

INVALID_KEY = "Unauthorized: Invalid API key"
REVOKED_KEY = "Unauthorized: API key has been revoked"
NO_CREDITS = (
    "Not enough credits remaining to complete this request. Please upgrade your plan or purchase a bundle."
)
IN_PROGRESS_MESSAGE = (
    "Message generation is still in progress. Data shown is partial. "
    "Please wait for webhook notification or check again later."
)
IN_PROGRESS_REASON = (
    "Message generation is still in progress. "
    "The failed messages count will be available once generation is complete."
)
NO_HIRING_REASON = "No hiring activity found for one or more prospects."
RETRIEVE_PARAM = "request_message_generation_secure_request_id"

#: Companies the emulator treats as having no open job posts (compared case-insensitively).
DEFAULT_COMPANIES_WITHOUT_JOB_POSTS = frozenset({"quiet labs", "stealth startup", "solo consulting"})


def _now_iso(clock: Callable[[], float]) -> str:
    return datetime.fromtimestamp(clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.define
class PlannedMessage:
    """One message of a batch, in the order the emulator generates them."""

    lead_index: int
    message_type: str
    text: str | None  # None: generation fails (no job posts)
    charged: bool


@attrs.define
class Batch:
    """A generation request the emulator accepted."""

    secure_request_id: str
    body: dict[str, Any]
    message_types: list[str]
    plan: list[PlannedMessage]
    started_at: float
    seconds_per_message: float

    @property
    def completes_at(self) -> float:
        return self.started_at + self.seconds_per_message * len(self.plan)

    def ready(self, now: float) -> int:
        """How many planned messages are done at ``now``."""
        if self.seconds_per_message <= 0:
            return len(self.plan)
        return min(len(self.plan), int((now - self.started_at) / self.seconds_per_message))


@attrs.frozen
class WebhookAttempt:
    """One completion-webhook POST the emulator made."""

    secure_request_id: str
    attempt: int
    status: int | None
    error: str | None
    at: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


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
        ready = batch.ready(now)
        complete = ready == len(batch.plan)
        source = batch.body
        leads: list[dict[str, Any]] = []
        for lead in source["lead_data"]:
            item: dict[str, Any] = {
                "external_prospect_id": lead["external_prospect_id"],
                "linkedin": lead["linkedin"],
            }
            for kind in batch.message_types:
                item[message_field(kind)] = None
            leads.append(item)
        generated = 0
        failed_leads: set[int] = set()
        for planned in batch.plan[:ready]:
            if planned.text is None:
                failed_leads.add(planned.lead_index)
                leads[planned.lead_index]["no_job_posts"] = True
            else:
                generated += 1
                leads[planned.lead_index][message_field(planned.message_type)] = planned.text
        metadata = {
            "request_message_generation_api_request_secure_request_id": batch.secure_request_id,
            "retrieve_messages_api_request_secure_request_id": str(uuid.uuid4()),
            "generation_status": "complete" if complete else "in_progress",
            "status_message": "Message generation is complete." if complete else IN_PROGRESS_MESSAGE,
            "requested_message_count": len(batch.plan),
            "generated_message_count": generated,
            "failed_messages_count": len(failed_leads) if complete else None,
            "failed_messages_reason": (NO_HIRING_REASON if failed_leads else None)
            if complete
            else IN_PROGRESS_REASON,
        }
        return {
            "metadata": metadata,
            "account": {"automation_tool_customer_id": source["automation_tool_customer_id"]},
            "campaign": {
                "automation_tool_campaign_id": source["automation_tool_campaign_id"],
                "automation_tool_campaign_name": source["automation_tool_campaign_name"],
                "message_sequence": source["message_sequence"],
                "leads_data": leads,
            },
        }

    def completion_event(self, secure_request_id: str) -> dict[str, Any]:
        """The completion webhook body of a batch."""
        with self._lock:
            batch = self.batches[secure_request_id]
        generated = sum(1 for item in batch.plan if item.text is not None)
        return {
            "secure_request_id": secure_request_id,
            "status": "complete",
            "completed_at": datetime.fromtimestamp(batch.completes_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "requested_messages_count": len(batch.plan),
            "generated_messages_count": generated,
            "webhook_triggered_at": _now_iso(self.clock),
        }

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
        filters = {name: request.query.get(name) for name in SEQUENCE_FILTERS}
        templates = SEQUENCE_CATALOG
        if any(value is not None for value in filters.values()):
            wanted: dict[str, Any] = {}
            for name, allowed in SEQUENCE_FILTERS.items():
                value = filters[name]
                if value is None or value == "default":
                    value = allowed[0]
                if value not in allowed:
                    raise HttpError(422, {"error": f"{name} must be one of {', '.join(allowed)}"})
                wanted[name] = value
            templates = [t for t in templates if all(str(t[k]).lower() == v for k, v in wanted.items())]
        return Response(200, {"sequences": templates})


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    for name in (
        "completion_notification_url",
        "automation_tool_customer_id",
        "automation_tool_campaign_id",
        "automation_tool_campaign_name",
        "proposition_company_name",
        "proposition_company_url",
    ):
        if not isinstance(filled.get(name), str):
            filled[name] = ""
    filled["lead_data"] = [
        {
            **dict.fromkeys(("external_prospect_id", "linkedin", "first_name", "lead_company"), ""),
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


SEQUENCE_FILTERS: dict[str, tuple[str, ...]] = {
    "sequence_length": ("medium", "short", "long"),
    "campaign_objective": ("meeting", "brand_awareness", "event_attendance"),
    "cadence_profile": ("normal", "rapid", "long_term"),
    "saturated_markets": ("false", "true"),
}
_LENGTHS = {"short": 2, "medium": 3, "long": 5}
_WAIT_DAYS = {"rapid": 2, "normal": 5, "long_term": 21}
_FOLLOW_UPS = (FIRST_FOLLOW_UP, SHARE_MATERIAL, STAGE_AMBITION, HIRING_ACTIVITY)


def _catalog() -> list[dict[str, Any]]:
    templates = []
    for length, objective, cadence, saturated in itertools.product(*SEQUENCE_FILTERS.values()):
        kinds = ([CONNECTION_REQUEST] if saturated == "true" else []) + list(_FOLLOW_UPS)
        kinds = kinds[: _LENGTHS[length]]
        templates.append(
            {
                "name": f"{length.title()} {objective.replace('_', ' ')}, {cadence.replace('_', ' ')} cadence"
                + (", saturated market" if saturated == "true" else ""),
                "sequence_length": length,
                "campaign_objective": objective,
                "cadence_profile": cadence,
                "saturated_markets": saturated == "true",
                "steps": [
                    {"step": i + 1, "messageType": kind, "wait_days": 0 if i == 0 else _WAIT_DAYS[cadence]}
                    for i, kind in enumerate(kinds)
                ],
            }
        )
    return templates


SEQUENCE_CATALOG = _catalog()


class WebhookSender:
    """Posts completion webhooks on a background thread, at their due time, with retries."""

    def __init__(
        self,
        *,
        enabled: bool,
        attempts: int,
        backoff: float,
        clock: Callable[[], float],
        external_hosts: bool = False,
    ) -> None:
        self.enabled = enabled
        self.external_hosts = external_hosts
        self.attempts = attempts
        self.backoff = backoff
        self.clock = clock
        self.log: list[WebhookAttempt] = []
        self._queue: list[tuple[float, int, int, str, Callable[[], dict[str, Any]]]] = []
        self._counter = itertools.count()
        self._wake = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._session = requests.Session()
        self._session.trust_env = False

    def schedule(self, due: float, event: Callable[[], dict[str, Any]], url: str, attempt: int = 1) -> None:
        """Send ``event()`` to ``url`` at ``due`` (seconds since the epoch)."""
        if not self.enabled:
            return
        with self._wake:
            if self._closed:
                return
            heapq.heappush(self._queue, (due, next(self._counter), attempt, url, event))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
                self._thread.start()
            self._wake.notify()

    def close(self) -> None:
        """Stop sending; pending webhooks are dropped (the sandbox is going away)."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(5)
        self._session.close()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and (not self._queue or self._queue[0][0] > self.clock()):
                    timeout = None if not self._queue else max(self._queue[0][0] - self.clock(), 0.0)
                    self._wake.wait(timeout if timeout is None else min(timeout, 0.5))
                if self._closed:
                    return
                _, _, attempt, url, event = heapq.heappop(self._queue)
            self._deliver(url, event, attempt)

    def _deliver(self, url: str, event: Callable[[], dict[str, Any]], attempt: int) -> None:
        body = event()
        status: int | None = None
        error: str | None = None
        if not self.external_hosts and not _is_loopback(url):
            # A laptop emulator has no business calling out; say why instead of trying.
            refused = WebhookAttempt(
                body["secure_request_id"], attempt, None, "refused: not a loopback host", self.clock()
            )
            with self._wake:
                self.log.append(refused)
            logger.warning(
                "sandbox webhook not sent to %s: only loopback hosts unless external_webhooks=True",
                url.split("?")[0],
            )
            return
        try:
            response = self._session.post(url, json=body, timeout=10, allow_redirects=False)
            status = response.status_code
            response.close()
        except requests.RequestException as exc:
            error = type(exc).__name__
        record = WebhookAttempt(body["secure_request_id"], attempt, status, error, self.clock())
        with self._wake:
            self.log.append(record)
        if not record.ok and attempt < self.attempts:
            delay = self.backoff * 2 ** (attempt - 1)
            logger.info(
                "webhook to %s failed (%s); retry %d in %.1f s",
                url.split("?")[0],
                status or error,
                attempt + 1,
                delay,
            )
            self.schedule(self.clock() + delay, event, url, attempt + 1)
