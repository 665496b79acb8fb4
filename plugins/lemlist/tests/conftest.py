"""Fixtures: no ``MSGRELAY_*`` from the shell, the lemlist emulator on loopback, deliveries, destinations."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from msgrelay_lemlist import (
    LemlistClient,
    LemlistDestination,
    LemlistEmulator,
    LemlistSettings,
    RateLimiter,
    serve,
)
from msgrelay_lemlist.emulator import RunningEmulator

from msgrelay import UPSCALE, Delivery, RelayContext, delivery_key
from msgrelay.upscale import Lead

BATCH = "5d1c7e2a-0b8f-4c3e-9a61-7f2d4b8e0c13"


class FakeTime:
    """A clock that moves only when something sleeps on it; every sleep is recorded."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own ``MSGRELAY_*`` settings."""
    for name in list(os.environ):
        if name.startswith("MSGRELAY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def fake_time() -> FakeTime:
    """The clock of the pacing (and of the emulator's rate window, where a test shares it)."""
    return FakeTime()


@pytest.fixture
def emulator(fake_time: FakeTime) -> LemlistEmulator:
    """lemlist's API in memory, its rate window on the fake clock, one paused campaign."""
    return LemlistEmulator(clock=fake_time)


@pytest.fixture
def running(emulator: LemlistEmulator) -> Iterator[RunningEmulator]:
    """``emulator`` served on 127.0.0.1 on a free port."""
    with serve(emulator) as served:
        yield served


@pytest.fixture
def make_delivery() -> Callable[..., Delivery]:
    """Builds the delivery of one lead as the relay would (key from `delivery_key`)."""

    def make(
        prospect: str = "crm-000123",
        *,
        messages: dict[str, str | None] | None = None,
        linkedin: str | None = "https://uk.linkedin.com/in/ada-example?trk=public",
        attempt: int = 1,
        **extra: Any,
    ) -> Delivery:
        return Delivery(
            destination="lemlist",
            key=delivery_key("lemlist", UPSCALE, BATCH, prospect),
            context=RelayContext(source=UPSCALE, batch_id=BATCH, destinations=("lemlist",)),
            lead=Lead(
                external_prospect_id=prospect,
                linkedin=linkedin,
                messages=messages
                if messages is not None
                else {
                    "connection_request": "Hi Ada, saw your talk on typed relays.",
                    "first_follow_up": "Thanks for connecting, Ada.",
                    "hiring_activity": None,
                },
                extra=extra,
            ),
            attempt=attempt,
        )

    return make


@pytest.fixture
def make_destination(
    running: RunningEmulator, fake_time: FakeTime
) -> Iterator[Callable[..., LemlistDestination]]:
    """Builds destinations for the emulator, paced on the fake clock (no real sleep); closes them after."""
    made: list[LemlistDestination] = []

    def make(**settings: Any) -> LemlistDestination:
        values: dict[str, Any] = {
            "api_key": running.emulator.api_key,
            "campaign_id": running.campaign_id,
            "base_url": running.base_url,
            **settings,
        }
        config = LemlistSettings(**values)
        limiter = RateLimiter(clock=fake_time, sleep=fake_time.sleep)
        destination = LemlistDestination(config, client=LemlistClient(config, limiter=limiter))
        made.append(destination)
        return destination

    yield make
    for destination in made:
        destination.close()
