"""The transport: retries, Retry-After, POST safety, timeouts, error mapping, redaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
import urllib3

from msgrelay import errors
from msgrelay.sandbox import Fault, Sandbox
from msgrelay.transport import Transport, map_request_exception, redact_url, user_agent
from msgrelay.transport.retry import NO_RETRIES, RetryPolicy, parse_retry_after
from msgrelay.upscale.client import UpscaleClient
from msgrelay.upscale.models import GenerationRequest, LeadInput, MessageStep
from msgrelay.web.server import BackgroundServer

CREDITS = "/account/check_credits"
GENERATE = "/messages/request_message_generation"


class SleepRecorder:
    """Records every wait; really sleeps only when told to."""

    def __init__(self, *, real: bool = False) -> None:
        self.waits: list[float] = []
        self.real = real

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.real:
            time.sleep(seconds)


def a_request(notify: str = "http://127.0.0.1:9/hook") -> GenerationRequest:
    return GenerationRequest(
        completion_notification_url=notify,
        automation_tool_customer_id="cust-1",
        automation_tool_campaign_id="camp-1",
        automation_tool_campaign_name="Campaign",
        proposition_company_name="Ledgerly",
        proposition_company_url="https://ledgerly.example.com",
        message_sequence=[MessageStep(step=1, message_type="connection_request")],
        lead_data=[
            LeadInput(
                external_prospect_id="lead-1",
                linkedin="https://www.linkedin.com/in/ada",
                first_name="Ada",
                lead_company="Analytical Engines",
            )
        ],
    )


def client_for(sandbox: Sandbox, **kwargs: object) -> UpscaleClient:
    return UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, **kwargs)  # type: ignore[arg-type]


def test_429_with_retry_after_is_waited_out_then_succeeds(sandbox: Sandbox) -> None:
    """A 429 carrying Retry-After: 2 makes the client wait 2 s (really) and then succeed."""
    sandbox.inject(
        Fault("GET", CREDITS, status=429, body={"error": "slow down"}, headers={"Retry-After": "2"})
    )
    sleep = SleepRecorder(real=True)
    with client_for(sandbox, sleep=sleep) as client:
        credits = client.check_credits()
    assert credits.remaining_credits == 10_000
    assert sleep.waits == [2.0]
    assert sandbox.count("GET", CREDITS) == 2


def test_retry_after_as_http_date_is_honoured(sandbox: Sandbox) -> None:
    """Retry-After given as an HTTP date is turned into seconds from now."""
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    sandbox.inject(Fault("GET", CREDITS, status=503, headers={"Retry-After": when}))
    sleep = SleepRecorder()
    with client_for(sandbox, sleep=sleep) as client:
        client.check_credits()
    assert len(sleep.waits) == 1
    assert 1.0 <= sleep.waits[0] <= 3.0


def test_retry_after_beyond_the_cap_raises_at_once_with_the_wait(sandbox: Sandbox) -> None:
    """A Retry-After longer than the policy's cap is not slept through: the caller gets it."""
    sandbox.inject(Fault("GET", CREDITS, status=429, headers={"Retry-After": "3600"}))
    sleep = SleepRecorder()
    with client_for(sandbox, sleep=sleep) as client, pytest.raises(errors.RateLimitedError) as caught:
        client.check_credits()
    assert caught.value.retry_after == 3600.0
    assert sleep.waits == []


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_get_is_retried_on_transient_statuses(sandbox: Sandbox, status: int) -> None:
    """GETs are retried with backoff on 429, 502, 503 and 504."""
    sandbox.inject(Fault("GET", CREDITS, status=status, times=2))
    sleep = SleepRecorder()
    with client_for(sandbox, sleep=sleep) as client:
        client.check_credits()
    assert len(sleep.waits) == 2
    assert sleep.waits[1] >= sleep.waits[0] / 2  # grows (with jitter), never zero
    assert all(w > 0 for w in sleep.waits)


def test_retries_end_with_the_mapped_error(sandbox: Sandbox) -> None:
    """When every attempt fails the last error is raised, after max_attempts requests."""
    sandbox.inject(Fault("GET", CREDITS, status=503, body={"error": "maintenance"}, times=10))
    with (
        client_for(sandbox, sleep=SleepRecorder(), retry=RetryPolicy(max_attempts=3)) as client,
        pytest.raises(errors.ServerError, match="maintenance"),
    ):
        client.check_credits()
    assert sandbox.count("GET", CREDITS) == 3


