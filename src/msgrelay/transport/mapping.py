"""The one boundary where answers and failures become msgrelay errors.

Every status code is mapped in one function (`error_for_response`), and everything `requests` can
raise in another (`map_request_exception`), as httpx's ``map_httpcore_exceptions`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson
import requests
import urllib3.exceptions

from msgrelay import errors
from msgrelay.transport.deadline import DeadlineExceeded
from msgrelay.transport.redact import CREDENTIAL_HEADERS, REDACTED, Secret, redact_text, redact_url
from msgrelay.transport.retry import parse_retry_after

__all__ = ["error_for_response", "map_request_exception", "vendor_message"]

_STATUS_ERRORS: Mapping[int, type[errors.ApiError]] = {
    400: errors.BadRequestError,
    401: errors.AuthenticationError,
    402: errors.InsufficientCreditsError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    409: errors.ConflictError,
    422: errors.BadRequestError,
    429: errors.RateLimitedError,
}


def vendor_message(response: requests.Response) -> str:
    """The vendor's words: ``error`` or ``message`` of a JSON body, else the text, trimmed."""
    text = response.text or ""
    try:
        body = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    text = " ".join(text.split())
    return text if len(text) <= 500 else text[:497] + "..."


def error_for_response(
    response: requests.Response, *, method: str, url: str, secrets: Iterable[str | Secret] = ()
) -> errors.ApiError:
    """The `ApiError` subclass for an error status, carrying the vendor's message."""
    _scrub_credentials(response)
    status = response.status_code
    cls = _STATUS_ERRORS.get(status)
    if cls is None:
        cls = (
            errors.ServerError
            if status >= 500
            else errors.ClientError
            if status >= 400
            else errors.RedirectError
        )
    if cls is errors.RedirectError:
        location = redact_url(response.headers.get("Location", "")) or "nowhere"
        return errors.RedirectError(
            status=status,
            method=method,
            url=url,
            vendor_message=f"redirects to {location}",
            response=response,
        )
    error = cls(
        status=status,
        method=method,
        url=url,
        vendor_message=redact_text(vendor_message(response), secrets),
        response=response,
    )
    if isinstance(error, errors.RateLimitedError):
        error.retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return error


def _scrub_credentials(response: requests.Response) -> None:
    """Blank the credentials of the request a response keeps, so an error tracker that records the
    exception's ``.response`` never stores a key."""
    headers = response.request.headers
    for name in CREDENTIAL_HEADERS:
        if name in headers:
            headers[name] = REDACTED


def _never_connected(exc: requests.RequestException) -> bool:
    """True when the failure happened before any byte of the request could reach the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        # urllib3 raises SSLError for a broken handshake and for a TLS failure while reading the
        # answer alike; the second may follow a processed request, so assume the worst.
        return False
    reason: object = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError)


def map_request_exception(exc: requests.RequestException, *, method: str, url: str) -> errors.MsgrelayError:
    """The msgrelay error for anything `requests` raises. The one boundary where they are mapped."""
    reached = not _never_connected(exc)
    name = type(exc).__name__
    if isinstance(exc, DeadlineExceeded):
        return errors.TimeoutError(
            f"no complete answer within the call's {exc.seconds:g} s deadline; "
            "the request may have been processed",
            method=method,
            url=url,
            may_have_reached_server=True,
        )
    if isinstance(exc, requests.ConnectTimeout):
        return errors.TimeoutError("connect timed out", method=method, url=url, may_have_reached_server=False)
    if isinstance(exc, requests.Timeout):
        return errors.TimeoutError(
            "read timed out; the request may have been processed",
            method=method,
            url=url,
            may_have_reached_server=True,
        )
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return errors.ConfigurationError(f"invalid URL {url}: {name}")
    if isinstance(exc, requests.ConnectionError):
        what = "could not connect" if not reached else "connection failed mid-request"
        return errors.TransportError(what, method=method, url=url, may_have_reached_server=reached)
    return errors.TransportError(
        f"request failed ({name})", method=method, url=url, may_have_reached_server=reached
    )
