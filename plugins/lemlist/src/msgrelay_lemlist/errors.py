"""How lemlist's answers map onto msgrelay's error tree, and which failures a retry can fix.

lemlist's error bodies are ``text/plain`` (``Campaign not found``, ``The authentication you supplied is
incorrect``), read as text, never as JSON.

=========================================== ============================================= =========
answer or failure                           raised                                        retryable
=========================================== ============================================= =========
401 / 403                                   `AuthenticationError` / `PermissionDeniedError` no
                                            naming the plugin and the setting to fix
404 on the campaign                         `NotFoundError` naming the campaign setting   no
400 ``Lead already in the campaign``        nothing: the variables are updated instead
``Lead already in other campaign`` (500)    `OtherCampaignError` (a business rule)        no
other 4xx                                   msgrelay's `ClientError` family               no
429 after the in-call waits                 `RateLimitedError` with ``retry_after``       yes
5xx, timeout, refused, reset                `ServerError` / `TransportError`              yes
the campaign is running, not allowed        `CampaignRunningError` (nothing is added)     no
bad settings, text too long, no email/URL   `ConfigurationError` / `ValidationError`      no
not sent after an earlier failure           `NotSentError` (``deliver_many``)             as cause
=========================================== ============================================= =========
"""

from __future__ import annotations

from typing import Any

import requests

from msgrelay.errors import (
    ApiError,
    AuthenticationError,
    ClientError,
    ConfigurationError,
    MsgrelayError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from msgrelay.transport import error_for_response, is_permanent, redact_text, vendor_message

__all__ = [
    "ALREADY_IN_CAMPAIGN",
    "ALREADY_IN_OTHER_CAMPAIGN",
    "CampaignRunningError",
    "NotSentError",
    "OtherCampaignError",
    "api_error",
    "ends_batch",
    "is_retryable",
]

#: lemlist's answer (400) when the lead is in this campaign already [third-party code; see README].
ALREADY_IN_CAMPAIGN = "lead already in the campaign"
#: lemlist's answer (500) with ``deduplicate=true`` when the email is in another campaign.
ALREADY_IN_OTHER_CAMPAIGN = "lead already in other campaign"


class CampaignRunningError(ConfigurationError):
    """The campaign is running: adding a lead would start sending to it at once, and that was not allowed."""

    def __init__(self, campaign_id: str, *, setting: str) -> None:
        self.campaign_id = campaign_id
        super().__init__(
            f"lemlist: campaign {campaign_id} is running, and a lead added to a running campaign is sent "
            f"to at once; nothing was added. Pause the campaign, or set {setting}=1 to allow it"
        )


class OtherCampaignError(ClientError):
    """lemlist refused the lead because its email is in another campaign (``deduplicate``)."""

    reason = "lead in another campaign"


class NotSentError(MsgrelayError):
    """Not sent: an earlier request of the same batch failed with `cause` (the key, the campaign or
    lemlist itself), and this lead would have failed the same way."""

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(f"lemlist: not sent, an earlier request of this batch failed: {cause}")

    @property
    def retry_after(self) -> float | None:
        """The wait lemlist asked for, when the earlier failure was a 429."""
        return getattr(self.cause, "retry_after", None)

    @property
    def retryable(self) -> bool:
        """As retryable as the failure that stopped the batch (msgrelay's relay reads this)."""
        return is_retryable(self.cause)


def is_retryable(exc: BaseException) -> bool:
    """Whether delivering the same lead again later can succeed (msgrelay's rule, `is_permanent`)."""
    return not is_permanent(exc)


def ends_batch(exc: BaseException) -> bool:
    """Whether a failure concerns the key, the campaign or lemlist rather than one lead, so the rest
    of a batch would fail the same way and is not sent."""
    if isinstance(exc, ValidationError | OtherCampaignError):
        return False
    if isinstance(exc, NotFoundError):
        # A missing campaign stops everything; a missing lead is that lead's problem.
        return "campaign" in exc.vendor_message.lower()
    # A rejected lead (400, 422) is that lead's problem; the key, a 429 or a 5xx concern them all.
    return not (isinstance(exc, ApiError) and exc.status in (400, 422))


def api_error(
    response: requests.Response, *, method: str, url: str, sources: Any, secrets: tuple[str, ...]
) -> ApiError:
    """The msgrelay error for a lemlist error answer; 401, 403 and a missing campaign name the setting.

    Args:
        response: the answer (its body is text).
        method: the request's method.
        url: the request's URL, already safe to show.
        sources: ``setting -> name to fix it by`` (`LemlistSettings.source`).
        secrets: strings to scrub from the vendor's text.
    """
    said = redact_text(vendor_message(response), secrets)
    fields: dict[str, Any] = {"status": response.status_code, "method": method, "url": url}
    error: ApiError
    if response.status_code == 401:
        error = AuthenticationError(
            **fields, vendor_message=f"{said} (lemlist refused the API key: check {sources('api_key')})"
        )
    elif response.status_code == 403:
        error = PermissionDeniedError(
            **fields,
            vendor_message=f"{said} (lemlist refused this key or user: check {sources('api_key')})",
        )
    elif response.status_code == 404 and "campaign" in said.lower():
        error = NotFoundError(**fields, vendor_message=f"{said} (check {sources('campaign_id')})")
    elif ALREADY_IN_OTHER_CAMPAIGN in said.lower():
        error = OtherCampaignError(**fields, vendor_message=said)
    else:
        error = error_for_response(response, method=method, url=url, secrets=secrets)
    # The response keeps the request, and so the Authorization header: do not keep it.
    error.response = None
    return error
