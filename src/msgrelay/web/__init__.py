"""Every HTTP server msgrelay runs: the waitress wrapper, a small router shared with the sandbox, and
the webhook receiver.
"""

__all__ = [
    "UPSCALE_WEBHOOK_PATH",
    "BackgroundServer",
    "Receiver",
    "TokenVerifier",
    "Verifier",
    "WebhookRequest",
    "notification_url",
    "serve_forever",
]

from msgrelay.web.receiver import (
    UPSCALE_WEBHOOK_PATH,
    Receiver,
    TokenVerifier,
    Verifier,
    WebhookRequest,
    notification_url,
)
from msgrelay.web.server import BackgroundServer, serve_forever
