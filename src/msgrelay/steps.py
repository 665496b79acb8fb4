"""Low-code steps: JSON in, JSON out, for Zapier, n8n, Pipedream and Windmill.

Each step is a plain function of JSON-typed keyword arguments that returns a JSON-serialisable dict;
credentials come as arguments or from the environment, and nothing prompts. Zapier passes every value
as a string, so list arguments also accept ``"a,b,c"`` and a JSON array in a string.

* Pipedream: ``def handler(pd): return steps.generate(**pd.inputs)``
* Windmill: ``def main(secure_request_id: str): return steps.relay(secure_request_id=secure_request_id)``
  (every step takes keyword arguments only)
* Zapier (Code by Zapier): ``output = steps.run_step("retrieve", input_data)``
* n8n, or anything that runs a command: ``echo '{"secure_request_id": "..."}' | msgrelay step retrieve``
* anything that calls HTTP: ``POST /v1/steps/{name}`` on ``msgrelay serve`` (see `msgrelay.web.steps_api`)

Each step's return annotation is a `TypedDict`, so its output schema is generated like its inputs'
(`msgrelay.web.openapi`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypedDict, cast

import orjson

from msgrelay.collect.client import CollectClient
from msgrelay.collect.convert import encode as encode_collect
from msgrelay.collect.drafts import changes_from_wire, new_message_from_wire
from msgrelay.errors import Problem, ValidationError
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import PluginManager
from msgrelay.relay import Relay
from msgrelay.relay.submit import submit_once
from msgrelay.upscale.client import UpscaleClient
from msgrelay.upscale.leads import leads_from_mappings
from msgrelay.upscale.models import GenerationRequest, MessageStep, RetrieveResult

__all__ = [
    "STEPS",
    "collect_create",
    "collect_delete",
    "collect_messages",
    "collect_update",
    "credits",
    "generate",
    "relay",
    "retrieve",
    "run_step",
    "status",
    "wait",
]


class GenerateOutput(TypedDict):
    """What `generate` returns."""

    secure_request_id: str


class LeadSummary(TypedDict):
    """One lead of a generation: its id, LinkedIn URL, message type → text (None: not generated)."""

    external_prospect_id: str
    linkedin: str
    messages: dict[str, str | None]
    no_job_posts: bool


class RetrieveOutput(TypedDict):
    """What `retrieve` and `wait` return."""

    secure_request_id: str
    complete: bool
    leads: list[LeadSummary]


class RelayOutput(TypedDict):
    """What `relay` returns: the ledger's delivery counts by state and the run's report."""

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


def _bad(name: str, message: str) -> ValidationError:
    return ValidationError(Problem(name, message), subject="step input")


def _json(name: str, text: str) -> Any:
    """JSON that arrived as a string (Zapier and n8n pass every value as one)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise _bad(name, f"not valid JSON ({exc.msg})") from None


def _list(name: str, value: list[str] | str | None) -> list[str] | None:
    """A list from a JSON array, a JSON array in a string, or a comma list (Zapier sends strings)."""
    if value is None or isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise _bad(name, f"expected a list or a comma-separated string, got {type(value).__name__}")
    text = value.strip()
    if text.startswith("["):
        parsed = _json(name, text)
        if not isinstance(parsed, list):
            raise _bad(name, "expected a JSON array")
        return [str(item) for item in parsed]
    return [item.strip() for item in text.split(",") if item.strip()]


def _seconds(name: str, value: float | str) -> float:
    """A number of seconds >= 0, given as a number or a numeric string."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise _bad(name, f"expected a number of seconds, got {value!r}") from None
    if not seconds >= 0:  # also refuses nan
        raise _bad(name, f"expected a number of seconds >= 0, got {value!r}")
    return seconds


def _summaries(result: RetrieveResult) -> list[LeadSummary]:
    # `lead_summaries` builds exactly these keys; it types them loosely since the CLI prints them too.
    return cast(list[LeadSummary], result.lead_summaries())


def _rows(value: list[dict[str, Any]] | str) -> list[dict[str, Any]]:
    rows = _json("leads", value) if isinstance(value, str) else value
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise _bad("leads", "expected a JSON array of lead objects")
    return rows


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
    api_key: str | None = None,
    base_url: str | None = None,
) -> GenerateOutput:
    """Submit leads for generation, once: the same leads and sequence again return the same id."""
    rows = _rows(leads)
    request = GenerationRequest(
        completion_notification_url=notify_url,
        automation_tool_customer_id=customer_id,
        automation_tool_campaign_id=campaign_id,
        automation_tool_campaign_name=campaign_name,
        proposition_company_name=company_name,
        proposition_company_url=company_url,
        message_sequence=[
            MessageStep(step=i, message_type=t) for i, t in enumerate(_list("sequence", sequence) or [], 1)
        ],
        lead_data=leads_from_mappings(rows),
        material_link=material_link,
        hiring_location=hiring_location,
        signoff_name=signoff_name,
    )
    with UpscaleClient(api_key, base_url) as client, SQLiteLedger() as ledger:
        ticket = submit_once(client, request, ledger=ledger)
    return {"secure_request_id": ticket.secure_request_id}


def retrieve(
    *, secure_request_id: str, api_key: str | None = None, base_url: str | None = None
) -> RetrieveOutput:
    """The messages generated so far: ``{"complete": bool, "leads": [{id, linkedin, messages}]}``."""
    with UpscaleClient(api_key, base_url) as client:
        result = client.retrieve_messages(secure_request_id)
    return {
        "secure_request_id": secure_request_id,
        "complete": result.is_complete,
        "leads": _summaries(result),
    }


def relay(
    *,
    secure_request_id: str,
    destinations: list[str] | str | None = None,
    max_wait: float | str = 30.0,
    api_key: str | None = None,
    base_url: str | None = None,
) -> RelayOutput:
    """Deliver a generation to destinations (default ``MSGRELAY_DESTINATIONS``, else the store)."""
    wanted, wait = _list("destinations", destinations), _seconds("max_wait", max_wait)
    with SQLiteLedger() as ledger:
        worker = Relay(
            ledger=ledger, plugins=PluginManager().load(), upscale=lambda: UpscaleClient(api_key, base_url)
        )
        try:
            report = worker.relay(secure_request_id, destinations=wanted, max_wait=wait)
            counts = ledger.batch_counts("upscale", secure_request_id)
        finally:
            worker.close()
    return {"secure_request_id": secure_request_id, "deliveries": counts, **report.to_json()}  # type: ignore[typeddict-item]


def collect_messages(
    *, request_id: str, channel: str | None = None, api_key: str | None = None, base_url: str | None = None
) -> CollectMessagesOutput:
    """A Collect request's messages, as the API's JSON (``{"messages": [...]}``)."""
    with CollectClient(api_key, base_url) as client:
        messages = client.list_messages(request_id, channel=channel or None)
    return {"request_id": request_id, "messages": [encode_collect(m) for m in messages]}


def status() -> StatusOutput:
    """The ledger's counts by state, dead letters and hook errors."""
    with SQLiteLedger() as ledger:
        return ledger.status()  # type: ignore[return-value]


