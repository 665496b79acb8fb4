"""How a receiver's answer maps onto msgrelay's error tree, and which failures are worth retrying.

=========================================== ============================================ =========
answer or failure                           raised                                       retryable
=========================================== ============================================ =========
2xx                                         nothing: delivered
3xx (never followed)                        `RedirectRefusedError` (a `ClientError`)     no
408                                         `ReceiverTimeoutError` (`RetryableApiError`) yes
410                                         `EndpointGoneError` (a `ClientError`)        no
429                                         `RateLimitedError` with ``retry_after``      yes
other 4xx                                   msgrelay's `ClientError` family              no
5xx                                         `ServerError`                                yes
timeout, refused, reset                     `TimeoutError` / `TransportError`            yes
bad settings                                `ConfigurationError`                         no
body over the size limit                    `ValidationError` (nothing sent)             no
not sent after an earlier endpoint failure  `NotSentError` (``deliver_many``)            as cause
=========================================== ============================================ =========

msgrelay's relay retries every failure with backoff until its last attempt; `is_retryable` says
which of these a retry can fix, for a host (or a future relay) that dead-letters the rest at once.
"""

from __future__ import annotations

from msgrelay.errors import (
    ApiError,
    BadRequestError,
    ClientError,
    MsgrelayError,
    RetryableApiError,
    ValidationError,
)
from msgrelay.transport import is_permanent

__all__ = [
    "EndpointGoneError",
    "NotSentError",
    "ReceiverTimeoutError",
    "RedirectRefusedError",
    "ends_batch",
    "is_retryable",
]


class RedirectRefusedError(ClientError):
    """The receiver answered 3xx. Redirects are never followed: the signed request would go elsewhere."""

    reason = "redirect refused"


class EndpointGoneError(ClientError):
    """410: the receiver says this endpoint is gone for good; disable it or configure a new URL."""

    reason = "endpoint gone"


class ReceiverTimeoutError(RetryableApiError):
    """408: the receiver timed out reading the request; sending again may succeed."""

    reason = "request timeout"


class NotSentError(MsgrelayError):
    """Not sent: an earlier delivery of the same batch to the same endpoint failed with `cause`."""

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(f"not sent, an earlier delivery to this endpoint failed: {cause}")

    @property
    def retry_after(self) -> float | None:
        """The wait the endpoint asked for when it refused the earlier delivery (a 429)."""
        return getattr(self.cause, "retry_after", None)

    @property
    def retryable(self) -> bool:
        """As retryable as the failure that stopped the batch (the relay reads this)."""
        return is_retryable(self.cause)


def is_retryable(exc: BaseException) -> bool:
    """Whether sending the same delivery again later can succeed (msgrelay's relay rule, `is_permanent`)."""
    if isinstance(exc, NotSentError):
        return is_retryable(exc.cause)
    return not is_permanent(exc)


def ends_batch(exc: BaseException) -> bool:
    """Whether a failure concerns the endpoint rather than one payload, so the rest of a batch would
    fail the same way and is not attempted (a 400, 413 or 422 concerns only the payload sent)."""
    if isinstance(exc, BadRequestError):
        return False
    if isinstance(exc, ApiError) and exc.status == 413:
        return False
    return not isinstance(exc, ValidationError)
