"""Status mapping, retries and secrecy, against a live loopback sandbox with scripted faults."""

from __future__ import annotations

import base64
import logging

import pytest
import requests

from msgrelay.collect import CollectClient, MessageChanges, NewInternalMessage
from msgrelay.collect.client import CollectAuth
from msgrelay.errors import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    RateLimitedError,
    ResponseDecodeError,
    ServerError,
)
from msgrelay.sandbox import Fault, Sandbox
from msgrelay.sandbox.collect import SEED_INTERNAL_MESSAGE_ID, SEED_REQUEST_ID
from tests.collect.conftest import SleepRecorder

MESSAGES = f"/requests/{SEED_REQUEST_ID}/messages"
ONE = f"{MESSAGES}/{SEED_INTERNAL_MESSAGE_ID}"


def test_get_is_retried_on_429_honouring_retry_after(
    sandbox: Sandbox, live: CollectClient, sleeps: SleepRecorder
) -> None:
    """A 429 with ``Retry-After: 2`` is waited out (2 s, recorded) and the GET sent again."""
    sandbox.inject(Fault("GET", MESSAGES, status=429, headers={"Retry-After": "2"}))
    assert len(live.list_messages(SEED_REQUEST_ID)) == 5
    assert sleeps.waits == [2.0]
    assert sandbox.count("GET", MESSAGES) == 2


def test_delete_is_retried_on_503(sandbox: Sandbox, live: CollectClient, sleeps: SleepRecorder) -> None:
    """DELETE is idempotent: a 503 (maintenance) is retried and the delete then succeeds."""
    sandbox.inject(Fault("DELETE", ONE, status=503, headers={"Retry-After": "1"}))
    assert live.delete_message(SEED_REQUEST_ID, SEED_INTERNAL_MESSAGE_ID) is True
    assert sleeps.waits == [1.0]
    assert sandbox.count("DELETE", ONE) == 2


def test_post_is_never_resent(sandbox: Sandbox, live: CollectClient, sleeps: SleepRecorder) -> None:
    """A create answered 503 raises ServerError after one attempt: no duplicate message."""
    sandbox.inject(Fault("POST", MESSAGES, status=503, headers={"Retry-After": "1"}))
    with pytest.raises(ServerError) as caught:
        live.create_message(SEED_REQUEST_ID, NewInternalMessage(title="Note"))
    assert caught.value.status == 503
    assert sandbox.count("POST", MESSAGES) == 1
    assert sleeps.waits == []


def test_patch_is_never_resent(sandbox: Sandbox, live: CollectClient, sleeps: SleepRecorder) -> None:
    """A PATCH answered 429 raises RateLimitedError carrying the server's wait."""
    sandbox.inject(Fault("PATCH", ONE, status=429, headers={"Retry-After": "7"}))
    with pytest.raises(RateLimitedError) as caught:
        live.update_message(SEED_REQUEST_ID, SEED_INTERNAL_MESSAGE_ID, MessageChanges(text=None))
    assert caught.value.retry_after == 7.0
    assert sandbox.count("PATCH", ONE) == 1
    assert sleeps.waits == []


def test_500_on_a_get_is_retried_within_the_bounded_attempts(
    sandbox: Sandbox, live: CollectClient, sleeps: SleepRecorder
) -> None:
    """The vendors say a 500 means "try again later": a GET is resent and then succeeds."""
    sandbox.inject(Fault("GET", ONE, status=500, body={"error": "We had a problem with our server."}))
    assert live.get_message(SEED_REQUEST_ID, SEED_INTERNAL_MESSAGE_ID) is not None
    assert sandbox.count("GET", ONE) == 2
    assert len(sleeps.waits) == 1


def test_a_500_that_persists_ends_in_server_error_after_four_attempts(
    sandbox: Sandbox, live: CollectClient, sleeps: SleepRecorder
) -> None:
    """A 500 on every attempt: four GETs, then ServerError with the vendor's words."""
    sandbox.inject(
        Fault("GET", ONE, status=500, body={"error": "We had a problem with our server."}, times=10)
    )
    with pytest.raises(ServerError, match="We had a problem with our server"):
        live.get_message(SEED_REQUEST_ID, SEED_INTERNAL_MESSAGE_ID)
    assert sandbox.count("GET", ONE) == 4
    assert len(sleeps.waits) == 3


