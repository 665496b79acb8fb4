"""Fixtures: an environment without ``MSGRELAY_*``, a real receiver on loopback, deliveries, destinations."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from msgrelay_webhook import SigningSecret, WebhookConfig, WebhookDestination, WebhookReceiver

from msgrelay import UPSCALE, Delivery, RelayContext, delivery_key
from msgrelay.upscale import Lead
from msgrelay.web import BackgroundServer

#: The test secret of destinations.md §3.3: the 32 bytes ``upscale-test-secret-0123456789ab``.
SECRET_TEXT = "whsec_dXBzY2FsZS10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5YWI="
#: 2026-01-15T10:30:00Z: the fixed time of sender and receiver alike.
NOW = 1768473000.0
#: The path of the receiving URL; like a Zapier catch hook, it is the credential.
HOOK_PATH = "/hooks/catch/1234567/secret-hook-path/"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own ``MSGRELAY_*`` settings."""
    for name in list(os.environ):
        if name.startswith("MSGRELAY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def now() -> float:
    """The fixed time of sender and receiver alike."""
    return NOW


@pytest.fixture
def secret_text() -> str:
    """The signing secret as written in the environment."""
    return SECRET_TEXT


@pytest.fixture
def hook_path() -> str:
    """The receiving URL's path: the part of a catch-hook URL that is the credential."""
    return HOOK_PATH


@pytest.fixture
def secret() -> SigningSecret:
    """The endpoint's signing secret."""
    return SigningSecret(SECRET_TEXT)


@pytest.fixture
def receiver(secret: SigningSecret) -> WebhookReceiver:
    """A receiver that verifies with ``secret`` at the fixed time and drops repeated ids."""
    return WebhookReceiver(secrets=[secret], clock=lambda: NOW)


@pytest.fixture
def server(receiver: WebhookReceiver) -> Iterator[BackgroundServer]:
    """``receiver`` served on 127.0.0.1 on a free port."""
    with BackgroundServer(receiver) as running:
        yield running


@pytest.fixture
def hook_url(server: BackgroundServer) -> str:
    """The receiving URL."""
    return server.url + HOOK_PATH


@pytest.fixture
def make_delivery() -> Callable[..., Delivery]:
    """Builds a delivery of one lead as the relay would (key from `delivery_key`)."""

    def make(
        prospect: str = "crm-000123",
        *,
        messages: dict[str, str | None] | None = None,
        attempt: int = 1,
        batch: str = "5d1c7e2a-0b8f-4c3e-9a61-7f2d4b8e0c13",
        **lead: Any,
    ) -> Delivery:
        context = RelayContext(
            source=UPSCALE,
            batch_id=batch,
            customer_id="customer_12345",
            campaign_id="campaign_67890",
            campaign_name="Campaign 1 - North America",
            message_types=("connection_request", "first_follow_up", "hiring_activity"),
            destinations=("webhook",),
        )
        fields: dict[str, Any] = {"linkedin": "https://uk.linkedin.com/in/ada-example?trk=public", **lead}
        return Delivery(
            destination="webhook",
            key=delivery_key("webhook", UPSCALE, batch, prospect),
            context=context,
            lead=Lead(
                external_prospect_id=prospect,
                messages=messages
                if messages is not None
                else {
                    "connection_request": "Hi Ada, saw your talk on typed relays.",
                    "first_follow_up": "Thanks for connecting, Ada.",
                    "hiring_activity": None,
                },
                **fields,
            ),
            attempt=attempt,
        )

    return make


@pytest.fixture
def make_destination(hook_url: str, secret: SigningSecret) -> Iterator[Callable[..., WebhookDestination]]:
    """Builds destinations for the loopback receiver (signed, fixed clock unless told); closes them after."""
    made: list[WebhookDestination] = []

    def make(
        *, clock: Callable[[], float] = lambda: NOW, url: str | None = None, **config: Any
    ) -> WebhookDestination:
        settings: dict[str, Any] = {"secrets": (secret,), "allow_insecure": True, **config}
        destination = WebhookDestination(WebhookConfig(url=url or hook_url, **settings), clock=clock)
        made.append(destination)
        return destination

    yield make
    for destination in made:
        destination.close()