def test_post_is_not_retried_on_429(sandbox: Sandbox) -> None:
    """A generation POST answered 429 is not resent: it raises for the caller to decide."""
    sandbox.inject(Fault("POST", GENERATE, status=429, headers={"Retry-After": "1"}))
    sleep = SleepRecorder()
    with client_for(sandbox, sleep=sleep) as client, pytest.raises(errors.RateLimitedError):
        client.request_generation(a_request())
    assert sleep.waits == []
    assert sandbox.count("POST", GENERATE) == 1


def test_post_whose_read_times_out_is_not_resent(sandbox: Sandbox) -> None:
    """The server processed the POST but answered late: the client raises and never sends it again."""
    sandbox.inject(Fault("POST", GENERATE, delay=1.0))
    sleep = SleepRecorder()
    with (
        client_for(sandbox, sleep=sleep, timeout=(2.0, 0.2)) as client,
        pytest.raises(errors.TimeoutError) as caught,
    ):
        client.request_generation(a_request())
    assert caught.value.may_have_reached_server is True
    assert sleep.waits == []
    assert sandbox.upscale.generation_posts == 1
    assert len(sandbox.upscale.batches) == 1  # it was processed: a resend would have paid twice


def test_post_is_retried_when_the_connection_was_never_made() -> None:
    """A refused connection cannot have reached the server, so even a POST may be retried."""
    sleep = SleepRecorder()
    client = UpscaleClient(
        "key-123456", "http://127.0.0.1:9/api", sleep=sleep, retry=RetryPolicy(max_attempts=3)
    )
    with client, pytest.raises(errors.TransportError) as caught:
        client.request_generation(a_request())
    assert caught.value.may_have_reached_server is False
    assert len(sleep.waits) == 2


def test_read_timeout_is_applied_to_gets(sandbox: Sandbox) -> None:
    """The read timeout the caller sets is the one used."""
    sandbox.inject(Fault("GET", CREDITS, delay=1.0))
    with (
        client_for(sandbox, timeout=(2.0, 0.2), retry=NO_RETRIES) as client,
        pytest.raises(errors.TimeoutError, match="read timed out"),
    ):
        client.check_credits()


