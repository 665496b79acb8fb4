"""Pacing to 20 requests per 2 s per key, and 429s: the schedule is asserted on an injected clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from msgrelay_lemlist import LemlistDestination, RateLimiter
from msgrelay_lemlist.client import parse_reset
from msgrelay_lemlist.emulator import RunningEmulator
from msgrelay_lemlist.pacing import limiter_for

from msgrelay import Delivery
from msgrelay.errors import RateLimitedError
from msgrelay.transport import server_wait


class FakeTime:
    """A clock that moves only when something sleeps on it; every sleep is recorded."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_window_lets_20_through_per_2_seconds() -> None:
    """45 requests go at t=0 (20), t=2 (20) and t=4 (5); every wait is asked of the injected sleep."""
    time = FakeTime(0.0)
    limiter = RateLimiter(clock=time, sleep=time.sleep)
    sent = [limiter.acquire() for _ in range(45)]
    assert sent == [0.0] * 20 + [2.0] * 20 + [4.0] * 5
    assert time.sleeps == [2.0, 2.0]


def test_the_window_slides() -> None:
    """Requests spread over time are counted in the last 2 s only."""
    time = FakeTime(0.0)
    limiter = RateLimiter(limit=2, period=2.0, clock=time, sleep=time.sleep)
    assert limiter.acquire() == 0.0
    time.now = 1.5
    assert limiter.acquire() == 1.5
    assert limiter.acquire() == 2.0  # the first left the window at 2.0
    assert limiter.acquire() == 3.5


def test_hold_stops_everything_until_it_passes() -> None:
    """After a 429's ``Retry-After`` the next request waits for it, whatever the window says."""
    time = FakeTime(0.0)
    limiter = RateLimiter(clock=time, sleep=time.sleep)
    limiter.acquire()
    limiter.hold(7.0)
    assert limiter.acquire() == 7.0


def test_one_limiter_per_key() -> None:
    """Destinations sharing a key share its window; another key has its own."""
    assert limiter_for("key-a") is limiter_for("key-a")
    assert limiter_for("key-a") is not limiter_for("key-b")


def test_25_leads_are_paced_and_never_limited(
    make_destination: Callable[..., LemlistDestination],
    make_delivery: Callable[..., Delivery],
    running: RunningEmulator,
    fake_time: Any,
) -> None:
    """26 requests (the campaign read and 25 leads) on one fake clock shared with the emulator's window:
    the 21st waits 2 s, the emulator never answers 429, and every lead is added."""
    deliveries = [make_delivery(f"crm-{i}", linkedin=f"https://linkedin.com/in/p{i}") for i in range(25)]
    assert make_destination().deliver_many(deliveries) == {}
    assert fake_time.sleeps == [2.0]
    assert len(running.received()) == 25
    assert len(running.emulator.requests) == 26


def test_a_429_waits_retry_after_then_sends_again(
    make_destination: Callable[..., LemlistDestination],
    make_delivery: Callable[..., Delivery],
    running: RunningEmulator,
    fake_time: Any,
) -> None:
    """A 429 with ``Retry-After: 7`` and an unreadable ``X-RateLimit-Reset``: the client waits 7 s
    (``Retry-After`` first), sends the same request again, and the lead is added once."""
    running.emulator.fail_next(
        429,
        method="POST",
        body="Too many requests",
        headers={"Retry-After": "7", "X-RateLimit-Reset": "soon"},
    )
    make_destination().deliver(make_delivery())
    assert fake_time.sleeps == [7.0]
    assert len(running.received()) == 1
    assert [r.method for r in running.emulator.requests] == ["GET", "POST", "POST"]


def test_a_long_retry_after_goes_back_to_the_relay(
    make_destination: Callable[..., LemlistDestination],
    make_delivery: Callable[..., Delivery],
    running: RunningEmulator,
) -> None:
    """A ``Retry-After`` longer than a call waits becomes a retryable `RateLimitedError` carrying it."""
    running.emulator.fail_next(429, method="POST", headers={"Retry-After": "120"})
    with pytest.raises(RateLimitedError) as caught:
        make_destination().deliver(make_delivery())
    assert server_wait(caught.value) == 120.0
    assert running.received() == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Tue Feb 16 2021 09:02:42 GMT+0100 (Central European Standard Time)", 12.0),
        ("Tue Feb 16 2021 09:02:42 GMT+0100", 12.0),
        ("Tue, 16 Feb 2021 08:02:42 GMT", 12.0),
        ("not a date", None),
        ("Tue Feb 30 2021 25:99:00 GMT+0100 (?)", None),
        ("", None),
        (None, None),
    ],
)
def test_x_ratelimit_reset_never_crashes(header: str | None, expected: float | None) -> None:
    """The human-readable JS date is read when it can be, and ignored when it cannot."""
    now = 1613462550.0  # 2021-02-16T08:02:30Z
    assert parse_reset(header, now=lambda: now) == expected
