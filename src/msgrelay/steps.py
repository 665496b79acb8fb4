"""Low-code steps: JSON in, JSON out, for Zapier, n8n, Pipedream and Windmill.

Each step is a plain function of JSON-typed keyword arguments that returns a JSON-serialisable dict;
credentials come as arguments or from the environment, and nothing prompts. Zapier passes every value
as a string, so list arguments also accept ``"a,b,c"`` and a JSON array in a string.

* Pipedream: ``def handler(pd): return steps.generate(**pd.inputs)``
* Windmill: ``def main(secure_request_id: str): return steps.relay(secure_request_id)``
* Zapier (Code by Zapier): ``output = steps.run_step("retrieve", input_data)``
* n8n, or anything that runs a command: ``echo '{"secure_request_id": "..."}' | msgrelay step retrieve``
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from msgrelay.collect.client import CollectClient
from msgrelay.collect.convert import encode as encode_collect
from msgrelay.errors import Problem, ValidationError
from msgrelay.ledger import open_ledger
from msgrelay.plugins import PluginManager
from msgrelay.relay import Relay
from msgrelay.relay.submit import submit_once
from msgrelay.upscale.client import UpscaleClient
from msgrelay.upscale.leads import leads_from_mappings
from msgrelay.upscale.models import GenerationRequest, MessageStep

__all__ = ["STEPS", "collect_messages", "generate", "relay", "retrieve", "run_step", "status"]


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
) -> dict[str, Any]:
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
    with UpscaleClient(api_key, base_url) as client, contextlib.closing(open_ledger()) as ledger:
        ticket = submit_once(client, request, ledger=ledger)
    return {"secure_request_id": ticket.secure_request_id}


def retrieve(
    *, secure_request_id: str, api_key: str | None = None, base_url: str | None = None
) -> dict[str, Any]:
    """The messages generated so far: ``{"complete": bool, "leads": [{id, linkedin, messages}]}``."""
    with UpscaleClient(api_key, base_url) as client:
        result = client.retrieve_messages(secure_request_id)
    return {
        "secure_request_id": secure_request_id,
        "complete": result.is_complete,
        "leads": result.lead_summaries(),
    }


def relay(
    *,
    secure_request_id: str,
    destinations: list[str] | str | None = None,
    max_wait: float | str = 30.0,
    api_key: str | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """Deliver a generation to destinations (default ``MSGRELAY_DESTINATIONS``, else the store)."""
    wanted, wait = _list("destinations", destinations), _seconds("max_wait", max_wait)
    with contextlib.closing(open_ledger()) as ledger:
        worker = Relay(
            ledger=ledger, plugins=PluginManager().load(), upscale=lambda: UpscaleClient(api_key, base_url)
        )
        try:
            report = worker.relay(secure_request_id, destinations=wanted, max_wait=wait)
            counts = ledger.batch_counts("upscale", secure_request_id)
        finally:
            worker.close()
    return {"secure_request_id": secure_request_id, "deliveries": counts, **report.to_json()}


def collect_messages(
    *, request_id: str, channel: str | None = None, api_key: str | None = None, base_url: str | None = None
) -> dict[str, Any]:
    """A Collect request's messages, as the API's JSON (``{"messages": [...]}``)."""
    with CollectClient(api_key, base_url) as client:
        messages = client.list_messages(request_id, channel=channel or None)
    return {"request_id": request_id, "messages": [encode_collect(m) for m in messages]}


def status() -> dict[str, Any]:
    """The ledger's counts by state, dead letters and hook errors."""
    with contextlib.closing(open_ledger()) as ledger:
        return ledger.status()


#: The steps by name, as ``msgrelay step NAME`` and `run_step` know them.
STEPS: Mapping[str, Callable[..., dict[str, Any]]] = {
    "generate": generate,
    "retrieve": retrieve,
    "relay": relay,
    "collect-messages": collect_messages,
    "status": status,
}


def run_step(name: str, inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
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
