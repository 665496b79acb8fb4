"""The session under both clients (and destination plugins): one `requests.Session`, timeouts, retries.

Statuses and `requests` exceptions become msgrelay errors in `msgrelay.transport.mapping`; secrets are
kept out of logs and errors by `msgrelay.transport.redact`.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import attrs
import orjson
import requests
import urllib3

from msgrelay import errors
from msgrelay._version import __version__
from msgrelay.config import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
from msgrelay.transport.deadline import DeadlineExceeded, enforce_deadlines
from msgrelay.transport.mapping import error_for_response, map_request_exception
from msgrelay.transport.redact import Secret, redact_url
from msgrelay.transport.retry import RetryPolicy, parse_retry_after

__all__ = ["DEFAULT_TIMEOUT", "Timeout", "Transport", "default_deadline", "user_agent"]

logger = logging.getLogger(__name__)


def default_deadline(connect: float, read: float) -> float:
    """The deadline of a whole call when none is given: ``connect + 2 * read`` seconds.

    Room to connect, then for the server to think (one read timeout) and to send its answer (another);
    no floor, so a short read timeout gives a short call (``--http-timeout 1``: 7 s, retries included).
    """
    return connect + 2 * read


@attrs.frozen
class Timeout:
    """Seconds to wait for the connection, then for each read, and for the whole call. Always set.

    ``connect`` and ``read`` bound each socket operation; ``total`` bounds the whole call, from its
    start to the last byte of the answer, every retry and wait between attempts included, however
    slowly a server trickles (`msgrelay.transport.deadline`). Left out, ``total`` is
    `default_deadline`: ``connect + 2 * read`` seconds.
    """

    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float = DEFAULT_READ_TIMEOUT
    total: float | None = None

    @property
    def deadline(self) -> float:
        """Seconds the whole call may take: ``total``, else `default_deadline`."""
        return self.total if self.total is not None else default_deadline(self.connect, self.read)

    def for_requests(self, remaining: float | None = None) -> Any:
        """The ``timeout=`` argument for `requests` on a session with `enforce_deadlines`.

        A `urllib3.Timeout`, which `requests` hands to urllib3 unchanged; typed `Any` because the
        `requests` stubs list only numbers and pairs. ``remaining``: the seconds left of the call's
        deadline, the total of a later attempt; left out, the whole `deadline`.
        """
        total = self.deadline if remaining is None else remaining
        return urllib3.Timeout(connect=self.connect, read=self.read, total=total)

    @classmethod
    def coerce(
        cls, value: Timeout | float | tuple[float, float] | tuple[float, float, float] | None
    ) -> Timeout:
        """Accept a `Timeout`, one number for both, or a ``(connect, read)`` or ``(connect, read, total)``
        tuple."""
        if value is None:
            return cls()
        if isinstance(value, Timeout):
            return value
        if isinstance(value, tuple):
            total = float(value[2]) if len(value) > 2 else None
            return cls(float(value[0]), float(value[1]), total)
        return cls(float(value), float(value))


DEFAULT_TIMEOUT = Timeout()


def _fits(wait: float, ends: float) -> bool:
    """Whether an attempt can still start after waiting ``wait`` seconds, before the call ``ends``."""
    return time.monotonic() + wait < ends


def user_agent(extra: str | None = None) -> str:
    """``msgrelay/<version> requests/<version> CPython/<version> <OS>`` plus the host's own token."""
    agent = (
        f"msgrelay/{__version__} requests/{requests.__version__} "
        f"{platform.python_implementation()}/{platform.python_version()} {platform.system()}"
    )
    return f"{agent} {extra}" if extra else agent


