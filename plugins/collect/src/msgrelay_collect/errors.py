"""How Collect's answers become the reasons a delivery is retried or dead-lettered.

============================================ ============================================= =========
answer or failure                            raised                                        retryable
============================================ ============================================= =========
401                                          `CredentialsRefusedError`: names the setting   no
403 / 404 on the request                     `PermissionDeniedError` / `NotFoundError`,     no
                                             naming the request id and where it came from
400 (a rule Collect checks that we did not)  `BadRequestError` with Collect's words          no
429 (``Retry-After`` honoured by the relay)  `RateLimitedError`                             yes
5xx, timeout, connection failure             `ServerError` / `TimeoutError` / ...           yes
no request id, a text too short              `ValidationError` (nothing sent)               no
not tried after an earlier endpoint failure  `NotSentError` (``deliver_many``)              as cause
============================================ ============================================= =========

A retry is safe whatever happened to the first POST: the destination lists the request's messages
and skips what it already wrote (see `msgrelay_collect.compose`).
"""

from __future__ import annotations

from msgrelay.errors import (
    ApiError,
    AuthenticationError,
    MsgrelayError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from msgrelay.transport import is_permanent, server_wait

__all__ = ["PLUGIN", "CredentialsRefusedError", "NotSentError", "ends_batch", "explain", "is_retryable"]

#: How errors name this plugin.
PLUGIN = "msgrelay-collect"


class CredentialsRefusedError(AuthenticationError):
    """401: Collect refused the API key. Final: the same key fails again; the message says what to set."""

    reason = "credentials refused"

    def __init__(self, cause: ApiError, *, setting: str) -> None:
        super().__init__(
            status=cause.status, method=cause.method, url=cause.url, vendor_message=cause.vendor_message
        )
        #: The setting to fix (``COLLECT_API_KEY``, or a route table's key).
        self.setting = setting
        self.args = (
            f"{PLUGIN}: Collect refused the API key ({cause.status} from {cause.method} {cause.url}); "
            f"set {setting} to the API key at the bottom of your Collect profile page",
        )


class NotSentError(MsgrelayError):
    """Not sent: an earlier delivery of the same batch failed with `cause`, which concerns Collect
    itself (down, refusing the key, rate-limiting us), so this one would have failed the same way."""

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(f"not sent, an earlier delivery to Collect failed: {cause}")

    @property
    def retry_after(self) -> float | None:
        """The wait Collect asked for when it refused the earlier delivery (a 429)."""
        return server_wait(self.cause)

    @property
    def retryable(self) -> bool:
        """As retryable as the failure that stopped the batch (the relay reads this)."""
        return is_retryable(self.cause)


def is_retryable(exc: BaseException) -> bool:
    """Whether delivering the same lead again later can succeed (msgrelay's relay rule)."""
    return not is_permanent(exc)


def ends_batch(exc: BaseException) -> bool:
    """Whether a failure concerns Collect itself rather than one lead or one request, so the rest of
    a batch is not attempted: a bad key, a 429, a 5xx, a timeout. A missing or hidden request, a
    rejected message or a rule broken locally concern only their own lead."""
    if isinstance(exc, ValidationError):
        return False
    if isinstance(exc, CredentialsRefusedError):
        return True
    return not (isinstance(exc, ApiError) and is_permanent(exc))


def explain(
    exc: BaseException, *, api_key_setting: str, request_id: str, request_source: str
) -> BaseException:
    """``exc`` with what to fix: the setting for a refused key, the request id and its origin for a
    request Collect does not show us. Other failures pass through unchanged."""
    if isinstance(exc, AuthenticationError) and not isinstance(exc, CredentialsRefusedError):
        return CredentialsRefusedError(exc, setting=api_key_setting)
    if isinstance(exc, NotFoundError | PermissionDeniedError) and PLUGIN not in exc.vendor_message:
        what = "does not exist" if isinstance(exc, NotFoundError) else "is hidden from this API key"
        hint = f"{PLUGIN}: Collect request {request_id} (from {request_source}) {what}"
        return type(exc)(
            status=exc.status,
            method=exc.method,
            url=exc.url,
            vendor_message=f"{exc.vendor_message} ({hint})" if exc.vendor_message else hint,
        )
    return exc
