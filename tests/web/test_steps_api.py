"""The steps over HTTP on ``serve``: bearer token, the OpenAPI document, errors with wire paths."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from msgrelay.plugins import PluginManager
from msgrelay.sandbox import Fault, Sandbox
from msgrelay.web.openapi import ERROR_TYPES
from msgrelay.web.routing import Request
from msgrelay.web.steps_api import StepsApi
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
    ok = generate["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["anyOf"][0] == {"$ref": "#/components/schemas/GenerateOutput"}
    assert set(schemas["ErrorDetail"]["properties"]["type"]["enum"]) == set(ERROR_TYPES)
    assert {"422", "401", "502"} <= set(generate["responses"])


def test_a_submission_in_doubt_is_409_and_force_sends_it(served: Served, sandbox: Sandbox) -> None:
    """A generate whose first POST failed with a 5xx (it may have been charged) is 409
    submission_in_doubt naming the ``force`` input, sending nothing; with force it is sent."""
    sandbox.inject(Fault("POST", "/request_message_generation", status=500, body={"error": "oops"}))
    assert post(served, "generate", generate_inputs(served)).json()["error"]["type"] == "vendor_error"
    answer = post(served, "generate", generate_inputs(served))
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["type"] == "submission_in_doubt"
    assert 'the input "force": true' in error["message"]
    assert "--force" not in error["message"]
    assert sandbox.count("POST", "/request_message_generation") == 1
    forced = post(served, "generate", {**generate_inputs(served), "force": True})
    assert forced.status_code == 200, forced.text
    assert sandbox.count("POST", "/request_message_generation") == 2


def test_a_changed_submission_names_the_force_input_and_force_sends_a_new_batch(
    served: Served, sandbox: Sandbox
) -> None:
    """The same leads and campaign with another campaign name are refused naming ``force``, not the
    CLI's --force; ``"force": true`` sends a new batch."""
    first = post(served, "generate", generate_inputs(served)).json()["secure_request_id"]
    changed = {**generate_inputs(served), "campaign_name": "Autumn"}
    answer = post(served, "generate", changed)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert [p["path"] for p in error["problems"]] == ["automation_tool_campaign_name"]
    assert 'the input "force": true' in error["message"]
    assert "--force" not in error["message"]
    forced = post(served, "generate", {**changed, "force": "true"})
    assert forced.status_code == 422  # Zapier's strings are not booleans: refused by type, not sent
    forced = post(served, "generate", {**changed, "force": True})
    assert forced.status_code == 200, forced.text
    assert forced.json()["secure_request_id"] != first
    assert sandbox.count("POST", "/request_message_generation") == 2


def test_the_documented_200_schema_fits_every_format_and_404_500_are_documented(served: Served) -> None:
    """The 200 answer of each ?format validates against the document's schema for it."""
    document = requests.get(f"{served.url}/v1/openapi.json", timeout=10).json()
    sid = post(served, "generate", generate_inputs(served)).json()["secure_request_id"]
    wait_until(lambda: served.ledger.batch_counts("upscale", sid) == {"delivered": 1}, what="delivery")
    operation = document["paths"]["/v1/steps/retrieve"]["post"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    validator = OAS31Validator({**schema, "components": document["components"]})
    for query in ("", "?format=json", "?format=records", "?format=n8n"):
        answer = post(served, "retrieve", {"secure_request_id": sid}, query=query)
        assert answer.status_code == 200
        validator.validate(answer.json())
    assert not validator.is_valid([1, 2])
    assert not validator.is_valid({"secure_request_id": 5})
    assert {"404", "409", "413", "500", "503"} <= set(operation["responses"])


def test_the_openapi_servers_are_configured_never_taken_from_request_headers(
    served: Served, sandbox: Sandbox, msgrelay_plugins: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Host and X-Forwarded-Proto, which anyone can send, do not become the advertised server: it is
    the relative ``/``, or the configured public URL."""
    forged = {"Host": "evil.example", "X-Forwarded-Proto": "https"}
    document = requests.get(f"{served.url}/v1/openapi.json", headers=forged, timeout=10).json()
    assert document["servers"] == [{"url": "/"}]
    assert "evil.example" not in orjson.dumps(document).decode()
    steps = served.app.steps_api
    assert steps is not None
    configured = StepsApi(steps.steps, steps.run, token=TOKEN, public_url="https://relay.example.com")
    assert configured.openapi(Request("GET", "/v1/openapi.json", {}, forged)).body["servers"] == [
        {"url": "https://relay.example.com"}
    ]
