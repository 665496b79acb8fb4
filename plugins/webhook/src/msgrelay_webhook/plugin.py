"""The plugin msgrelay loads (entry point ``webhook = msgrelay_webhook``): the ``webhook`` destination type.

It registers the type ``webhook``, so a config file can name several instances (one receiver per
customer, each with its own URL and signing secret), and msgrelay gives the type its default instance,
also called ``webhook``, configured from ``MSGRELAY_WEBHOOK_*`` when it is first used, not when it is
loaded: an installed but unused plugin costs nothing and needs no settings; a missing or bad setting
fails the delivery with an error naming the variable (see `msgrelay_webhook.config`).
"""

from __future__ import annotations

from collections.abc import Mapping

from msgrelay import hookimpl
from msgrelay.destinations import DestinationSettings, LazyDestination, RegisterDestinationType
from msgrelay_webhook.config import SECRET_SETTINGS, SETTINGS, WebhookConfig
from msgrelay_webhook.destination import DEFAULT_NAME, WebhookDestination

__all__ = ["EnvironmentWebhook", "build_destination", "register_destination_types"]


class EnvironmentWebhook(LazyDestination[WebhookDestination]):
    """A `WebhookDestination` configured from MSGRELAY_WEBHOOK_* on first use, then reused.

    Args:
        environ: where to read the settings (default ``os.environ``, read on first use).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(lambda: WebhookDestination.from_env(environ))
        self.environ = environ


def build_destination(name: str, settings: DestinationSettings) -> WebhookDestination:
    """The ``webhook`` type's factory: one instance from its settings (`WebhookConfig.from_settings`)."""
    return WebhookDestination(WebhookConfig.from_settings(settings))


@hookimpl
def register_destination_types(register: RegisterDestinationType) -> None:
    """Register the type ``webhook``: each lead POSTed to the instance's ``url``, signed.

    Its default instance, ``webhook``, reads ``MSGRELAY_WEBHOOK_*`` on first use.
    """
    register(DEFAULT_NAME, build_destination, settings=SETTINGS, secrets=SECRET_SETTINGS)
