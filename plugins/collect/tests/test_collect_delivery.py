"""Writing into the sandbox's Collect on loopback: one note per lead, retries that never duplicate,
errors that say what to fix, scheduled email and SMS, and the key kept out of every text."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from msgrelay_collect import (
    CollectDestination,
    CollectSettings,
    CredentialsRefusedError,
    NotSentError,
    is_retryable,
)

from msgrelay import CollectClient, Delivery
from msgrelay.collect import EmailMessage, InternalMessage, Message
from msgrelay.errors import NotFoundError, RateLimitedError, ServerError, TimeoutError, ValidationError
from msgrelay.sandbox import COLLECT_PREFIX, SEED_REQUEST_ID, Fault, Sandbox
from msgrelay.transport import Timeout
from msgrelay.web import BackgroundServer

MESSAGES_PATH = f"/requests/{SEED_REQUEST_ID}/messages"


def _ours(sandbox: Sandbox, request_id: str = SEED_REQUEST_ID) -> list[Message]:
    """The messages of a request that carry a msgrelay marker, oldest first."""
    with CollectClient(sandbox.collect_api_key, sandbox.collect_url, trust_env=False) as client:
        found = client.list_messages(request_id)
    return [
        m for m in reversed(found) if "msgrelay:" in str(getattr(m, "text", "") or getattr(m, "body", ""))
    ]


def _wait_for(condition: Callable[[], bool], *, deadline: float = 30.0) -> None:
    """Poll ``condition`` until it holds (a condition with a deadline, not a sleep as synchronisation)."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, "condition not met before the deadline"
        time.sleep(0.01)


def test_internal_writes_one_note_per_lead(
    make_destination: Callable[..., CollectDestination],
    make_delivery: Callable[..., Delivery],
    sandbox: Sandbox,
) -> None:
    """Three leads → three internal notes in the request, one GET for the batch and one POST each."""
    deliveries = [make_delivery(f"crm-{i}") for i in range(3)]
    assert make_destination().deliver_many(deliveries) == {}
    assert (sandbox.count("GET", MESSAGES_PATH), sandbox.count("POST", MESSAGES_PATH)) == (1, 3)
    notes = _ours(sandbox)
    assert [type(n) for n in notes] == [InternalMessage] * 3
    assert [n.text.splitlines()[-1] for n in notes if isinstance(n, InternalMessage) and n.text] == [
        f"msgrelay:{d.key}" for d in deliveries
    ]


def test_a_redelivery_creates_nothing(
    make_destination: Callable[..., CollectDestination],
    make_delivery: Callable[..., Delivery],
    sandbox: Sandbox,
) -> None:
    """Delivering the same key again (a crash after Collect stored it) finds the marker: no new POST."""
    destination = make_destination()
    destination.deliver(make_delivery())
    destination.deliver(make_delivery(attempt=2))
    assert len(_ours(sandbox)) == 1
    assert sandbox.count("POST", MESSAGES_PATH) == 1


def test_500_then_success_writes_each_lead_once(
    make_destination: Callable[..., CollectDestination],
    make_delivery: Callable[..., Delivery],
    sandbox: Sandbox,
) -> None:
    """A 500 on the first POST fails that lead (retryable) and stops the batch; the retry writes each
    lead once."""
    destination = make_destination()
    deliveries = [make_delivery("crm-1"), make_delivery("crm-2")]
    sandbox.inject(Fault("POST", MESSAGES_PATH, status=500, body={"error": "Internal Server Error"}))
    failures = destination.deliver_many(deliveries)
    assert isinstance(failures[deliveries[0].key], ServerError)
    assert isinstance(failures[deliveries[1].key], NotSentError)
    assert all(is_retryable(f) for f in failures.values())
    assert (
        destination.deliver_many([make_delivery("crm-1", attempt=2), make_delivery("crm-2", attempt=2)]) == {}
    )
    assert [n.text.splitlines()[-1] for n in _ours(sandbox) if isinstance(n, InternalMessage) and n.text] == [
        f"msgrelay:{d.key}" for d in deliveries
    ]


def test_a_post_that_timed_out_after_collect_stored_it_is_not_repeated(
    make_destination: Callable[..., CollectDestination],
    make_delivery: Callable[..., Delivery],
    sandbox: Sandbox,
) -> None:
    """The sandbox stores the note, then holds its answer past the read timeout: the retry lists the
    request, finds the marker and creates nothing."""
    destination = make_destination(timeout=Timeout(connect=5.0, read=0.2))
    sandbox.inject(Fault("POST", MESSAGES_PATH, delay=3.0))
    with pytest.raises(TimeoutError) as caught:
        destination.deliver(make_delivery())
    assert caught.value.may_have_reached_server
    _wait_for(lambda: len(_ours(sandbox)) == 1)
    destination.deliver(make_delivery(attempt=2))
    assert len(_ours(sandbox)) == 1
    assert sandbox.count("GET", MESSAGES_PATH) >= 2


def test_a_post_lost_behind_a_gateway_is_not_repeated(
    gateway: BackgroundServer, make_delivery: Callable[..., Delivery], sandbox: Sandbox
) -> None:
    """Collect stored the note but the answer was a 504: the retry finds the marker, nothing doubles."""
    settings = CollectSettings(
        api_key=sandbox.collect_api_key, base_url=gateway.url + COLLECT_PREFIX, request_id=SEED_REQUEST_ID
    )
    with CollectDestination(settings, trust_env=False) as destination:
        with pytest.raises(ServerError):
            destination.deliver(make_delivery())
        destination.deliver(make_delivery(attempt=2))
    assert len(_ours(sandbox)) == 1


