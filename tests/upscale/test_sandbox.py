"""The Upscale emulator behaves as the contract describes the vendor."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import requests

from msgrelay import errors
from msgrelay.sandbox import Sandbox
from msgrelay.upscale import convert
from msgrelay.upscale.client import UpscaleClient
from msgrelay.upscale.models import GenerationRequest, LeadInput, MessageStep
from msgrelay.web.server import BackgroundServer

GENERATE = "/messages/request_message_generation"


def body(notify: str = "http://127.0.0.1:9/hook", **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "completion_notification_url": notify,
        "automation_tool_customer_id": "tenant-1",
        "automation_tool_campaign_id": "camp-1",
        "automation_tool_campaign_name": "Spring",
        "proposition_company_name": "Ledgerly",
        "proposition_company_url": "https://ledgerly.example.com",
        "hiring_location": "United Kingdom",
        "message_sequence": [
            {"step": 1, "messageType": "connection_request"},
            {"step": 2, "messageType": "hiring_activity"},
        ],
        "lead_data": [
            {
                "external_prospect_id": "a",
                "linkedin": "https://www.linkedin.com/in/a",
                "first_name": "Ann",
                "lead_company": "Acme",
            },
            {
                "external_prospect_id": "b",
                "linkedin": "https://www.linkedin.com/in/b",
                "first_name": "Bo",
                "lead_company": "Quiet Labs",
            },
        ],
    }
    base.update(changes)
    return base


def post(sandbox: Sandbox, payload: Any, key: str | None = None) -> requests.Response:
    headers = {"Api-Key": key or sandbox.upscale_api_key}
    return requests.post(sandbox.upscale_url + GENERATE, json=payload, headers=headers, timeout=5)


def retrieve(sandbox: Sandbox, request_id: str) -> requests.Response:
    return requests.get(
        sandbox.upscale_url + "/messages/retrieve_messages",
        params={"request_message_generation_secure_request_id": request_id},
        headers={"Api-Key": sandbox.upscale_api_key},
        timeout=5,
    )


class Clock:
    """A settable clock for the emulator."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "Unauthorized: Invalid API key"),
        ("wrong", "Unauthorized: Invalid API key"),
        ("old-key", "Unauthorized: API key has been revoked"),
    ],
)
def test_auth_failures_answer_401_with_the_documented_texts(key: str | None, message: str) -> None:
    """Missing, invalid and revoked keys get the vendor's 401 bodies."""
    with Sandbox() as sandbox:
        sandbox.upscale.revoked_keys = frozenset({"old-key"})
        headers = {} if key is None else {"Api-Key": key}
        answer = requests.get(sandbox.upscale_url + "/account/check_credits", headers=headers, timeout=5)
    assert answer.status_code == 401
    assert answer.json() == {"error": message}


def test_422_joins_every_problem_with_single_spaces(sandbox: Sandbox) -> None:
    """Several problems come back as one string, in the vendor's wording."""
    payload = body(automation_tool_customer_id="", proposition_company_url="ftp://x")
    payload["lead_data"][0]["first_name"] = ""
    answer = post(sandbox, payload)
    assert answer.status_code == 422
    assert answer.json()["error"] == (
        "automation_tool_customer_id is required but was missing or blank "
        "proposition_company_url must be a valid HTTP or HTTPS URL, got 'ftp://x' "
        "lead_data[0].first_name is required but was missing or blank"
    )


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"message_sequence": "connection_request"}, "message_sequence must be an array"),
        ({"lead_data": []}, "lead_data must contain at least one lead"),
        (
            {"message_sequence": [{"step": 1, "messageType": "breakup"}]},
            "message_sequence[0].messageType 'breakup' is not available yet",
        ),
        (
            {"message_sequence": [{"step": 1, "messageType": "share_material"}]},
            "material_link is required when message_sequence includes share_material",
        ),
    ],
)
def test_422_for_each_rule(sandbox: Sandbox, change: dict[str, Any], error: str) -> None:
    """Array shapes, empty leads, coming-soon types and conditional fields are refused."""
    answer = post(sandbox, body(**change))
    assert (answer.status_code, answer.json()) == (422, {"error": error})