def test_default_timeout_is_always_set(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request carries a (connect, read, total) timeout even when the caller sets none."""
    seen: list[object] = []
    original = requests.Session.request

    def spy(self: requests.Session, method: str, url: str, **kwargs: object) -> requests.Response:
        seen.append(kwargs.get("timeout"))
        return original(self, method, url, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(requests.Session, "request", spy)
    with client_for(sandbox) as client:
        client.check_credits()
    assert [(t.connect_timeout, t.read_timeout, t.total) for t in seen] == [(5.0, 30.0, 65.0)]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (402, errors.InsufficientCreditsError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (409, errors.ConflictError),
        (418, errors.ClientError),
        (422, errors.BadRequestError),
        (500, errors.ServerError),
    ],
)
def test_statuses_map_to_the_error_tree(
    sandbox: Sandbox, status: int, expected: type[errors.ApiError]
) -> None:
    """Each status maps to its class, carrying status, method, URL and the vendor's message."""
    sandbox.inject(Fault("GET", CREDITS, status=status, body={"error": f"vendor says {status}"}))
    with client_for(sandbox, retry=NO_RETRIES) as client, pytest.raises(expected) as caught:
        client.check_credits()
    error = caught.value
    assert type(error) is expected
    assert (error.status, error.method, error.vendor_message) == (status, "GET", f"vendor says {status}")
    assert error.url.endswith(CREDITS)
    assert str(status) in str(error)


def test_non_json_error_body_is_kept_as_text(sandbox: Sandbox) -> None:
    """A plain-text error body becomes the vendor message."""
    sandbox.inject(Fault("GET", CREDITS, status=503, body="down for maintenance", times=5))
    with client_for(sandbox, retry=NO_RETRIES) as client, pytest.raises(errors.ServerError) as caught:
        client.check_credits()
    assert caught.value.vendor_message == '"down for maintenance"'


def test_bad_request_paths_are_extracted_from_the_vendor_text() -> None:
    """Upscale's joined 422 text yields the lead_data[i].field paths it names."""
    error = errors.BadRequestError(
        status=422,
        method="POST",
        url="https://x/messages/request_message_generation",
        vendor_message="automation_tool_customer_id is required but was missing or blank "
        "lead_data[0].first_name is required but was missing or blank "
        "lead_data[3].linkedin must be a valid URL",
    )
    assert error.paths == ["automation_tool_customer_id", "lead_data[0].first_name", "lead_data[3].linkedin"]


def test_every_requests_exception_maps_to_a_msgrelay_error() -> None:
    """No exception of requests escapes the mapping boundary unmapped."""

    def subclasses(cls: type) -> set[type]:
        found: set[type] = set(cls.__subclasses__())
        for sub in list(found):
            found |= subclasses(sub)
        return found

    for cls in subclasses(requests.RequestException) | {requests.RequestException}:
        try:
            exc = cls("boom")
        except TypeError:
            continue
        mapped = map_request_exception(exc, method="GET", url="https://x/y")
        assert isinstance(mapped, errors.MsgrelayError), cls


def test_connection_refused_is_known_not_to_have_reached_the_server() -> None:
    """urllib3's NewConnectionError wrapped by requests means nothing was sent."""
    reason = urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
    wrapped = requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))  # type: ignore[arg-type]
    mapped = map_request_exception(wrapped, method="POST", url="https://x")
    assert isinstance(mapped, errors.TransportError)
    assert mapped.may_have_reached_server is False
    reset = map_request_exception(requests.ConnectionError("reset"), method="POST", url="https://x")
    assert isinstance(reset, errors.TransportError)
    assert reset.may_have_reached_server is True


def test_parse_retry_after_forms() -> None:
    """Seconds, HTTP dates, junk and absence."""
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412470.0) == 10.0


