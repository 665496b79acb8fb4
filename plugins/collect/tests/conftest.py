"""Fixtures: an environment without msgrelay's variables, msgrelay's sandbox (the Collect emulator) on
loopback, deliveries of made-up leads, destinations pointed at the sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

import pytest
from msgrelay_collect import CollectDestination, CollectSettings

from msgrelay import UPSCALE, Delivery, Lead, RelayContext, delivery_key
from msgrelay.sandbox import COLLECT_PREFIX, SANDBOX_COLLECT_KEY, SEED_REQUEST_ID, Sandbox
from msgrelay.testing import cassettes
from msgrelay.web import BackgroundServer

#: 2026-01-15T10:30:00Z: the destination's fixed clock.
NOW = 1768473000.0
BATCH = "5d1c7e2a-0b8f-4c3e-9a61-7f2d4b8e0c13"


@pytest.fixture(autouse=True)
def _isolated_environment(msgrelay_home: Path) -> None:
    """No test sees the developer's ``COLLECT_*``, ``UPSCALE_*`` or ``MSGRELAY_*`` settings."""


@pytest.fixture
def sandbox(msgrelay_sandbox: Sandbox) -> Sandbox:
    """msgrelay's sandbox on 127.0.0.1: the Collect emulator these tests write into."""
    return msgrelay_sandbox


@pytest.fixture
def make_delivery() -> Callable[..., Delivery]:
    """Builds a delivery of one lead as the relay would (key from `delivery_key`)."""

    def make(
        prospect: str = "crm-000123",
        *,
        messages: dict[str, str | None] | None = None,
        attempt: int = 1,
        destination: str = "collect",
        **extra: Any,
    ) -> Delivery:
        context = RelayContext(
            source=UPSCALE,
            batch_id=BATCH,
            customer_id="customer_12345",
            campaign_id="campaign_67890",
            message_types=("connection_request", "first_follow_up", "hiring_activity"),
            destinations=(destination,),
        )
        return Delivery(
            destination=destination,
            key=delivery_key(destination, UPSCALE, BATCH, prospect),
            context=context,
            lead=Lead(
                external_prospect_id=prospect,
                linkedin="https://www.linkedin.com/in/ada-example/",
                messages=messages
                if messages is not None
                else {
                    "connection_request": "Hi Ada, saw your talk on typed relays.",
                    "first_follow_up": "Thanks for connecting, Ada. Happy to share notes.",
                    "hiring_activity": None,
                },
                extra={"first_name": "Ada", "last_name": "Example", **extra},
            ),
            attempt=attempt,
        )

    return make


@pytest.fixture
def make_destination(sandbox: Sandbox) -> Iterator[Callable[..., CollectDestination]]:
    """Builds destinations writing into the sandbox's seeded request (fixed clock); closes them after."""
    made: list[CollectDestination] = []

    def make(**settings: Any) -> CollectDestination:
        values: dict[str, Any] = {
            "api_key": sandbox.collect_api_key,
            "base_url": sandbox.collect_url,
            "request_id": SEED_REQUEST_ID,
            **settings,
        }
        destination = CollectDestination(CollectSettings(**values), clock=lambda: NOW, trust_env=False)
        made.append(destination)
        return destination

    yield make
    for destination in made:
        destination.close()


class StoreThenFail:
    """In front of the sandbox: lets the next POST through (Collect stores it), then answers 504 as a
    gateway that gave up waiting would. Deterministic: no timing involved."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.armed = True

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        if self.armed and environ["REQUEST_METHOD"] == "POST":
            self.armed = False
            list(self.app(environ, lambda *args: None))
            start_response("504 Gateway Timeout", [("Content-Type", "text/plain")])
            return [b"upstream timed out"]
        return self.app(environ, start_response)


@pytest.fixture
def gateway(sandbox: Sandbox) -> Iterator[BackgroundServer]:
    """The sandbox's app behind `StoreThenFail`, on its own loopback port: its next POST is stored by
    Collect and answered 504."""
    with BackgroundServer(StoreThenFail(sandbox.app)) as server:
        yield server


# --- cassettes: recorded from the sandbox, replayed (record mode none) without any server ----------
CASSETTES = Path(__file__).resolve().parent / "cassettes"
#: A key no cassette may hold (the sandbox's; a live key is never used by these tests).
KNOWN_SECRETS = (SANDBOX_COLLECT_KEY,)
REPLAY_KEY = "replay-key-not-a-secret"


@pytest.fixture
def cassette_rewriter() -> cassettes.BaseRewriter:
    """Maps the base URL a test really used to the canonical Collect one."""
    return cassettes.BaseRewriter()


@pytest.fixture
def vcr_config(cassette_rewriter: cassettes.BaseRewriter) -> dict[str, Any]:
    """msgrelay's scrubbing: credentials out of headers and bodies, one canonical base URL."""
    return cassettes.vcr_config(cassette_rewriter, KNOWN_SECRETS)


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    """``tests/cassettes/<test module>/``."""
    return str(CASSETTES / Path(str(request.node.path)).stem)


@pytest.fixture
def collect_target(
    request: pytest.FixtureRequest, cassette_rewriter: cassettes.BaseRewriter
) -> Iterator[tuple[str, str]]:
    """``(base_url, api_key)`` for a cassette test: a port nothing listens on when replaying (so a
    request missing from the cassette fails loudly, on loopback), a fresh sandbox when recording."""
    if (request.config.getoption("--record-mode") or "none") == "none":
        base = "http://127.0.0.1:9" + COLLECT_PREFIX
        cassette_rewriter.register(base, "collect")
        yield base, REPLAY_KEY
        return
    with Sandbox(webhook_delivery=False) as running:
        cassette_rewriter.register(running.collect_url, "collect")
        yield running.collect_url, running.collect_api_key


@pytest.fixture
def now() -> float:
    """The destinations' fixed clock."""
    return NOW


@pytest.fixture
def cassettes_dir() -> Path:
    """Where this plugin's cassettes live."""
    return CASSETTES


@pytest.fixture
def known_secrets() -> tuple[str, ...]:
    """Every key a cassette must never hold."""
    return KNOWN_SECRETS
