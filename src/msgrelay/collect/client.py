"""`CollectClient`: the messages of a Collect request on every channel, and the requests themselves.

Reference: https://developers.usecollect.com (contract notes in ``contracts/collect.md``). Auth is HTTP
Basic with an empty user name and the API key as the password. Every input is checked before a request
is sent; GET and DELETE are retried on 429/503 (honouring ``Retry-After``), POST and PATCH never resent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import requests

from msgrelay import config
from msgrelay.collect.convert import (
    decode_message,
    decode_messages,
    decode_request,
    decode_requests,
    encode,
)
from msgrelay.collect.drafts import (
    MessageChanges,
    NewEmailMessage,
    NewInternalMessage,
    NewMessage,
    NewSmsMessage,
)
from msgrelay.collect.models import CollectRequest, Message
from msgrelay.collect.validation import check_id, raise_for
from msgrelay.errors import Problem, ResponseDecodeError
from msgrelay.transport.endpoint import resolve_api_key, resolve_base_url
from msgrelay.transport.redact import Secret
from msgrelay.transport.retry import RetryPolicy
from msgrelay.transport.session import Timeout, Transport

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "CollectAuth", "CollectClient"]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100

T = TypeVar("T")
# Typed loosely so the checks stay for callers without a type checker.
_DRAFT_TYPES: tuple[type[Any], ...] = (NewInternalMessage, NewEmailMessage, NewSmsMessage)
_CHANGES_TYPE: type[Any] = MessageChanges


class CollectAuth(requests.auth.HTTPBasicAuth):
    """Basic auth as Collect wants it: an empty user name and the API key as the password.

    Its repr never shows the key.
    """

    def __init__(self, api_key: str | Secret) -> None:
        # Not HTTPBasicAuth.__init__: it would keep the key in the clear as ``self.password``.
        self.username = ""
        self._api_key = api_key if isinstance(api_key, Secret) else Secret(api_key)

    @property
    def password(self) -> Secret:  # type: ignore[override]
        """The key, wrapped: it shows as ``REDACTED`` wherever the auth object is printed."""
        return self._api_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = requests.auth._basic_auth_str("", self._api_key.reveal())
        return request

    def __repr__(self) -> str:
        return "CollectAuth(api_key=REDACTED)"


class CollectClient:
    """A client of the Collect API.

    Args:
        api_key: the key from your Collect profile page; ``COLLECT_API_KEY`` when None.
        base_url: the API root; ``COLLECT_BASE_URL``, else ``https://api.usecollect.com/v1``.
        timeout: a `Timeout`, one number of seconds, or a ``(connect, read)`` pair. Each call, its
            retries and the waits between them included, ends at the timeout's total deadline,
            however slowly the server trickles its answer (`Timeout.total`; default
            ``connect + 2 * read`` s).
        retry: when to resend GET and DELETE (POST and PATCH are never resent once they may have
            reached the server).
        user_agent_extra: your app's ``name/version``, appended to the User-Agent.
        trust_env: whether `requests` reads proxy settings and ``.netrc`` from the environment.
        session: a `requests.Session` to use (the client then does not close it).
        sleep: how to wait between attempts (tests pass a recorder).

    Raises:
        ConfigurationError: no API key, or a base URL that is not http(s).
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: Timeout | float | tuple[float, float] | None = None,
        retry: RetryPolicy | None = None,
        user_agent_extra: str | None = None,
        trust_env: bool = True,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        key = Secret(resolve_api_key(api_key, config.COLLECT_API_KEY, service="Collect"))
        url = resolve_base_url(base_url, config.COLLECT_BASE_URL, config.DEFAULT_COLLECT_BASE_URL)
        self.transport = Transport(
            base_url=url,
            auth=CollectAuth(key),
            secrets=(key,),
            timeout=timeout,
            retry=retry,
            user_agent_extra=user_agent_extra,
            trust_env=trust_env,
            session=session,
            sleep=sleep,
        )

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self.transport.base_url

    def __repr__(self) -> str:
        return f"<CollectClient {self.base_url}>"

    def close(self) -> None:
        """Release pooled connections."""
        self.transport.close()

    def __enter__(self) -> CollectClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- messages ------------------------------------------------------------------------------
    def list_messages(self, request_id: str, *, channel: str | None = None) -> list[Message]:
        """The messages of a request, newest first, as the API returns them; optionally one channel.

        https://developers.usecollect.com/operation/operation-list-request-messages
        """
        problems = check_id(request_id, "requestId")
        if channel is not None:
            problems += check_id(channel, "channel")
        raise_for(problems, subject="list of messages")
        path = _messages_path(request_id)
        params = {"channel": channel} if channel is not None else None
        # The bytes, not the parsed list: the decoder takes documented messages straight from JSON.
        return self._call("GET", path, decode_messages, params=params, raw=True)

    def get_message(self, request_id: str, message_id: str) -> Message:
        """One message of a request, whatever its channel.

        https://developers.usecollect.com/operation/operation-get-request-message
        """
        raise_for(check_id(request_id, "requestId") + check_id(message_id, "messageId"), subject="message id")
        return self._call("GET", _message_path(request_id, message_id), decode_message)

    def create_message(self, request_id: str, message: NewMessage) -> Message:
        """Add a message to a request (201): an internal note, or an email or SMS to its contact.

        https://developers.usecollect.com/operation/operation-create-request-message
        """
        problems = check_id(request_id, "requestId")
        # A draft checks every rule when it is built, so only its type is left to check here.
        if not isinstance(message, _DRAFT_TYPES):
            problems.append(Problem("", f"expected a new message draft, got {type(message).__name__}"))
        raise_for(problems, subject="new message")
        return self._call("POST", _messages_path(request_id), decode_message, json=encode(message))

    def update_message(
        self, request_id: str, message_id: str, changes: MessageChanges, *, channel: str | None = None
    ) -> Message:
        """Change some fields of a message (PATCH); fields left `UNSET` are not sent.

        Args:
            channel: the message's channel, when known, so its own rules are checked locally too (an
                email title of 10+ characters, no text on SMS); otherwise the API checks them.

        https://developers.usecollect.com/operation/operation-update-request-message
        """
        problems = check_id(request_id, "requestId") + check_id(message_id, "messageId")
        if isinstance(changes, _CHANGES_TYPE):
            problems += changes.problems(channel)
        else:
            problems.append(Problem("", f"expected MessageChanges, got {type(changes).__name__}"))
        raise_for(problems, subject="message update")
        path = _message_path(request_id, message_id)
        return self._call("PATCH", path, decode_message, json=encode(changes))

    def delete_message(self, request_id: str, message_id: str) -> bool:
        """Delete a message; returns the API's ``deleted`` flag.

        https://developers.usecollect.com/operation/operation-delete-request-message
        """
        raise_for(check_id(request_id, "requestId") + check_id(message_id, "messageId"), subject="message id")
        return self._call("DELETE", _message_path(request_id, message_id), _decode_deleted)

    # --- requests ------------------------------------------------------------------------------
    def list_requests(
        self, campaign_id: str, *, status: str | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[CollectRequest]:
        """Every request of a campaign, fetched page by page (``offset``/``limit``) until a short page.

        Args:
            status: only requests with this status (``filter``); by default the API leaves out
                cancelled, archived and draft requests.
            page_size: requests per page, 1 to 100.

        https://developers.usecollect.com/operation/operation-list-all-the-requests-of-a-campaign
        """
        problems = check_id(campaign_id, "campaignId")
        if status is not None:
            problems += check_id(status, "filter")
        if type(page_size) is not int or not 1 <= page_size <= MAX_PAGE_SIZE:
            problems.append(Problem("limit", f"must be 1 to {MAX_PAGE_SIZE}, got {page_size!r}"))
        raise_for(problems, subject="list of requests")
        return self._pages(campaign_id, status, page_size)

    def _pages(self, campaign_id: str, status: str | None, page_size: int) -> Iterator[CollectRequest]:
        offset = 0
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {"campaignId": campaign_id, "offset": offset, "limit": page_size}
            if status is not None:
                params["filter"] = status
            page = self._call("GET", "/requests", decode_requests, params=params)
            fresh = [request for request in page if request.id not in seen]
            yield from fresh
            # No total and no cursor come back: a page shorter than asked for is the last one. A
            # page with nothing new means the server ignored the offset; stop rather than loop.
            if len(page) < page_size or not fresh:
                return
            seen.update(request.id for request in fresh)
            offset += len(page)

    def get_request(self, request_id: str) -> CollectRequest:
        """One request with its documents, forms, texts and pages (kept in ``extra``).

        https://developers.usecollect.com/operation/operation-get-a-specific-request
        """
        raise_for(check_id(request_id, "requestId"), subject="request id")
        return self._call("GET", f"/requests/{_segment(request_id)}", decode_request)

    # --- plumbing ------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        decode: Callable[..., T],
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        raw: bool = False,
    ) -> T:
        response = self.transport.request(method, path, params=params, json=json)
        body = response.content if raw else self.transport.decode(response)
        url = self.transport.url(path)

        def on_error(where: str, message: str) -> Exception:
            return ResponseDecodeError(message, method=method, url=url, path=where)

        return decode(body, on_error=on_error)


def _segment(value: str) -> str:
    """An id as one URL path segment, whatever characters it holds."""
    return quote(value, safe="")


def _messages_path(request_id: str) -> str:
    return f"/requests/{_segment(request_id)}/messages"


def _message_path(request_id: str, message_id: str) -> str:
    return f"{_messages_path(request_id)}/{_segment(message_id)}"


def _decode_deleted(body: Any, *, on_error: Callable[[str, str], Exception]) -> bool:
    if type(body) is not dict or type(body.get("deleted")) is not bool:
        raise on_error("deleted", f'expected {{"deleted": true}}, got {str(body)[:60]}')
    return bool(body["deleted"])