def test_the_client_surfaces_a_vendor_422_with_its_paths(sandbox: Sandbox) -> None:
    """What only the server refuses (a coming-soon type) arrives as BadRequestError with paths."""
    request = GenerationRequest(
        completion_notification_url="http://127.0.0.1:9/hook",
        automation_tool_customer_id="t",
        automation_tool_campaign_id="c",
        automation_tool_campaign_name="n",
        proposition_company_name="p",
        proposition_company_url="https://p.example",
        message_sequence=[MessageStep(step=1, message_type="breakup")],
        lead_data=[
            LeadInput(
                external_prospect_id="1",
                linkedin="https://www.linkedin.com/in/x",
                first_name="X",
                lead_company="Y",
            )
        ],
    )
    with (
        UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url) as client,
        pytest.raises(errors.BadRequestError) as caught,
    ):
        client.request_generation(request)
    assert caught.value.status == 422
    assert caught.value.paths == ["message_sequence[0].messageType"]


def test_generation_progresses_202_then_200() -> None:
    """Retrieve is 202 with null messages while generating, then 200 with every message."""
    clock = Clock()
    with Sandbox(
        upscale_api_key="k", seconds_per_message=1.0, webhook_delivery=False, clock=clock
    ) as sandbox:
        emulator = sandbox.upscale
        answer = requests.post(
            sandbox.upscale_url + GENERATE, json=body(), headers={"Api-Key": "k"}, timeout=5
        )
        request_id = answer.json()["secure_request_id"]
        states = []
        for seconds in (0.5, 1.5, 4.0):
            clock.now = emulator.batches[request_id].started_at + seconds
            got = requests.get(
                sandbox.upscale_url + "/messages/retrieve_messages",
                params={"request_message_generation_secure_request_id": request_id},
                headers={"Api-Key": "k"},
                timeout=5,
            )
            meta = got.json()["metadata"]
            states.append(
                (
                    got.status_code,
                    meta["generation_status"],
                    meta["generated_message_count"],
                    meta["failed_messages_count"],
                )
            )
            leads = got.json()["campaign"]["leads_data"]
    assert states == [(202, "in_progress", 0, None), (202, "in_progress", 1, None), (200, "complete", 3, 1)]
    assert leads[0]["outreach_message"].startswith("Hi Ann")
    assert leads[1]["hiring_activity_message"] is None
    assert leads[1]["no_job_posts"] is True
    assert "no_job_posts" not in leads[0]


def test_failed_hiring_activity_is_not_charged(sandbox: Sandbox) -> None:
    """A lead whose company has no job posts: null message, counted as failed, no credit used."""
    request_id = post(sandbox, body()).json()["secure_request_id"]
    with UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url) as client:
        result = client.wait_for_completion(request_id, initial_interval=0.01)
        credits = client.check_credits()
    assert result.metadata.failed_messages_count == 1
    assert result.metadata.failed_messages_reason == "No hiring activity found for one or more prospects."
    assert credits.credits_used == 3  # 4 requested, 1 failed


def test_402_when_credits_cannot_cover_the_request() -> None:
    """The whole request is refused up front; nothing is generated or charged."""
    with Sandbox(credits=2) as sandbox:
        answer = post(sandbox, body())
        assert answer.status_code == 402
        assert answer.json()["error"].startswith("Not enough credits remaining")
        assert sandbox.upscale.batches == {}
        with UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url) as client:
            with pytest.raises(errors.InsufficientCreditsError):
                client.request_generation(convert.structure(body(), GenerationRequest))
            assert client.check_credits().credits_used == 0


def test_identical_requests_return_the_same_id(sandbox: Sandbox) -> None:
    """The vendor de-duplicates identical requests."""
    first = post(sandbox, body()).json()["secure_request_id"]
    second = post(sandbox, body()).json()["secure_request_id"]
    assert first == second
    assert len(sandbox.upscale.batches) == 1
    assert sandbox.upscale.generation_posts == 2


def test_a_lead_and_type_generated_before_is_not_charged_again(sandbox: Sandbox) -> None:
    """Same (external_prospect_id, messageType) in a new request: the old text, no new credit."""
    with UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url) as client:
        first = post(sandbox, body()).json()["secure_request_id"]
        client.wait_for_completion(first, initial_interval=0.01)
        used = client.check_credits().credits_used
        second = post(sandbox, body(automation_tool_campaign_id="camp-2")).json()["secure_request_id"]
        again = client.wait_for_completion(second, initial_interval=0.01)
        assert first != second
        assert client.check_credits().credits_used == used
        assert again.leads[0].message("connection_request") is not None


