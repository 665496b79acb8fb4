"""Low-code steps: JSON in, JSON out, strings accepted where Zapier sends strings."""

from __future__ import annotations

import io
import sys

import orjson
import pytest

from msgrelay.cli import main
from msgrelay.errors import ValidationError
from msgrelay.sandbox import Sandbox
from msgrelay.steps import run_step

LEADS = [
    {"external_prospect_id": "crm-1", "linkedin": "https://www.linkedin.com/in/ada/", "first_name": "Ada",
     "lead_company": "Example Labs"},
    {"external_prospect_id": "crm-2", "linkedin": "https://www.linkedin.com/in/grace/", "first_name": "Grace",
     "lead_company": "Compiler Works"},
]  # fmt: skip


@pytest.fixture
def inputs(sandbox: Sandbox) -> dict[str, str]:
    """Everything as strings, the way Code by Zapier passes input_data."""
    return {
        "leads": orjson.dumps(LEADS).decode(),
        "sequence": "connection_request,first_follow_up",
        "customer_id": "c1",
        "campaign_id": "k1",
        "campaign_name": "Spring",
        "company_name": "Acme",
        "company_url": "https://acme.example.com",
        "notify_url": "https://relay.example.com/webhooks/upscale",
        "api_key": sandbox.upscale_api_key,
        "base_url": sandbox.upscale_url,
    }


def test_generate_twice_then_retrieve(sandbox: Sandbox, inputs: dict[str, str]) -> None:
    """generate sends once however often it runs; retrieve returns JSON-ready leads."""
    first = run_step("generate", inputs)
    assert run_step("generate", inputs) == first
    assert sandbox.upscale.generation_posts == 1
    sid = first["secure_request_id"]
    creds = {"api_key": sandbox.upscale_api_key, "base_url": sandbox.upscale_url}
    retrieved = run_step("retrieve", {"secure_request_id": sid, **creds})
    assert [lead["external_prospect_id"] for lead in retrieved["leads"]] == ["crm-1", "crm-2"]
    assert set(retrieved["leads"][0]["messages"]) == {"connection_request", "first_follow_up"}
    relayed = run_step("relay", {"secure_request_id": sid, "destinations": "store", **creds})
    assert (relayed["delivered"], relayed["deliveries"]) == (2, {"delivered": 2})
    assert run_step("status")["deliveries"] == {"delivered": 2}
    assert orjson.loads(orjson.dumps(relayed)) == relayed


def test_unknown_and_missing_inputs_are_one_error() -> None:
    """A typo and a missing input are both named before anything runs."""
    with pytest.raises(ValidationError) as caught:
        run_step("retrieve", {"secure_request": "x"})
    assert caught.value.paths == ["secure_request", "secure_request_id"]
    with pytest.raises(ValidationError, match="unknown step 'nope'"):
        run_step("nope", {})


def test_step_command_reads_stdin_and_prints_json(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``msgrelay step collect-messages`` with JSON on stdin; bad stdin exits 2."""
    monkeypatch.setenv("COLLECT_API_KEY", sandbox.collect_api_key)
    monkeypatch.setenv("COLLECT_BASE_URL", sandbox.collect_url)
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"request_id": "NxAHPWu9hRzcyD24m", "channel": "sms"}'))
    assert main(["step", "collect-messages"]) == 0
    result = orjson.loads(capsys.readouterr().out)
    assert [m["channel"] for m in result["messages"]] == ["sms"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("[1, 2]"))
    assert main(["step", "status"]) == 2
    assert "JSON object" in capsys.readouterr().err


def test_step_list_schema_and_formats(
    sandbox: Sandbox,
    inputs: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--list names every step, --schema prints input and output schemas, --format n8n wraps records."""
    assert main(["step", "--list"]) == 0
    names = [s["name"] for s in orjson.loads(capsys.readouterr().out)]
    assert {"generate", "retrieve", "wait", "relay", "status", "credits", "collect-list", "collect-create",
            "collect-update", "collect-delete"} <= set(names)  # fmt: skip
    assert main(["step", "relay", "--schema"]) == 0
    schema = orjson.loads(capsys.readouterr().out)
    assert schema["$defs"]["RelayInput"]["required"] == ["secure_request_id"]
    assert "deliveries" in schema["$defs"]["RelayOutput"]["required"]
    sid = run_step("generate", inputs)["secure_request_id"]
    monkeypatch.setattr(sys, "stdin", io.StringIO(orjson.dumps({"secure_request_id": sid, **{
        k: inputs[k] for k in ("api_key", "base_url")}}).decode()))  # fmt: skip
    assert main(["step", "wait", "--format", "n8n"]) == 0
    items = orjson.loads(capsys.readouterr().out)
    assert [i["json"]["external_prospect_id"] for i in items] == ["crm-1", "crm-2"]
    assert all(i["json"]["secure_request_id"] == sid for i in items)
    assert main(["step"]) == 2


def test_collect_steps_create_update_delete(sandbox: Sandbox) -> None:
    """The Collect steps take the API's JSON shape, as objects or as strings (Zapier)."""
    creds = {"api_key": sandbox.collect_api_key, "base_url": sandbox.collect_url}
    rid = "NxAHPWu9hRzcyD24m"
    created = run_step(
        "collect-create", {"request_id": rid, "message": '{"title": "Note", "text": "hi"}', **creds}
    )
    mid = created["message"]["id"]
    updated = run_step(
        "collect-update", {"request_id": rid, "message_id": mid, "changes": {"text": "bye"}, **creds}
    )
    assert updated["message"]["text"] == "bye"
    assert run_step("collect-delete", {"request_id": rid, "message_id": mid, **creds})["deleted"] is True
    with pytest.raises(ValidationError) as caught:
        run_step(
            "collect-create", {"request_id": rid, "message": {"channel": "sms", "colour": "red"}, **creds}
        )
    assert "colour" in caught.value.paths
    credits = run_step("credits", {"api_key": sandbox.upscale_api_key, "base_url": sandbox.upscale_url})
    assert credits["remaining_credits"] == credits["message_allowance"] - credits["credits_used"]
