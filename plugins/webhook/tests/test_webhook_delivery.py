"""Delivering to a real receiver on loopback: headers, retries, status mapping, redirects, secrecy."""

from __future__ import annotations

import base64
import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterable
from wsgiref.types import StartResponse, WSGIEnvironment

import pytest
from msgrelay_webhook import (
    EndpointGoneError,
    NotSentError,
    ReceiverTimeoutError,
    RedirectRefusedError,
    WebhookConfig,
    WebhookDestination,
    WebhookReceiver,
    build_payload,
    encode_body,
    is_retryable,
)
from msgrelay_webhook.receiver import Reply

from msgrelay import Delivery
from msgrelay.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ClientError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
)
from msgrelay.errors import TimeoutError as RelayTimeoutError
from msgrelay.transport import Timeout, server_wait
from msgrelay.web import BackgroundServer

HEADER_VALUE = "key-0f3e9d8c7b6a"


def test_delivers_one_signed_lead(
    make_destination: Callable[..., WebhookDestination],
    make_delivery: Callable[..., Delivery],
    receiver: WebhookReceiver,
    hook_path: str,
    now: float,
    secret_text: str,
) -> None:
    """One POST per lead: the exact body, the Standard Webhooks headers, the static header; it verifies."""
    delivery = make_delivery()
    make_destination(headers=(("X-Api-Key", HEADER_VALUE),)).deliver(delivery)
    [request] = receiver.requests
    headers = request.headers
    assert (request.method, request.path) == ("POST", hook_path)
    assert request.body == encode_body(build_payload(delivery, now=now))
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == delivery.key
    assert headers["webhook-timestamp"] == "1768473000"
    assert headers["x-api-key"] == HEADER_VALUE
    assert headers["user-agent"].startswith("msgrelay/")
    assert "msgrelay-webhook/" in headers["user-agent"]
    key = base64.b64decode(secret_text.removeprefix("whsec_"))
    content = f"{delivery.key}.1768473000.".encode() + request.body
    assert (
        headers["webhook-signature"] == "v1," + base64.b64encode(hmac.digest(key, content, "sha256")).decode()
    )
    assert receiver.events == [json.loads(request.body)]


def test_without_a_secret_nothing_is_signed(make_delivery: Callable[..., Delivery], now: float) -> None:
    """With no signing secret configured there is no ``webhook-signature`` header; id and timestamp remain."""
    receiver = WebhookReceiver()
    with BackgroundServer(receiver) as server:
        config = WebhookConfig(url=server.url + "/hook", allow_insecure=True)
        with WebhookDestination(config, clock=lambda: now) as destination:
            destination.deliver(make_delivery())
    [request] = receiver.requests
    assert "webhook-signature" not in request.headers
    assert request.headers["webhook-id"].startswith("d_")
    assert len(receiver.events) == 1


def test_a_retry_sends_the_same_id_with_its_own_timestamp(
    make_destination: Callable[..., WebhookDestination],
    make_delivery: Callable[..., Delivery],
    receiver: WebhookReceiver,
    now: float,
) -> None:
    """``webhook-id`` is the delivery key on every attempt; ``webhook-timestamp`` is each attempt's time."""
    times = iter([now, now + 30.0])
    destination = make_destination(clock=lambda: next(times))
    receiver.script(500)
    with pytest.raises(ServerError):
        destination.deliver(make_delivery())
    destination.deliver(make_delivery(attempt=2))
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == make_delivery().key
    assert (first.headers["webhook-timestamp"], second.headers["webhook-timestamp"]) == (
        "1768473000",
        "1768473030",
    )


def test_500_raises_then_200_delivers_once(
    make_destination: Callable[..., WebhookDestination],
    make_delivery: Callable[..., Delivery],
    receiver: WebhookReceiver,
) -> None:
    """A 500 raises a retryable error; the retry's 200 delivers; a repeat after that is dropped by the
    receiver's dedupe on ``webhook-id``, so the lead is processed exactly once."""
    destination = make_destination()
    delivery = make_delivery()
    receiver.script(500)
    with pytest.raises(ServerError) as caught:
        destination.deliver(delivery)
    assert is_retryable(caught.value)
    assert receiver.events == []
    destination.deliver(delivery)
    destination.deliver(delivery)
    assert receiver.ids == [delivery.key] * 3
    assert len(receiver.events) == 1
    assert receiver.events[0]["data"]["delivery_key"] == delivery.key


