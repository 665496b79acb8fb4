"""UpscaleClient through cassettes recorded from the sandbox (re-recordable against the live API).

Replay: ``pytest tests/upscale/test_client.py`` (record mode none, no network).
Re-record from the sandbox: ``pytest --record-mode=rewrite tests/upscale/test_client.py``; with
``UPSCALE_API_KEY`` set, the same command records against the live API.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from msgrelay import errors
from msgrelay.transport.retry import NO_RETRIES
from msgrelay.upscale.client import UpscaleClient
from msgrelay.upscale.models import GenerationRequest, LeadInput, MessageStep, Progress
from msgrelay.web.server import BackgroundServer
from tests.conftest import Target

NOTIFY = "https://hooks.example.net/upscale?token=not-a-real-token-123456"


def sleeper(target: Target) -> Callable[[float], None]:
    """Real waits while recording; none on replay (the cassette already holds the answers in order)."""
    return time.sleep if target.recording else (lambda seconds: None)


def client_for(target: Target) -> UpscaleClient:
    return UpscaleClient(target.api_key, target.base_url, sleep=sleeper(target))


def request(campaign: str = "cassette-campaign") -> GenerationRequest:
    return GenerationRequest(
        completion_notification_url=NOTIFY,
        automation_tool_customer_id="cassette-customer",
        automation_tool_campaign_id=campaign,
        automation_tool_campaign_name="Cassette campaign",
        proposition_company_name="Ledgerly",
        proposition_company_url="https://ledgerly.example.com",
        hiring_location="United Kingdom",
        message_sequence=[
            MessageStep(step=1, message_type="connection_request"),
            MessageStep(step=2, message_type="hiring_activity"),
        ],
        lead_data=[
            LeadInput(
                external_prospect_id="cas-1",
                linkedin="https://www.linkedin.com/in/cas-1",
                first_name="Cas",
                lead_company="Acme",
            ),
            LeadInput(
                external_prospect_id="cas-2",
                linkedin="https://www.linkedin.com/in/cas-2",
                first_name="Sette",
                lead_company="Quiet Labs",
            ),
        ],
    )


@pytest.mark.vcr
def test_generate_then_wait_until_complete(upscale_target: Target) -> None:
    """A batch is submitted, seen partial (202), then complete (200) with a failed hiring message."""
    seen: list[Progress] = []
    with client_for(upscale_target) as client:
        ticket = client.request_generation(request())
        result = client.wait_for_completion(
            ticket.secure_request_id, on_progress=seen.append, initial_interval=0.05
        )
    assert result.is_complete
    assert result.http_status == 200
    assert seen[0].complete is False
    assert seen[-1].complete is True
    assert result.secure_request_id == ticket.secure_request_id
    by_id = {lead.external_prospect_id: lead for lead in result.leads}
    assert by_id["cas-1"].message("connection_request")
    assert by_id["cas-1"].message("hiring_activity")
    assert by_id["cas-2"].message("hiring_activity") is None
    assert by_id["cas-2"].no_job_posts is True


@pytest.mark.vcr
def test_retrieve_returns_a_partial_result_not_an_error(upscale_target: Target) -> None:
    """A retrieve right after submitting is a 202 partial result."""
    with client_for(upscale_target) as client:
        ticket = client.request_generation(request("partial-campaign"))
        partial = client.retrieve_messages(ticket.secure_request_id)
    assert partial.http_status == 202
    assert not partial.is_complete
    assert partial.metadata.failed_messages_count is None


@pytest.mark.vcr
def test_check_credits(upscale_target: Target) -> None:
    """Allowance, used and remaining credits decode."""
    with client_for(upscale_target) as client:
        credits = client.check_credits()
    assert credits.remaining_credits == credits.message_allowance - credits.credits_used


@pytest.mark.vcr
def test_get_sequences_with_a_filter(upscale_target: Target) -> None:
    """A filtered sequence list decodes into templates with typed steps."""
    with client_for(upscale_target) as client:
        templates = client.get_sequences(sequence_length="short")
    assert templates
    assert all(step.message_type for step in templates[0].steps)


@pytest.mark.vcr
def test_a_wrong_key_raises_authentication_error(upscale_target: Target) -> None:
    """401 maps to AuthenticationError with the vendor's message."""
    with (
        UpscaleClient("wrong-key-000000000000", upscale_target.base_url) as client,
        pytest.raises(errors.AuthenticationError, match="Invalid API key"),
    ):
        client.check_credits()


@pytest.mark.vcr
def test_an_unknown_request_id_raises_not_found(upscale_target: Target) -> None:
    """An id the vendor does not know is a NotFoundError."""
    with client_for(upscale_target) as client, pytest.raises(errors.NotFoundError):
        client.retrieve_messages("00000000-0000-4000-8000-000000000000")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"  \n",
        b"[" * 3000 + b"]" * 3000,
        b'{"metadata": {"requested_message_count": ' + b"9" * 40 + b"}}",
    ],
    ids=["empty", "blank", "nested-3000", "int-past-64-bits"],
)
def test_the_client_turns_any_2xx_body_into_a_msgrelay_error(body: bytes) -> None:
    """Empty, blank, 3,000-deep and huge-integer bodies: `ResponseDecodeError`, never a raw exception."""

    def app(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    with BackgroundServer(app) as server, UpscaleClient("k", server.url, retry=NO_RETRIES) as client:
        with pytest.raises(errors.ResponseDecodeError):
            client.retrieve_messages("550e8400-e29b-41d4-a716-446655440000")
        with pytest.raises(errors.ResponseDecodeError):
            client.check_credits()
