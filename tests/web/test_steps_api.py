"""The steps over HTTP on ``serve``: bearer token, the OpenAPI document, errors with wire paths."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests
from openapi_spec_validator import validate

from msgrelay.plugins import PluginManager
from msgrelay.sandbox import Sandbox
from msgrelay.web.openapi import ERROR_TYPES
from tests.helpers import wait_until
from tests.serving import TOKEN, Served, serving

LEAD = {
    "external_prospect_id": "crm-1",
    "linkedin": "https://www.linkedin.com/in/ada/",
    "first_name": "Ada",
    "lead_company": "Example Labs",
}


def generate_inputs(served: Served, lead: dict[str, Any] = LEAD) -> dict[str, Any]:
    return {
        "leads": [lead],
        "sequence": ["connection_request", "first_follow_up"],
        "customer_id": "c1",
        "campaign_id": "k1",
        "campaign_name": "Spring",
        "company_name": "Acme",
        "company_url": "https://acme.example.com",
        "notify_url": served.notify_url,
    }


@pytest.fixture
def served(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, msgrelay_plugins: PluginManager
) -> Iterator[Served]:
    with serving(monkeypatch, sandbox, msgrelay_plugins) as running:
        yield running


def post(
    served: Served, name: str, body: Any, *, token: str | None = TOKEN, query: str = ""
) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return requests.post(f"{served.url}/v1/steps/{name}{query}", data=data, headers=headers, timeout=30)


def test_generate_over_http_then_the_webhook_relays_it(served: Served, sandbox: Sandbox) -> None:
    """POST /v1/steps/generate returns the secure_request_id; the webhook then delivers to the store."""
    answer = post(served, "generate", generate_inputs(served))
    assert answer.status_code == 200, answer.text
    sid = answer.json()["secure_request_id"]
    assert sandbox.count("POST", "/request_message_generation") == 1
    wait_until(lambda: served.ledger.batch_counts("upscale", sid) == {"delivered": 1}, what="delivery")
    records = post(served, "retrieve", {"secure_request_id": sid}, query="?format=records").json()
    assert [(r["secure_request_id"], r["external_prospect_id"]) for r in records] == [(sid, "crm-1")]
    items = post(served, "retrieve", {"secure_request_id": sid}, query="?format=n8n").json()
    assert items[0]["json"]["messages"]["connection_request"]


def test_an_invalid_lead_is_422_with_its_wire_path_and_nothing_is_sent(
    served: Served, sandbox: Sandbox
) -> None:
    """A broken LinkedIn URL answers 422 naming lead_data[0].linkedin; no POST reaches the vendor."""
    answer = post(served, "generate", generate_inputs(served, {**LEAD, "linkedin": "not-a-url"}))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["type"] == "invalid_input"
    assert [p["path"] for p in error["problems"]] == ["lead_data[0].linkedin"]
    wrong_type = post(served, "retrieve", {"secure_request_id": 5})
    assert (wrong_type.status_code, wrong_type.json()["error"]["problems"][0]["path"]) == (
        422,
        "secure_request_id",
    )
    assert post(served, "retrieve", {"secure_request": "x"}).json()["error"]["problems"] == [
        {"path": "secure_request", "message": "not an input of this step"},
        {"path": "secure_request_id", "message": "required"},
    ]
    assert sandbox.count("POST", "/request_message_generation") == 0


def test_the_token_guards_every_step_and_never_echoes(served: Served, sandbox: Sandbox) -> None:
    """No token or a wrong one is 401 with WWW-Authenticate; the token is in no answer."""
    for token in (None, "wrong", TOKEN + "x"):
        answer = post(served, "credits", {}, token=token)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert answer.json()["error"]["type"] == "unauthorized"
        assert TOKEN not in answer.text
    assert sandbox.count("GET", "/check_credits") == 0
    assert post(served, "credits", {}).json()["remaining_credits"] >= 0


def test_without_a_token_the_steps_api_is_off(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, msgrelay_plugins: PluginManager
) -> None:
    """Without MSGRELAY_API_TOKEN, every step is 401 saying how to turn it on."""
    with serving(monkeypatch, sandbox, msgrelay_plugins, token=None) as served:
        answer = post(served, "status", {}, token="")
    assert answer.status_code == 401
    assert "MSGRELAY_API_TOKEN" in answer.json()["error"]["message"]


def test_errors_map_to_400_404_and_502(
    served: Served, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body that is not an object is 400, an unknown step 404, a vendor refusing the key 502."""
    assert post(served, "status", b"[1, 2]").json()["error"]["type"] == "bad_request"
    assert post(served, "status", b"{nope").status_code == 400
    assert post(served, "nope", {}).status_code == 404
    answer = post(served, "credits", {"api_key": "wrong-key"})
    assert answer.status_code == 502
    assert (answer.json()["error"]["type"], answer.json()["error"]["vendor_status"]) == ("vendor_error", 401)
    assert "wrong-key" not in answer.text


def test_the_openapi_document_is_valid_and_covers_every_step(served: Served) -> None:
    """GET /v1/openapi.json validates as OpenAPI 3.1 and describes each step's input, output and errors."""
    document = requests.get(f"{served.url}/v1/openapi.json", timeout=10).json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert served.app.steps_api is not None
    assert set(document["paths"]) == {f"/v1/steps/{name}" for name in served.app.steps_api.steps}
    generate = document["paths"]["/v1/steps/generate"]["post"]
    schemas = document["components"]["schemas"]
    assert "leads" in schemas["GenerateInput"]["required"]
    assert schemas["GenerateInput"]["additionalProperties"] is False
    assert generate["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GenerateOutput"
    }
    assert set(schemas["ErrorDetail"]["properties"]["type"]["enum"]) == set(ERROR_TYPES)
    assert {"422", "401", "502"} <= set(generate["responses"])