def wait(
    *,
    secure_request_id: str,
    timeout: float | str = 600.0,
    api_key: str | None = None,
    base_url: str | None = None,
) -> RetrieveOutput:
    """Wait until a generation is complete (polling with growing intervals), then return its messages."""
    seconds = _seconds("timeout", timeout)
    with UpscaleClient(api_key, base_url) as client:
        result = client.wait_for_completion(secure_request_id, timeout=seconds)
    return {
        "secure_request_id": secure_request_id,
        "complete": result.is_complete,
        "leads": _summaries(result),
    }


def credits(*, api_key: str | None = None, base_url: str | None = None) -> CreditsOutput:
    """The Upscale account's monthly allowance, credits used and credits remaining."""
    with UpscaleClient(api_key, base_url) as client:
        found = client.check_credits()
    return {
        "message_allowance": found.message_allowance,
        "credits_used": found.credits_used,
        "remaining_credits": found.remaining_credits,
    }


def _wire_message(name: str, value: dict[str, Any] | str) -> dict[str, Any]:
    data = _json(name, value) if isinstance(value, str) else value
    if not isinstance(data, dict):
        raise _bad(name, "expected a JSON object")
    return data


def collect_create(
    *,
    request_id: str,
    message: dict[str, Any] | str,
    api_key: str | None = None,
    base_url: str | None = None,
) -> CollectMessageOutput:
    """Add a message to a Collect request; ``message`` is the API's shape (``channel``, ``title``, ...)."""
    draft = new_message_from_wire(_wire_message("message", message))
    with CollectClient(api_key, base_url) as client:
        created = client.create_message(request_id, draft)
    return {"request_id": request_id, "message": encode_collect(created)}


def collect_update(
    *,
    request_id: str,
    message_id: str,
    changes: dict[str, Any] | str,
    channel: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
) -> CollectMessageOutput:
    """Change some fields of a Collect message; absent keys are left alone, ``null`` clears."""
    wanted = changes_from_wire(_wire_message("changes", changes))
    with CollectClient(api_key, base_url) as client:
        updated = client.update_message(request_id, message_id, wanted, channel=channel or None)
    return {"request_id": request_id, "message": encode_collect(updated)}


def collect_delete(
    *, request_id: str, message_id: str, api_key: str | None = None, base_url: str | None = None
) -> CollectDeleteOutput:
    """Delete a Collect message."""
    with CollectClient(api_key, base_url) as client:
        deleted = client.delete_message(request_id, message_id)
    return {"request_id": request_id, "message_id": message_id, "deleted": deleted}


#: The steps by name, as ``msgrelay step NAME`` and `run_step` know them.
STEPS: Mapping[str, Callable[..., Mapping[str, Any]]] = {
    "generate": generate,
    "retrieve": retrieve,
    "wait": wait,
    "relay": relay,
    "status": status,
    "credits": credits,
    "collect-messages": collect_messages,
    "collect-list": collect_messages,
    "collect-create": collect_create,
    "collect-update": collect_update,
    "collect-delete": collect_delete,
}


def run_step(name: str, inputs: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """Run a step by name with a dict of inputs; unknown or missing inputs are one `ValidationError`."""
    step = STEPS.get(name)
    if step is None:
        raise ValidationError(
            Problem("step", f"unknown step {name!r}; known: {', '.join(STEPS)}"), subject="step"
        )
    given = dict(inputs or {})
    params = inspect.signature(step).parameters
    problems = [Problem(key, "not an input of this step") for key in given if key not in params]
    problems += [
        Problem(key, "required")
        for key, param in params.items()
        if param.default is inspect.Parameter.empty and key not in given
    ]
    if problems:
        raise ValidationError(problems, subject=f"inputs of step {name!r}")
    return step(**given)
