"""Permanent failures are dead-lettered at once; a destination's Retry-After is honoured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

from msgrelay import errors, hookspecs
from msgrelay.delivery import Delivery
from msgrelay.failures import is_permanent, server_wait
from msgrelay.testing import RelayHarness


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
