"""The plugin msgrelay loads (entry point ``webhook = msgrelay_webhook``): the ``webhook`` destination.

It is configured from the environment when it is first used, not when it is loaded, so an installed
but unused plugin costs nothing and needs no settings; a missing or bad setting fails the delivery
with an error naming the variable (see `msgrelay_webhook.config`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from msgrelay import Delivery, hookimpl
from msgrelay.destinations import CheckResult, RegisterDestination
from msgrelay.errors import MsgrelayError
from msgrelay_webhook.config import WebhookConfig
from msgrelay_webhook.destination import DEFAULT_NAME, WebhookDestination

__all__ = ["EnvironmentWebhook", "register_destinations"]


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

    def check(self) -> list[CheckResult]:
        """For ``msgrelay check``: the settings, parsed as a delivery would. No request is made: the
        only call a webhook has is the POST that delivers."""
        try:
            config = WebhookConfig.from_env(self.environ)
        except MsgrelayError as exc:
            return [CheckResult(f"{DEFAULT_NAME}: settings", False, "the settings are refused", str(exc))]
        signed = f", signed with {len(config.secrets)} secret(s)" if config.secrets else ", unsigned"
        return [CheckResult(f"{DEFAULT_NAME}: settings", True, f"POST to {config!r}{signed}")]

    def close(self) -> None:
        """Close the destination's connections, if it was ever used."""
        with self._lock:
            if self._destination is not None:
                self._destination.close()
                self._destination = None

    def __repr__(self) -> str:
        return f"<EnvironmentWebhook {self._destination!r}>"


@hookimpl
def register_destinations(register: RegisterDestination) -> None:
    """Register ``webhook``: each lead POSTed to ``MSGRELAY_WEBHOOK_URL``, signed."""
    webhook = EnvironmentWebhook()
    register(DEFAULT_NAME, webhook.deliver, deliver_many=webhook.deliver_many, check=webhook.check)
