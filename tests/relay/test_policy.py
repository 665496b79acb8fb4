"""Permanent failures are dead-lettered at once; a destination's Retry-After is honoured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

from msgrelay import errors
from msgrelay.destinations.delivery import Delivery
from msgrelay.plugins import hookspecs
from msgrelay.relay import DeliveryPolicy, Relay
from msgrelay.sandbox import Fault
from msgrelay.testing import RelayHarness
from msgrelay.transport import is_permanent, server_wait
from tests.helpers import FakeClock


@attrs.define
class Refusing:
    """A destination that fails every delivery with one exception."""

    error: Callable[[], BaseException]
    name: str = "refusing"
    calls: list[Delivery] = attrs.field(factory=list)

    def deliver(self, delivery: Delivery) -> None:
        self.calls.append(delivery)
        raise self.error()

    @hookspecs.hookimpl
    def register_destinations(self, register: Callable[..., None]) -> None:
        register(self.name, self.deliver)


def api_error(cls: type[errors.ApiError], status: int) -> errors.ApiError:
    return cls(status=status, method="POST", url="https://crm.example/x", vendor_message="no")


@pytest.mark.parametrize(
    "error",
    [
        lambda: api_error(errors.AuthenticationError, 401),
        lambda: api_error(errors.NotFoundError, 404),
        lambda: errors.ConfigurationError("MSGRELAY_WEBHOOK_URL is not set"),
    ],
)
def test_a_permanent_failure_is_dead_lettered_on_the_first_attempt(
    msgrelay_harness: RelayHarness, register_plugin: Any, error: Callable[[], BaseException]
) -> None:
    """Retrying cannot fix a rejected key, a missing object or a wrong setting: no second attempt."""
    refusing = Refusing(error)
    register_plugin(refusing, name="refusing")
    report = msgrelay_harness.generate(leads=2, destinations=["refusing"])
    assert (report.delivered, report.retried, report.dead) == (0, 0, 2)
    assert [d.attempt for d in refusing.calls] == [1, 1]


def test_a_rate_limited_destination_is_retried_no_sooner_than_it_asked(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """A 429 with retry_after schedules the next attempt at least that far ahead."""

    def limited() -> BaseException:
        error = api_error(errors.RateLimitedError, 429)
        assert isinstance(error, errors.RateLimitedError)
        error.retry_after = 3600.0
        return error

    register_plugin(Refusing(limited), name="refusing")
    sid = msgrelay_harness.submit(leads=1)
    relay = msgrelay_harness.relay
    report = relay.relay(sid, destinations=["refusing"], max_wait=0.0)
    assert (report.retried, report.dead) == (1, 0)
    due = relay.ledger.next_due()
    assert due is not None
    assert due >= relay.clock() + 3500


def test_the_classification_rules() -> None:
    """Client errors other than passing states are permanent; transport, 5xx and unknowns are not."""
    assert is_permanent(api_error(errors.BadRequestError, 422))
    assert not is_permanent(api_error(errors.ClientError, 408))
    assert not is_permanent(api_error(errors.ServerError, 503))
    assert not is_permanent(
        errors.TransportError("reset", method="POST", url="u", may_have_reached_server=True)
    )
    assert not is_permanent(ConnectionError("down"))

    class DeclaredPermanentError(Exception):
        retryable = False

    assert is_permanent(DeclaredPermanentError())
    limited = api_error(errors.RateLimitedError, 429)
    assert not is_permanent(limited)
    assert server_wait(limited) is None


RETRIEVE = "/retrieve_messages"


@pytest.mark.parametrize("status", [401, 404])
def test_a_retrieve_the_vendor_rejects_is_dead_lettered_on_the_first_attempt(
    msgrelay_harness: RelayHarness, status: int
) -> None:
    """A batch follows the delivery rule: a rejected key or an unknown id is not retried 8 times, it is
    dead at once; ``retry_dead`` re-drives it once the cause is fixed."""
    sid = msgrelay_harness.submit(leads=1)
    msgrelay_harness.sandbox.inject(Fault("GET", RETRIEVE, status=status, body={"message": "no"}))
    relay = msgrelay_harness.relay
    report = relay.relay(sid, max_wait=5.0)
    assert (report.batch_failures, report.delivered) == (1, 0)
    [dead] = relay.status()["dead_batches"]
    assert (dead["batch_id"], dead["attempts"]) == (sid, 1)
    assert str(status) in dead["last_error"]
    assert relay.retry_dead(max_wait=5.0).delivered == 1


def test_a_rate_limited_retrieve_is_retried_no_sooner_than_the_vendor_asked(
    msgrelay_harness: RelayHarness,
) -> None:
    """A 429 whose Retry-After is longer than the client waits by itself reaches the relay, which
    schedules the batch's next attempt no sooner than asked."""
    harness = msgrelay_harness
    clock = FakeClock()
    relay = Relay(
        ledger=harness.ledger,
        plugins=harness.plugins,
        upscale=harness.client,
        policy=DeliveryPolicy(backoff_base=0.01, backoff_max=0.05),
        clock=clock,
    )
    sid = harness.submit(leads=1)
    harness.sandbox.inject(Fault("GET", RETRIEVE, status=429, headers={"Retry-After": "3600"}))
    report = relay.relay(sid, max_wait=0.0)
    assert (report.batch_failures, report.delivered) == (1, 0)
    due = harness.ledger.next_due("upscale", sid)
    assert due is not None
    assert due >= clock() + 3600
    clock.advance(3600)
    assert relay.run_pending().delivered == 1


def test_a_retrieve_failing_with_a_server_error_is_retried_then_relayed(
    msgrelay_harness: RelayHarness,
) -> None:
    """A 5xx the transport does not resend (507) may pass: the batch is retried with backoff, not
    dead-lettered."""
    sid = msgrelay_harness.submit(leads=1)
    msgrelay_harness.sandbox.inject(Fault("GET", RETRIEVE, status=507, body={"message": "oops"}, times=2))
    report = msgrelay_harness.relay.relay(sid, max_wait=5.0)
    assert (report.batch_failures, report.batches, report.delivered) == (2, 1, 1)


def test_a_retrieve_answered_500_is_resent_by_the_transport(msgrelay_harness: RelayHarness) -> None:
    """The vendor's 500 means "try again later": the GET is resent at once, the batch never fails."""
    sid = msgrelay_harness.submit(leads=1)
    before = msgrelay_harness.sandbox.count("GET", RETRIEVE)
    msgrelay_harness.sandbox.inject(Fault("GET", RETRIEVE, status=500, body={"message": "oops"}, times=1))
    report = msgrelay_harness.relay.relay(sid, max_wait=5.0)
    assert (report.batch_failures, report.batches, report.delivered) == (0, 1, 1)
    assert msgrelay_harness.sandbox.count("GET", RETRIEVE) - before >= 2