class Transport:
    """Sends requests to one API: base URL, auth, timeouts, retries, User-Agent, error mapping.

    Args:
        base_url: the API root, without a trailing slash.
        auth: a `requests` auth object; its secret is kept out of logs and errors.
        secrets: strings to scrub from any vendor text that ends up in an exception.
        timeout: a `Timeout`, a number, or a ``(connect, read)`` pair (or ``(connect, read, total)``);
            the whole call, its retries and the waits between them included, ends at the timeout's
            `Timeout.deadline`, however slowly the server answers, with a
            `msgrelay.errors.TimeoutError`. A retry starts only while time is left, and gets only what
            is left; a wait (backoff or ``Retry-After``) that would outlast the deadline is not slept:
            the call raises the error that asked for it.
        retry: the `RetryPolicy`.
        user_agent_extra: appended to the User-Agent (your app's ``name/version``).
        trust_env: whether `requests` reads proxies and ``.netrc`` from the environment.
        session: a session to use instead of a new one (the transport then does not close it); a
            `msgrelay.transport.deadline.DeadlineAdapter` replaces its plain `requests` adapters.
        sleep: called to wait between attempts (tests pass a recorder).
    """

    def __init__(
        self,
        *,
        base_url: str,
        auth: requests.auth.AuthBase | None,
        secrets: Iterable[str | Secret] = (),
        timeout: Timeout | float | tuple[float, float] | None = None,
        retry: RetryPolicy | None = None,
        user_agent_extra: str | None = None,
        trust_env: bool = True,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = Timeout.coerce(timeout)
        self.retry = retry or RetryPolicy()
        self._secrets = tuple(s if isinstance(s, Secret) else Secret(s) for s in secrets if s)
        self._sleep = sleep
        self._owns_session = session is None
        self.session = enforce_deadlines(session or requests.Session())
        self.session.trust_env = trust_env
        self.session.auth = auth
        self.session.headers.update(
            {"User-Agent": user_agent(user_agent_extra), "Accept": "application/json"}
        )

    def __repr__(self) -> str:
        return f"<Transport {self.base_url}>"

    def close(self) -> None:
        """Close the session's pooled connections (only a session the transport created)."""
        if self._owns_session:
            self.session.close()

    def url(self, path: str) -> str:
        """The absolute URL of an API path."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send a request with retries; return the 2xx answer or raise a `MsgrelayError` (3xx included:
        a redirect is never followed, since the credential would travel with it)."""
        method = method.upper()
        url = self.url(path)
        send_headers = dict(headers or {})
        data: bytes | None = None
        if json is not None:
            data = orjson.dumps(json)
            send_headers["Content-Type"] = "application/json"
        safe_url = redact_url(url if not params else f"{url}?{urlencode(params, doseq=True)}")
        # One deadline for the whole call: every attempt gets only what is left of it, so retries
        # cannot multiply it (four trickled attempts once held a 1 s read timeout for two minutes).
        deadline = self.timeout.deadline
        ends = time.monotonic() + deadline
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            failure: requests.RequestException | None = None
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=send_headers,
                    timeout=self.timeout.for_requests(None if attempt == 1 else ends - time.monotonic()),
                    # A redirect would carry the Api-Key header to wherever it points (requests
                    # strips only Authorization), and would turn a POST into a GET: never follow one.
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                failure = exc
            if failure is not None:
                # Handled outside the `except`: an exception raised inside it would keep the requests
                # exception as its __context__, and that one's text holds the URL with its secrets.
                if isinstance(failure, DeadlineExceeded):
                    # The attempt's total was what was left; the error names the call's deadline.
                    failure = DeadlineExceeded(seconds=deadline)
                error = map_request_exception(failure, method=method, url=safe_url)
                del failure
                elapsed_ms = (time.perf_counter() - started) * 1000
                logger.debug("%s %s failed after %.1f ms: %s", method, safe_url, elapsed_ms, error)
                reached = getattr(error, "may_have_reached_server", True)
                wait = (
                    None  # a wrong URL stays wrong
                    if isinstance(error, errors.ConfigurationError)
                    else self.retry.delay_after_failure(
                        method=method, attempt=attempt, may_have_reached_server=reached
                    )
                )
                if wait is None or not _fits(wait, ends):
                    raise error from None
                logger.info(
                    "%s %s: %s; retrying in %.1f s (attempt %d of %d)",
                    method,
                    safe_url,
                    error,
                    wait,
                    attempt + 1,
                    self.retry.max_attempts,
                )
                self._sleep(wait)
                if time.monotonic() >= ends:  # the wait overran what was left: no attempt can start
                    raise error from None
                continue
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.debug("%s %s -> %d in %.1f ms", method, safe_url, response.status_code, elapsed_ms)
            if response.status_code < 300:
                return response
            status_error = error_for_response(response, method=method, url=safe_url, secrets=self._secrets)
            if response.status_code < 400:
                raise status_error
            wait = self.retry.delay_after_status(
                method=method,
                attempt=attempt,
                status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
            if wait is None or not _fits(wait, ends):
                # Also a Retry-After longer than what is left: the caller gets the answer with its
                # ``retry_after``, as for one beyond the policy's cap, rather than a blind timeout.
                raise status_error
            logger.info(
                "%s %s -> %d; retrying in %.1f s (attempt %d of %d)",
                method,
                safe_url,
                response.status_code,
                wait,
                attempt + 1,
                self.retry.max_attempts,
            )
            response.close()
            self._sleep(wait)
            if time.monotonic() >= ends:  # the wait overran what was left: no attempt can start
                raise status_error

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> tuple[int, Any]:
        """`request`, then the body parsed as JSON: ``(status, body)``."""
        response = self.request(method, path, params=params, json=json)
        return response.status_code, self.decode(response)

    def decode(self, response: requests.Response) -> Any:
        """Parse a response body as JSON or raise `ResponseDecodeError`."""
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise errors.ResponseDecodeError(
                f"body is not JSON ({exc.msg})",
                method=response.request.method or "?",
                url=redact_url(response.url),
            ) from None
