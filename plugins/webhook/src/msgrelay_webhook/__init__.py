"""msgrelay-webhook: a msgrelay destination that POSTs each lead to your URL, signed with Standard
Webhooks headers (``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature``).

Installed, it registers the ``webhook`` destination type: its default instance ``webhook`` is configured
by ``MSGRELAY_WEBHOOK_*``, and a config file names more (``[destinations.acme] type = "webhook"``). A host can
also build its own: ``WebhookDestination(WebhookConfig(url=...)).register_as(register, "crm-hook")``.
"""

__all__ = [
    "COLLECT_MESSAGE_EVENT",
    "LEAD_EVENT",
    "EndpointGoneError",
    "EnvironmentWebhook",
    "NotSentError",
    "ReceiverTimeoutError",
    "RedirectRefusedError",
    "SigningSecret",
    "WebhookConfig",
    "WebhookDestination",
    "WebhookReceiver",
    "WebhookVerificationError",
    "__version__",
    "build_destination",
    "build_payload",
    "canonical_linkedin",
    "encode_body",
    "generate_secret",
    "is_retryable",
    "register_destination_types",
    "sign",
    "signature_header",
    "verify",
]

from msgrelay_webhook._version import __version__
from msgrelay_webhook.config import WebhookConfig
from msgrelay_webhook.destination import WebhookDestination
from msgrelay_webhook.errors import (
    EndpointGoneError,
    NotSentError,
    ReceiverTimeoutError,
    RedirectRefusedError,
    is_retryable,
)
from msgrelay_webhook.linkedin import canonical_linkedin
from msgrelay_webhook.payload import COLLECT_MESSAGE_EVENT, LEAD_EVENT, build_payload, encode_body
from msgrelay_webhook.plugin import EnvironmentWebhook, build_destination, register_destination_types
from msgrelay_webhook.receiver import WebhookReceiver
from msgrelay_webhook.signing import (
    SigningSecret,
    WebhookVerificationError,
    generate_secret,
    sign,
    signature_header,
    verify,
)