def test_backoff_grows_and_is_capped() -> None:
    """Jittered backoff stays within [ceiling/2, ceiling] and the ceiling doubles up to backoff_max."""
    low = RetryPolicy(rng=lambda: 0.0, backoff_base=1.0, backoff_max=4.0)
    high = RetryPolicy(rng=lambda: 1.0, backoff_base=1.0, backoff_max=4.0)
    assert [low.backoff(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 2.0]
    assert [high.backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 4.0]


def test_redact_url_hides_tokens_and_user_info() -> None:
    """Secret query values and user:password never reach a log line or an error."""
    assert (
        redact_url("https://u:p@h.example/x?token=abc&page=2") == "https://h.example/x?token=REDACTED&page=2"
    )


def test_user_agent_names_msgrelay_and_the_host_app(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The User-Agent starts with msgrelay/<version> and ends with the host's token."""
    assert user_agent().startswith("msgrelay/")
    with client_for(sandbox, user_agent_extra="crm-sync/2.1") as client:
        agent = client.transport.session.headers["User-Agent"]
        assert isinstance(agent, str)
        assert agent.endswith(" crm-sync/2.1")


def test_the_api_key_never_appears_in_logs_reprs_or_errors(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """DEBUG logs, reprs and exception texts carry no trace of the key."""
    secret = "sk-live-0123456789abcdef"
    caplog.set_level(logging.DEBUG)
    sandbox.inject(Fault("GET", CREDITS, status=500, body={"error": f"bad key {secret}"}))
    client = UpscaleClient(secret, sandbox.upscale_url, retry=NO_RETRIES)
    texts = [repr(client), repr(client.transport), repr(client.transport.session.auth)]
    for _ in range(2):
        try:
            client.check_credits()
        except errors.MsgrelayError as exc:
            texts += [str(exc), repr(exc)]
    client.close()
    texts += [record.getMessage() for record in caplog.records]
    assert any("check_credits" in t for t in texts)  # the logs did run
    assert not [t for t in texts if secret in t]


def test_transport_close_leaves_a_borrowed_session_open(sandbox: Sandbox) -> None:
    """A session passed in belongs to the caller."""
    session = requests.Session()
    transport = Transport(base_url=sandbox.upscale_url, auth=None, session=session)
    transport.close()
    assert session.adapters  # still usable
    session.close()


def test_a_redirect_is_not_followed_and_the_key_stays_home(sandbox: Sandbox) -> None:
    """A 3xx raises RedirectError; the host it points to never sees the request (or the Api-Key)."""
    seen: list[str] = []

    def elsewhere(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
        seen.append(str(environ.get("HTTP_API_KEY")))
        start_response("200 OK", [])
        return [b"{}"]

    with BackgroundServer(elsewhere, host="localhost") as other:
        target = f"{other.url}/steal?token=abcdef0123456789"
        sandbox.inject(Fault("GET", CREDITS, status=302, headers={"Location": target}))
        with client_for(sandbox) as client, pytest.raises(errors.RedirectError) as caught:
            client.check_credits()
    assert seen == []
    assert caught.value.status == 302
    assert "token=REDACTED" in str(caught.value)
    assert "abcdef0123456789" not in str(caught.value)


def test_an_error_keeps_its_response_without_the_credential(sandbox: Sandbox) -> None:
    """``error.response`` is kept for callers, with the request's key blanked (error trackers record it)."""
    client = UpscaleClient("sk-live-0123456789abcdef", sandbox.upscale_url)
    with client, pytest.raises(errors.AuthenticationError) as caught:
        client.check_credits()
    response = caught.value.response
    assert response is not None
    assert response.request.headers["Api-Key"] == "REDACTED"


def test_a_tls_failure_may_have_followed_a_processed_request() -> None:
    """urllib3 raises SSLError mid-answer too, so a POST that failed on TLS is never resent."""
    mapped = map_request_exception(
        requests.exceptions.SSLError("bad record mac"), method="POST", url="https://x"
    )
    assert isinstance(mapped, errors.TransportError)
    assert mapped.may_have_reached_server is True


def test_a_malformed_base_url_is_not_retried() -> None:
    """A URL requests cannot parse is a configuration error, raised at once."""
    sleep = SleepRecorder()
    client = UpscaleClient("key-123456", "http://127.0.0.1:99999/api", sleep=sleep)
    with client, pytest.raises(errors.ConfigurationError):
        client.check_credits()
    assert sleep.waits == []


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_non_finite_retry_after_is_ignored(value: str) -> None:
    """A Retry-After of nan or inf is no wait at all: backoff applies instead."""
    assert parse_retry_after(value) is None


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        (
            CREDITS,
            {"message_allowance": "many", "credits_used": 1, "remaining_credits": 2},
            "message_allowance",
        ),
        (CREDITS, ["not", "an", "object"], ""),
        ("/sequences/get_sequences", {"sequences": "none"}, "sequences"),
        (
            "/sequences/get_sequences",
            [{"name": "x", "steps": [{"step": "one"}]}],
            "sequences[0].steps[0].step",
        ),
    ],
)
def test_a_2xx_body_that_breaks_the_contract_is_a_decode_error_naming_where(
    sandbox: Sandbox, path: str, body: object, where: str
) -> None:
    """The vendor's own answers are validated too; the error names the wire path."""
    sandbox.inject(Fault("GET", path, status=200, body=body))
    with client_for(sandbox) as client, pytest.raises(errors.ResponseDecodeError) as caught:
        client.check_credits() if path == CREDITS else client.get_sequences()
    assert caught.value.path == where
    assert caught.value.url.endswith(path)


def test_configuration_errors_show_no_credentials_and_say_where_the_value_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wrong base URL is shown without user info or tokens; a blank key falls back to the variable."""
    from msgrelay.transport import resolve_api_key, resolve_base_url

    with pytest.raises(errors.ConfigurationError) as caught:
        resolve_base_url("ftp://user:sekretpw@h.example/x?token=abcdef", "COLLECT_BASE_URL", "https://x")
    assert "sekretpw" not in str(caught.value)
    assert "abcdef" not in str(caught.value)
    assert "the base_url argument" in str(caught.value)
    monkeypatch.setenv("COLLECT_API_KEY", "key-from-the-environment")
    assert resolve_api_key("", "COLLECT_API_KEY", service="Collect") == "key-from-the-environment"