@pytest.mark.parametrize(
    ("reply", "error", "retryable"),
    [
        (Reply(429, {"Retry-After": "7"}), RateLimitedError, True),
        (Reply(408), ReceiverTimeoutError, True),
        (Reply(502), ServerError, True),
        (Reply(503), ServerError, True),
        (Reply(400, {"Content-Type": "application/json"}, b'{"error": "bad lead"}'), BadRequestError, False),
        (Reply(401), AuthenticationError, False),
        (Reply(403), PermissionDeniedError, False),
        (Reply(404), NotFoundError, False),
        (Reply(410), EndpointGoneError, False),
        (Reply(413), ClientError, False),
    ],
    ids=lambda value: str(value.status) if isinstance(value, Reply) else None,
)
def test_status_mapping(
    make_destination: Callable[..., WebhookDestination],
    make_delivery: Callable[..., Delivery],
    receiver: WebhookReceiver,
    reply: Reply,
    error: type[ApiError],
    retryable: bool,
) -> None:
    """429, 408 and 5xx raise retryable errors; other 4xx raise msgrelay's non-retryable client errors."""
    receiver.script(reply)
    with pytest.raises(error) as caught:
        make_destination().deliver(make_delivery())
    assert caught.value.status == reply.status
    assert is_retryable(caught.value) is retryable
    if isinstance(caught.value, RateLimitedError):
        assert caught.value.retry_after == 7.0
    if reply.body:
        assert "bad lead" in str(caught.value)


def test_an_n8n_test_url_that_is_not_listening_is_explained(
    make_destination: Callable[..., WebhookDestination],
    make_delivery: Callable[..., Delivery],
    receiver: WebhookReceiver,
) -> None:
    """n8n's 404 for a test URL nobody listens on comes with a hint to use the production URL."""
    body = b'{"code": 404, "message": "The requested webhook \\"POST abc\\" is not registered."}'
    receiver.script(Reply(404, {"Content-Type": "application/json"}, body))
    with pytest.raises(NotFoundError, match="production URL"):
        make_destination().deliver(make_delivery())


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_refused_not_followed(
    make_destination: Callable[..., WebhookDestination],
    make_delivery: Callable[..., Delivery],
    receiver: WebhookReceiver,
    hook_url: str,
    hook_path: str,
    status: int,
) -> None:
    """A 3xx is a failure: the request is not re-sent to the Location, and the error says to fix the URL."""
    receiver.script(Reply(status, {"Location": hook_url + "moved/"}))
    with pytest.raises(RedirectRefusedError, match="not followed") as caught:
        make_destination().deliver(make_delivery())
    assert len(receiver.requests) == 1
    assert "MSGRELAY_WEBHOOK_URL" in str(caught.value)
    assert hook_path not in str(caught.value)
    assert not is_retryable(caught.value)


def _echo(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """A receiver that fails and echoes everything it was sent: path, query, headers, body."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    echoed = {k: str(v) for k, v in environ.items() if k.startswith("HTTP_")}
    echoed["path"] = environ["PATH_INFO"] + "?" + environ.get("QUERY_STRING", "")
    text = json.dumps(echoed) + environ["wsgi.input"].read(length).decode()
    start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
    return [text.encode()]


def test_secrets_never_reach_an_exception_or_a_log(
    make_delivery: Callable[..., Delivery], secret_text: str, hook_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A receiver that echoes the request back: the error text and msgrelay's log lines show none of
    the signing secret, the static header's value, or the URL's path and query, and the error keeps
    no response (which would hold the request). (urllib3's own DEBUG lines do show the path.)"""
    caplog.set_level(logging.DEBUG)
    with BackgroundServer(_echo) as server:
        config = WebhookConfig.from_env(
            {
                "MSGRELAY_WEBHOOK_URL": f"{server.url}{hook_path}?token=tok-51a2b3",
                "MSGRELAY_WEBHOOK_SIGNING_SECRET": secret_text,
                "MSGRELAY_WEBHOOK_HEADERS": f"Authorization: Bearer {HEADER_VALUE}",
                "MSGRELAY_WEBHOOK_ALLOW_INSECURE": "1",
            }
        )
        with WebhookDestination(config) as destination, pytest.raises(ServerError) as caught:
            destination.deliver(make_delivery())
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("msgrelay")]
    assert any("-> 500" in line for line in ours)
    shown = " ".join([str(caught.value), repr(caught.value), caught.value.vendor_message, *ours])
    assert "REDACTED" in caught.value.vendor_message
    for secret in (secret_text.removeprefix("whsec_"), HEADER_VALUE, "secret-hook-path", "tok-51a2b3"):
        assert secret not in shown
    assert caught.value.response is None


