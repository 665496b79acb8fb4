"""Fixtures: an environment without ``MSGRELAY_*``, the HubSpot emulator on loopback, deliveries and
destinations pointed at it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from msgrelay_hubspot import EMULATOR_TOKEN, HubSpotDestination, HubSpotEmulator, HubSpotSettings, Pacer
from msgrelay_hubspot.emulator import RunningEmulator, serve

from msgrelay import UPSCALE, Delivery, RelayContext, delivery_key
from msgrelay.upscale import Lead

BATCH = "5d1c7e2a-0b8f-4c3e-9a61-7f2d4b8e0c13"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own ``MSGRELAY_*`` settings."""
    for name in list(os.environ):
        if name.startswith("MSGRELAY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def emulator() -> HubSpotEmulator:
    """An empty emulated portal."""
    return HubSpotEmulator()


@pytest.fixture
def running(emulator: HubSpotEmulator) -> Iterator[RunningEmulator]:
    """``emulator`` served on 127.0.0.1, on a free port."""
    with serve(emulator) as served:
        yield served


class FakeTime:
    """A clock the pacer's sleep advances: waits are recorded, never slept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    """A fake monotonic clock and sleep, shared by the pacer and (when a test wants) the emulator."""
    return FakeTime()


@pytest.fixture
def make_destination(
    running: RunningEmulator, fake_time: FakeTime
) -> Iterator[Callable[..., HubSpotDestination]]:
    """Builds destinations for the running emulator (``make_destination(notes=True, ...)``); closes them."""
    made: list[HubSpotDestination] = []

    def make(**settings: Any) -> HubSpotDestination:
        values: dict[str, Any] = {"token": EMULATOR_TOKEN, "base_url": running.url, **settings}
        destination = HubSpotDestination(
            HubSpotSettings(**values),
            pacer=Pacer(clock=fake_time.clock, sleep=fake_time.sleep),
            clock=lambda: 1768473000.0,
            trust_env=False,
        )
        made.append(destination)
        return destination

    yield make
    for destination in made:
        destination.close()


@pytest.fixture
def make_delivery() -> Callable[..., Delivery]:
    """Builds a delivery of one lead as the relay would (key from `delivery_key`)."""

    def make(
        prospect: str = "crm-000123",
        *,
        messages: dict[str, str | None] | None = None,
        attempt: int = 1,
        **extra: Any,
    ) -> Delivery:
        fields: dict[str, Any] = {
            "email": f"{prospect}@example.org",
            "first_name": "Ada",
            "lead_company": "Example Labs",
            **extra,
        }
        return Delivery(
            destination="hubspot",
            key=delivery_key("hubspot", UPSCALE, BATCH, prospect),
            context=RelayContext(source=UPSCALE, batch_id=BATCH, destinations=("hubspot",)),
            lead=Lead(
                external_prospect_id=prospect,
                linkedin="https://www.linkedin.com/in/ada-example/",
                messages=messages
                if messages is not None
                else {
                    "connection_request": "Hi Ada, saw your talk on typed relays.",
                    "first_follow_up": "Thanks for connecting, Ada.",
                    "hiring_activity": None,
                },
                extra={k: v for k, v in fields.items() if v is not None},
            ),
            attempt=attempt,
        )

    return make