def test_a_refused_key_is_final_and_names_the_setting(
    make_destination: Callable[..., CollectDestination],
    make_delivery: Callable[..., Delivery],
    sandbox: Sandbox,
) -> None:
    """401: one line naming the plugin and ``COLLECT_API_KEY``, not retryable, the key nowhere, the
    rest of the batch not tried."""
    wrong = "wrong-collect-key-9a8b7c6d5e"
    destination = make_destination(api_key=wrong)
    deliveries = [make_delivery("crm-1"), make_delivery("crm-2", collect_request_id="OtherRequest00001")]
    failures = destination.deliver_many(deliveries)
    error = failures[deliveries[0].key]
    assert isinstance(error, CredentialsRefusedError)
    assert str(error).startswith("msgrelay-collect: Collect refused the API key (401 from GET ")
    assert "set COLLECT_API_KEY to the API key" in str(error)
    assert "\n" not in str(error)
    assert not is_retryable(error)
    assert isinstance(failures[deliveries[1].key], NotSentError)
    assert not is_retryable(failures[deliveries[1].key])
    assert all(wrong not in repr(f) and wrong not in str(f) for f in failures.values())
    assert sandbox.count("GET", "/messages") == 1


def test_an_unknown_request_names_its_origin(
    make_destination: Callable[..., CollectDestination], make_delivery: Callable[..., Delivery]
) -> None:
    """404 on the lead's own request: final, naming the id and that it came from the lead's column;
    another lead of the batch is still written."""
    destination = make_destination()
    lost = make_delivery("crm-1", collect_request_id="NoSuchRequest0001")
    fine = make_delivery("crm-2")
    failures = destination.deliver_many([lost, fine])
    assert set(failures) == {lost.key}
    assert isinstance(failures[lost.key], NotFoundError)
    assert "Collect request NoSuchRequest0001 (from the lead's collect_request_id) does not exist" in str(
        failures[lost.key]
    )
    assert not is_retryable(failures[lost.key])


def test_429_carries_retry_after_to_the_relay(
    make_destination: Callable[..., CollectDestination],
    make_delivery: Callable[..., Delivery],
    sandbox: Sandbox,
) -> None:
    """A 429 on a POST is not resent in the call; its ``Retry-After`` travels with the failure."""
    sandbox.inject(Fault("POST", MESSAGES_PATH, status=429, headers={"Retry-After": "7"}))
    deliveries = [make_delivery("crm-1"), make_delivery("crm-2")]
    failures = make_destination().deliver_many(deliveries)
    first, second = (failures[d.key] for d in deliveries)
    assert isinstance(first, RateLimitedError)
    assert first.retry_after == 7.0
    assert isinstance(second, NotSentError)
    assert second.retry_after == 7.0
    assert sandbox.count("POST", MESSAGES_PATH) == 1


def test_email_schedules_one_message_per_text(
    make_destination: Callable[..., CollectDestination],
    make_delivery: Callable[..., Delivery],
    sandbox: Sandbox,
) -> None:
    """Email: one pending email per non-null text, scheduled ``send_after`` from the clock."""
    make_destination(channel="email", send_after=600).deliver(make_delivery())
    emails = [m for m in _ours(sandbox) if isinstance(m, EmailMessage)]
    assert len(emails) == 2
    assert {m.status for m in emails} == {"pending"}
    assert {m.send_on.isoformat() if m.send_on else None for m in emails} == {"2026-01-15T10:40:00+00:00"}
    assert emails[0].body is not None
    assert emails[0].body.startswith("Hi Ada, saw your talk on typed relays.\n\nmsgrelay:m_")


def test_sms_one_text_written_then_the_rest(
    make_destination: Callable[..., CollectDestination],
    make_delivery: Callable[..., Delivery],
    sandbox: Sandbox,
) -> None:
    """SMS, a partial result: the first text is stored, the second POST fails; the retry posts only
    the second."""
    destination = make_destination(channel="sms")
    calls = {"n": 0}
    real = destination.client.create_message

    def second_fails(request_id: str, message: Any) -> Message:
        calls["n"] += 1
        if calls["n"] == 2:
            sandbox.inject(Fault("POST", MESSAGES_PATH, status=500))
        return real(request_id, message)

    destination.client.create_message = second_fails  # type: ignore[method-assign]
    with pytest.raises(ServerError):
        destination.deliver(make_delivery())
    assert len(_ours(sandbox)) == 1
    destination.deliver(make_delivery(attempt=2))
    assert len(_ours(sandbox)) == 2
    assert sandbox.count("POST", MESSAGES_PATH) == 3


def test_a_rule_broken_locally_sends_nothing(
    make_destination: Callable[..., CollectDestination],
    make_delivery: Callable[..., Delivery],
    sandbox: Sandbox,
) -> None:
    """A text too short for SMS fails its lead before any request; the others are written."""
    short = make_delivery("crm-short", messages={"connection_request": "Hi!"})
    fine = make_delivery("crm-fine")
    failures = make_destination(channel="sms").deliver_many([short, fine])
    assert isinstance(failures[short.key], ValidationError)
    assert set(failures) == {short.key}
    assert len(_ours(sandbox)) == 2


def test_the_key_is_in_no_log_line(
    make_destination: Callable[..., CollectDestination],
    make_delivery: Callable[..., Delivery],
    sandbox: Sandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At DEBUG, with a success and a refused key, no log record holds either key."""
    wrong = "wrong-collect-key-1234567890"
    with caplog.at_level(logging.DEBUG):
        make_destination().deliver(make_delivery())
        make_destination(api_key=wrong).deliver_many([make_delivery("crm-2")])
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "created internal message" in text
    assert sandbox.collect_api_key not in text
    assert wrong not in text