def test_a_silent_receiver_times_out(make_delivery: Callable[..., Delivery]) -> None:
    """No answer within the read timeout raises a retryable timeout that says the request may have arrived."""
    release = threading.Event()

    def silent(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        release.wait(30)
        start_response("200 OK", [])
        return [b""]

    with BackgroundServer(silent) as server:
        config = WebhookConfig(
            url=server.url + "/hook", allow_insecure=True, timeout=Timeout(connect=5.0, read=0.2)
        )
        try:
            with WebhookDestination(config) as destination, pytest.raises(RelayTimeoutError) as caught:
                destination.deliver(make_delivery())
        finally:
            release.set()
    assert caught.value.may_have_reached_server
    assert is_retryable(caught.value)


def test_a_closed_port_is_a_retryable_transport_error(
    make_destination: Callable[..., WebhookDestination], make_delivery: Callable[..., Delivery]
) -> None:
    """Connection refused raises a retryable transport error that says nothing was sent."""
    with BackgroundServer(WebhookReceiver()) as gone:
        url = gone.url + "/hook"
    with pytest.raises(TransportError) as caught:
        make_destination(url=url).deliver(make_delivery())
    assert not caught.value.may_have_reached_server
    assert is_retryable(caught.value)


def test_an_oversized_body_is_refused_before_sending(
    make_destination: Callable[..., WebhookDestination],
    make_delivery: Callable[..., Delivery],
    receiver: WebhookReceiver,
) -> None:
    """A body over the limit raises a non-retryable validation error and nothing is sent."""
    with pytest.raises(ValidationError, match="over the limit"):
        make_destination(max_body_bytes=200).deliver(make_delivery())
    assert receiver.requests == []


def test_a_batch_stops_at_an_endpoint_failure(
    make_destination: Callable[..., WebhookDestination],
    make_delivery: Callable[..., Delivery],
    receiver: WebhookReceiver,
) -> None:
    """In `deliver_many`, one request at a time, a failure of the endpoint (5xx) leaves the rest unsent,
    failed with `NotSentError`; a failure of one payload (400) does not stop the others."""
    destination = make_destination(concurrency=1)
    deliveries = [make_delivery(p) for p in ("crm-1", "crm-2", "crm-3")]
    keys = [d.key for d in deliveries]
    receiver.script(503)
    failures = destination.deliver_many(deliveries)
    assert list(failures) == keys
    assert isinstance(failures[keys[0]], ServerError)
    assert all(isinstance(failures[k], NotSentError) and is_retryable(failures[k]) for k in keys[1:])
    assert len(receiver.requests) == 1
    receiver.script(400)
    failures = destination.deliver_many(deliveries)
    assert list(failures) == keys[:1]
    assert isinstance(failures[keys[0]], BadRequestError)
    assert [e["data"]["external_prospect_id"] for e in receiver.events] == ["crm-2", "crm-3"]


def test_a_row_not_sent_after_a_429_waits_as_long_as_the_endpoint_asked() -> None:
    """`NotSentError` carries its cause's Retry-After, so the relay does not hammer a limited endpoint."""
    limited = RateLimitedError(
        status=429, method="POST", url="https://hooks.example/x", vendor_message="slow"
    )
    limited.retry_after = 600.0
    not_sent = NotSentError(limited)
    assert not_sent.retry_after == 600.0
    assert server_wait(not_sent) == 600.0
    assert not_sent.retryable is True


def test_a_receivers_cookie_is_neither_kept_nor_sent(
    make_destination: Callable[..., WebhookDestination],
    make_delivery: Callable[..., Delivery],
    receiver: WebhookReceiver,
) -> None:
    """A webhook carries its credentials in its headers: a cookie set by one answer is not kept, and
    the next request carries no ``Cookie`` header (the session is shared by every sending thread)."""
    destination = make_destination()
    receiver.script(Reply(200, {"Set-Cookie": "session=abc123; Path=/"}))
    destination.deliver(make_delivery("crm-1"))
    destination.deliver(make_delivery("crm-2"))
    assert "cookie" not in receiver.requests[1].headers
    assert len(destination.session.cookies) == 0
