"""Each platform example in examples/ runs against ``serve`` on the sandbox, the way the platform runs it."""

from __future__ import annotations

import os
import re
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
import requests

from msgrelay.sandbox import Sandbox
from tests.examples.conftest import EXAMPLES, CatchHook, load_example
from tests.helpers import wait_until
from tests.serving import Served, use_sandbox

LEAD = {
    "external_prospect_id": "crm-1",
    "linkedin": "https://www.linkedin.com/in/ada/",
    "first_name": "Ada",
    "lead_company": "Example Labs",
}
CAMPAIGN = {
    "customer_id": "c1",
    "campaign_id": "k1",
    "campaign_name": "Spring",
    "company_name": "Acme",
    "company_url": "https://acme.example.com",
}


def caught_lead(hook: CatchHook) -> dict[str, Any]:
    wait_until(lambda: len(hook.bodies) == 1, what="the lead at the catch hook")
    data: dict[str, Any] = hook.bodies[0]["data"]
    return data


def test_zapier_webhooks_call_the_steps_and_the_catch_hook_gets_the_lead(
    served_with_hook: Served, catch_hook: CatchHook
) -> None:
    """The Zap's Custom Request, filled from a CRM lead, generates; the Catch Hook receives the result."""
    zap = orjson.loads((EXAMPLES / "zapier" / "zap.json").read_bytes())
    action = zap["zaps"][0]["steps"][1]
    fields = {**zap["sample_lead"], **{k: os.environ[k] for k in ("MSGRELAY_URL", "MSGRELAY_API_TOKEN")}}
    fields["MSGRELAY_NOTIFY_URL"] = served_with_hook.notify_url

    def fill(text: str) -> str:  # Zapier's field mapping: {{name}} replaced by the mapped value
        return re.sub(r"\{\{([\w.]+)\}\}", lambda m: fields[m.group(1)], text)

    answer = requests.request(
        action["method"],
        fill(action["url"]),
        data=fill(action["data"]).encode(),
        headers={k: fill(v) for k, v in action["headers"].items()},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    lead = caught_lead(catch_hook)
    assert (lead["secure_request_id"], lead["external_prospect_id"]) == (
        answer.json()["secure_request_id"],
        "crm-1",
    )
    assert lead["message_connection_request"]


def n8n_value(text: str, item: dict[str, Any]) -> str:
    """An n8n parameter: ``=`` marks an expression; ``{{ $env.X }}`` and ``{{ $json.k }}`` are resolved."""
    if not text.startswith("="):
        return text

    def resolve(match: re.Match[str]) -> str:
        scope, name = match.group(1), match.group(2)
        return os.environ[name] if scope == "env" else str(item[name])

    return re.sub(r"\{\{\s*\$(env|json)\.(\w+)\s*\}\}", resolve, text[1:])


def test_n8n_workflow_http_calls_replayed_from_its_json(
    served_with_hook: Served, catch_hook: CatchHook
) -> None:
    """Each HTTP Request node, in connection order, is sent as n8n would; the Webhook node gets the lead."""
    workflow = orjson.loads((EXAMPLES / "n8n" / "msgrelay-workflow.json").read_bytes())
    nodes = {node["name"]: node for node in workflow["nodes"]}
    webhook = next(n for n in nodes.values() if n["type"] == "n8n-nodes-base.webhook")
    assert catch_hook.path  # n8n serves a Webhook node at /webhook/<path>
    catch_hook.path = "/webhook/" + webhook["parameters"]["path"]
    os.environ["MSGRELAY_WEBHOOK_URL"] = catch_hook.url + catch_hook.path  # restored by monkeypatch
    name = next(n["name"] for n in nodes.values() if n["type"] == "n8n-nodes-base.manualTrigger")
    items: list[dict[str, Any]] = [{"json": {}}]
    sent = 0
    while name in workflow["connections"]:
        name = workflow["connections"][name]["main"][0][0]["node"]
        node = nodes[name]
        assert node["type"] == "n8n-nodes-base.httpRequest"
        params = node["parameters"]
        item = items[0]["json"]
        headers = {h["name"]: n8n_value(h["value"], item) for h in params["headerParameters"]["parameters"]}
        body = n8n_value(params["jsonBody"], item)
        answer = requests.request(
            params["method"], n8n_value(params["url"], item), data=body.encode(), headers=headers, timeout=60
        )
        assert answer.status_code == 200, answer.text
        items = answer.json()
        assert all(set(i) == {"json"} for i in items)
        sent += 1
    assert sent == 2
    sid = items[0]["json"]["secure_request_id"]
    # The relay step and serve's own worker (woken by the webhook) share the work; the ledger has it all.
    ledger = served_with_hook.ledger
    seen: list[dict[str, int]] = []

    def delivered() -> bool:
        seen[:] = [ledger.batch_counts("upscale", sid)]
        return seen[0] == {"delivered": 2}

    try:
        wait_until(delivered, what="delivered to the store and the hook")
    except AssertionError as exc:
        # The state at the deadline, for the report (this wait ran out once in a fresh-clone run).
        state = f"outbox {seen}, batch {ledger.get_batch('upscale', sid)}"
        raise AssertionError(f"{exc}: {state}") from None
    assert caught_lead(catch_hook)["external_prospect_id"] == "crm-1"


def test_pipedream_handler(served_with_hook: Served, catch_hook: CatchHook) -> None:
    """``handler(pd)`` with the trigger's leads in pd.steps and the campaign in pd.inputs."""
    module = load_example("pipedream/generate_messages.py")
    pd = SimpleNamespace(
        steps={"trigger": {"event": {"body": {"leads": [LEAD]}}}},
        inputs={**CAMPAIGN, "notify_url": served_with_hook.notify_url},
    )
    exported = module.handler(pd)
    counts = served_with_hook.ledger.batch_counts
    sid = exported["secure_request_id"]
    wait_until(lambda: counts("upscale", sid) == {"delivered": 2}, what="delivered to the store and the hook")
    assert caught_lead(catch_hook)["secure_request_id"] == exported["secure_request_id"]
    orjson.dumps(exported)  # Pipedream exports only JSON


def test_pipedream_handler_names_a_bad_lead(served_with_hook: Served, sandbox: Sandbox) -> None:
    """A lead without a LinkedIn URL fails the step with one line naming it; nothing is sent."""
    module = load_example("pipedream/generate_messages.py")
    pd = SimpleNamespace(
        steps={"trigger": {"event": {"body": {"leads": [{**LEAD, "linkedin": ""}]}}}},
        inputs={**CAMPAIGN, "notify_url": served_with_hook.notify_url},
    )
    with pytest.raises(RuntimeError, match=r"invalid_input: .*lead_data\[0\]\.linkedin"):
        module.handler(pd)
    assert sandbox.count("POST", "/request_message_generation") == 0


def test_windmill_main(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """``main(...)`` with a typed resource and typed arguments, keyword-only steps called correctly."""
    use_sandbox(monkeypatch, sandbox)
    module = load_example("windmill/generate_and_relay.py")
    account = {"api_key": sandbox.upscale_api_key, "base_url": sandbox.upscale_url}
    result = module.main(
        account, [LEAD], notify_url="https://relay.example.com/webhooks/upscale", max_wait=60, **CAMPAIGN
    )
    assert result["delivered"] == 1
    assert sandbox.count("POST", "/request_message_generation") == 1