def test_retrieve_errors(sandbox: Sandbox) -> None:
    """A missing or malformed id is 422; an unknown one is 404."""
    missing = requests.get(
        sandbox.upscale_url + "/messages/retrieve_messages",
        headers={"Api-Key": sandbox.upscale_api_key},
        timeout=5,
    )
    assert missing.status_code == 422
    assert retrieve(sandbox, "nope").status_code == 422
    assert retrieve(sandbox, str(uuid.uuid4())).status_code == 404


def test_sequences_filter_on_all_four_dimensions_with_defaults(sandbox: Sandbox) -> None:
    """No filter lists all; one filter implies the defaults for the rest."""
    with UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url) as client:
        everything = client.get_sequences()
        short = client.get_sequences(sequence_length="short")
        saturated = client.get_sequences(sequence_length="long", saturated_markets=True)
    assert len(everything) == 54
    assert [
        (t.sequence_length, t.campaign_objective, t.cadence_profile, t.saturated_markets) for t in short
    ] == [("short", "meeting", "normal", False)]
    assert saturated[0].steps[0].message_type == "connection_request"
    assert len(saturated[0].steps) == 5


@pytest.fixture
def receiver() -> Iterator[tuple[BackgroundServer, list[dict[str, Any]], list[int]]]:
    """A loopback webhook receiver whose answers are scripted (default 204)."""
    received: list[dict[str, Any]] = []
    answers: list[int] = []
    lock = threading.Lock()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        payload = orjson.loads(environ["wsgi.input"].read(size))
        with lock:
            received.append({"query": environ.get("QUERY_STRING"), "body": payload})
            status = answers.pop(0) if answers else 204
        start_response(f"{status} X", [("Location", "http://127.0.0.1:9/")] if status == 302 else [])
        return [b""]

    with BackgroundServer(app) as server:
        yield server, received, answers


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_the_completion_webhook_is_posted_with_the_notify_urls_query(
    sandbox: Sandbox, receiver: tuple[BackgroundServer, list[dict[str, Any]], list[int]]
) -> None:
    """When a batch completes, its webhook arrives at completion_notification_url, token and all."""
    server, received, _ = receiver
    request_id = post(sandbox, body(notify=f"{server.url}/webhooks/upscale?token=s3cret")).json()[
        "secure_request_id"
    ]
    wait_for(lambda: len(received) == 1)
    event = received[0]
    assert event["query"] == "token=s3cret"
    assert event["body"]["secure_request_id"] == request_id
    assert event["body"]["status"] == "complete"
    assert (event["body"]["requested_messages_count"], event["body"]["generated_messages_count"]) == (4, 3)
    assert convert.structure_completion_event(event["body"]).secure_request_id == request_id


@pytest.mark.parametrize("failure", [500, 302])
def test_a_failed_webhook_is_retried_and_3xx_counts_as_failure(
    sandbox: Sandbox, receiver: tuple[BackgroundServer, list[dict[str, Any]], list[int]], failure: int
) -> None:
    """A non-2xx answer (a redirect included) is a failure: the emulator tries again with backoff."""
    server, received, answers = receiver
    answers.extend([failure, failure])
    sandbox.upscale.webhooks.backoff = 0.01
    post(sandbox, body(notify=f"{server.url}/hook"))
    wait_for(lambda: len(received) == 3)
    wait_for(lambda: len(sandbox.upscale.webhook_log) == 3)
    assert [a.status for a in sandbox.upscale.webhook_log] == [failure, failure, 204]
    assert [a.attempt for a in sandbox.upscale.webhook_log] == [1, 2, 3]


def test_redelivery_sends_the_same_event_again(
    sandbox: Sandbox, receiver: tuple[BackgroundServer, list[dict[str, Any]], list[int]]
) -> None:
    """The vendor may deliver one event more than once; the emulator can do so on demand."""
    server, received, _ = receiver
    request_id = post(sandbox, body(notify=f"{server.url}/hook")).json()["secure_request_id"]
    wait_for(lambda: len(received) == 1)
    sandbox.upscale.redeliver_webhook(request_id)
    sandbox.upscale.redeliver_webhook(request_id)
    wait_for(lambda: len(received) == 3)
    assert {r["body"]["secure_request_id"] for r in received} == {request_id}


def test_webhooks_to_non_loopback_hosts_are_refused_by_default(sandbox: Sandbox) -> None:
    """The emulator never calls out of the machine unless told to; the refusal is logged."""
    post(sandbox, body(notify="https://hooks.example.net/upscale"))
    wait_for(lambda: len(sandbox.upscale.webhook_log) == 1)
    [attempt] = sandbox.upscale.webhook_log
    assert attempt.status is None
    assert attempt.error == "refused: not a loopback host"
