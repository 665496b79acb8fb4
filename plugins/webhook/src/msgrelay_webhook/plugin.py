"""The plugin msgrelay loads (entry point ``webhook = msgrelay_webhook``): the ``webhook`` destination type.

It registers the type ``webhook``, so a config file can name several instances (one receiver per
customer, each with its own URL and signing secret), and msgrelay gives the type its default instance,
also called ``webhook``, configured from ``MSGRELAY_WEBHOOK_*`` when it is first used, not when it is
loaded: an installed but unused plugin costs nothing and needs no settings; a missing or bad setting
fails the delivery with an error naming the variable (see `msgrelay_webhook.config`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from msgrelay import Delivery, hookimpl
from msgrelay.destinations import DestinationSettings, RegisterDestinationType
from msgrelay_webhook.config import SECRET_SETTINGS, SETTINGS, WebhookConfig
from msgrelay_webhook.destination import DEFAULT_NAME, WebhookDestination

__all__ = ["EnvironmentWebhook", "build_destination", "register_destination_types"]


class EnvironmentWebhook:
    """A `WebhookDestination` configured from the environment on first use, then reused.

    Args:
        environ: where to read ``MSGRELAY_WEBHOOK_*`` (default ``os.environ``, read on first use).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ
        self._destination: WebhookDestination | None = None
        self._lock = threading.Lock()

    def destination(self) -> WebhookDestination:
        """The configured destination; a `ConfigurationError` naming the variable if a setting is wrong."""
        with self._lock:
            if self._destination is None:
                self._destination = WebhookDestination.from_env(self.environ)
            return self._destination

    def deliver(self, delivery: Delivery) -> None:
        """`WebhookDestination.deliver`."""
        self.destination().deliver(delivery)

    def deliver_many(self, deliveries: Sequence[Delivery]) -> dict[str, BaseException]:
        """`WebhookDestination.deliver_many`."""
        return self.destination().deliver_many(deliveries)

    def close(self) -> None:
        """Close the destination's connections, if it was ever used."""
        with self._lock:
            if self._destination is not None:
                self._destination.close()
                self._destination = None

    def __repr__(self) -> str:
        return f"<EnvironmentWebhook {self._destination!r}>"


def build_destination(name: str, settings: DestinationSettings) -> WebhookDestination:
    """The ``webhook`` type's factory: one instance from its settings (`WebhookConfig.from_settings`)."""
    return WebhookDestination(WebhookConfig.from_settings(settings))


@hookimpl
def register_destination_types(register: RegisterDestinationType) -> None:
    """Register the type ``webhook``: each lead POSTed to the instance's ``url``, signed.

    Its default instance, ``webhook``, reads ``MSGRELAY_WEBHOOK_*`` on first use.
    """
    register(DEFAULT_NAME, build_destination, settings=SETTINGS, secrets=SECRET_SETTINGS)
