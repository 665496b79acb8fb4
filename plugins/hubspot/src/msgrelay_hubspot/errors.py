"""HubSpot's answers as msgrelay errors, with the fix in the message.

==================================== ============================================== =========
answer                               raised                                         retried
==================================== ============================================== =========
401 ``INVALID_AUTHENTICATION``       `HubSpotAuthError`: names the token setting    no
403 ``MISSING_SCOPES``               `HubSpotScopeError`: names the missing scopes  no
400 ``PROPERTY_DOESNT_EXIST``        `BadRequestError` + how to create them         no
429 ``TEN_SECONDLY_ROLLING``         `RateLimitedError`, ``retry_after`` 10 s       yes
429 secondly (search)                `RateLimitedError`, ``retry_after`` 1 s        yes
429 ``DAILY``                        `HubSpotDailyLimitError`                       no
5xx, timeouts                        `ServerError`, `TransportError`                yes
one record of a 207                  `RecordError` (by its ``category``)            mostly
==================================== ============================================== =========

``Retry-After`` wins over the policy's default wait when HubSpot sends it. The daily limit resets at
midnight in the account's time zone, so it is not retried within the relay's backoff: the delivery
is dead-lettered with that reason and ``msgrelay relay --retry-dead`` re-drives it the next day.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msgrelay.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    MsgrelayError,
    PermissionDeniedError,
    RateLimitedError,
    ValidationError,
)

__all__ = [
    "PLUGIN",
    "HubSpotAuthError",
    "HubSpotDailyLimitError",
    "HubSpotScopeError",
    "RecordError",
    "ends_batch",
]

#: How every error of this plugin names it.
PLUGIN = "msgrelay-hubspot"
#: Per-record categories that the same input will meet again.
_PERMANENT_CATEGORIES = frozenset(
    {"VALIDATION_ERROR", "INVALID_EMAIL", "MISSING_SCOPES", "INVALID_AUTHENTICATION", "OBJECT_NOT_FOUND"}
)


class HubSpotAuthError(AuthenticationError):
    """401: HubSpot rejected the token. Retrying cannot help (and 401 is no signal to refresh it)."""

    reason = "unauthorized"


class HubSpotScopeError(PermissionDeniedError):
    """403: the private app lacks a scope this destination needs."""

    reason = "missing scopes"


class HubSpotDailyLimitError(RateLimitedError):
    """429 with ``policyName`` ``DAILY``: the account's daily API allowance is spent."""

    reason = "daily limit reached"
    retryable = False


class RecordError(MsgrelayError):
    """One record of a batch call failed while the others succeeded (a 207 Multi-Status).

    Attributes:
        category: HubSpot's error category (``VALIDATION_ERROR``, ``CONFLICT``...).
        retryable: whether the same record can succeed later (the relay reads this).
    """

    def __init__(self, message: str, *, category: str, operation: str) -> None:
        self.category = category
        self.retryable = category not in _PERMANENT_CATEGORIES
        super().__init__(f"{PLUGIN}: {operation} failed for this record ({category}): {message}")


def body_of(error: ApiError) -> Mapping[str, Any]:
    """The JSON error body HubSpot sent, or ``{}`` (every field of it is optional)."""
    response = error.response
    if response is None:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def refine(error: ApiError, *, token_setting: str, create_setting: str) -> ApiError:
    """The error for one of HubSpot's statuses, with the fix spelled out; the response dropped.

    Args:
        error: what `msgrelay.transport` mapped the answer to (with its ``.response``).
        token_setting: how to name the token's setting (``MSGRELAY_HUBSPOT_TOKEN``).
        create_setting: how to name the create-properties setting.
    """
    body = body_of(error)
    category = str(body.get("category") or "")
    fields: dict[str, Any] = {"status": error.status, "method": error.method, "url": error.url}
    refined: ApiError = error
    if error.status == 401:
        refined = HubSpotAuthError(
            **fields,
            vendor_message=f"{PLUGIN}: HubSpot rejected the token ({category or 'unauthorized'}); "
            f"set {token_setting} to the access token of a private app",
        )
    elif error.status == 403:
        scopes = _scopes(body)
        refined = HubSpotScopeError(
            **fields,
            vendor_message=f"{PLUGIN}: the private app behind {token_setting} lacks "
            f"{'the scopes ' + ', '.join(scopes) if scopes else 'a scope'}; grant "
            f"{'them' if scopes else 'it'} in HubSpot's app settings",
        )
    elif error.status == 429:
        policy = str(body.get("policyName") or "")
        retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
        if policy == "DAILY":
            refined = HubSpotDailyLimitError(
                **fields,
                vendor_message=f"{PLUGIN}: the HubSpot account's daily API limit is spent; "
                "it resets at midnight in the account's time zone (then msgrelay relay --retry-dead)",
            )
        else:
            refined = RateLimitedError(**fields, vendor_message=error.vendor_message)
            secondly = (
                "secondly" in str(body.get("message") or "").lower() and policy != "TEN_SECONDLY_ROLLING"
            )
            refined.retry_after = retry_after if retry_after is not None else (1.0 if secondly else 10.0)
    elif error.status == 400 and _missing_properties(body):
        missing = _missing_properties(body)
        refined = BadRequestError(
            **fields,
            vendor_message=f"{PLUGIN}: HubSpot has no contact propert{'ies' if len(missing) > 1 else 'y'} "
            f"{', '.join(missing)}; create {'them' if len(missing) > 1 else 'it'} in HubSpot or set "
            f"{create_setting}=1",
        )
    # The response holds the request, and so the token (blanked, but still): do not keep it.
    refined.response = None
    error.response = None
    return refined


def _scopes(body: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for detail in body.get("errors") or []:
        context = detail.get("context") if isinstance(detail, dict) else None
        if isinstance(context, dict):
            for key in ("requiredScopes", "missingScopes", "requiredGranularScopes"):
                found.extend(str(s) for s in context.get(key) or [] if str(s) not in found)
    return found


def _missing_properties(body: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for detail in body.get("errors") or []:
        if not isinstance(detail, dict) or detail.get("code") != "PROPERTY_DOESNT_EXIST":
            continue
        context = detail.get("context")
        names = context.get("propertyName") if isinstance(context, dict) else None
        found.extend(str(n) for n in names or [] if str(n) not in found)
    return found


def ends_batch(exc: BaseException) -> bool:
    """Whether a failure concerns the account or the endpoint rather than one batch's contents, so the
    remaining batches are not sent (a 400 concerns only the inputs sent)."""
    return not isinstance(exc, BadRequestError | ValidationError | RecordError)