def test_a_post_answered_500_is_never_resent(
    sandbox: Sandbox, live: CollectClient, sleeps: SleepRecorder
) -> None:
    """A create answered 500 may have been acted on: one attempt, ServerError, no duplicate message."""
    sandbox.inject(Fault("POST", MESSAGES, status=500))
    with pytest.raises(ServerError):
        live.create_message(SEED_REQUEST_ID, NewInternalMessage(title="Note"))
    assert sandbox.count("POST", MESSAGES) == 1
    assert sleeps.waits == []


def test_retries_stop_after_the_policy_s_attempts(
    sandbox: Sandbox, live: CollectClient, sleeps: SleepRecorder
) -> None:
    """A 503 that persists ends in ServerError after four attempts, with three backoff waits."""
    sandbox.inject(Fault("GET", ONE, status=503, times=10))
    with pytest.raises(ServerError):
        live.get_message(SEED_REQUEST_ID, SEED_INTERNAL_MESSAGE_ID)
    assert sandbox.count("GET", ONE) == 4
    assert len(sleeps.waits) == 3


def test_404_names_the_status(live: CollectClient) -> None:
    """An unknown message id is NotFoundError (404)."""
    with pytest.raises(NotFoundError, match="404"):
        live.get_message(SEED_REQUEST_ID, "msg_does_not_exist")


def test_a_body_breaking_the_contract_is_a_decode_error(sandbox: Sandbox, live: CollectClient) -> None:
    """A 200 whose message has no valid createdAt names the wire path and the call."""
    sandbox.inject(Fault("GET", MESSAGES, status=200, body=[{"id": "m", "requestId": "r", "createdAt": 5}]))
    with pytest.raises(ResponseDecodeError) as caught:
        live.list_messages(SEED_REQUEST_ID)
    assert caught.value.path == "[0].createdAt"
    assert caught.value.method == "GET"
    assert caught.value.url.endswith(MESSAGES)


def test_a_non_json_body_is_a_decode_error(sandbox: Sandbox, live: CollectClient) -> None:
    """A 200 with a body that is not the documented ``{"deleted": true}`` is refused."""
    sandbox.inject(Fault("DELETE", ONE, status=200, body={"ok": 1}))
    with pytest.raises(ResponseDecodeError, match="deleted"):
        live.delete_message(SEED_REQUEST_ID, SEED_INTERNAL_MESSAGE_ID)


def test_basic_auth_has_an_empty_user_and_the_key_as_password() -> None:
    """The header is ``Basic base64(":" + key)``, as the contract specifies."""
    prepared = CollectAuth("the-key-123")(requests.Request("GET", "http://127.0.0.1:9/").prepare())
    assert prepared.headers["Authorization"] == "Basic " + base64.b64encode(b":the-key-123").decode()


def test_the_key_never_shows(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    """Not in the client's or auth's repr, not in an error, not in a DEBUG log line."""
    key = "live-looking-key-0123456789abcdef"
    caplog.set_level(logging.DEBUG)
    with CollectClient(api_key=key, base_url=sandbox.collect_url) as client:
        with pytest.raises(AuthenticationError) as caught:
            client.list_messages(SEED_REQUEST_ID)
        seen = [repr(client), repr(client.transport), repr(client.transport.session.auth), str(caught.value)]
    seen += [record.getMessage() for record in caplog.records]
    assert caplog.records
    assert not [text for text in seen if key in text]


def test_key_and_base_url_come_from_the_environment(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``COLLECT_API_KEY`` / ``COLLECT_BASE_URL`` are used when no argument is given; arguments win."""
    monkeypatch.setenv("COLLECT_API_KEY", sandbox.collect_api_key)
    monkeypatch.setenv("COLLECT_BASE_URL", sandbox.collect_url)
    with CollectClient() as client:
        assert client.base_url == sandbox.collect_url
        assert len(client.list_messages(SEED_REQUEST_ID)) == 5
    with CollectClient(base_url="http://127.0.0.1:9/v1") as client:
        assert client.base_url == "http://127.0.0.1:9/v1"


def test_no_key_is_a_configuration_error_that_says_how_to_fix_it() -> None:
    """Without argument or environment the client refuses to start and names COLLECT_API_KEY."""
    with pytest.raises(ConfigurationError, match="COLLECT_API_KEY"):
        CollectClient()
    with pytest.raises(ConfigurationError, match="http"):
        CollectClient(api_key="k", base_url="ftp://example.invalid")
