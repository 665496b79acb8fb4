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
from msgrelay.transport.deadline import enforce_deadlines
from msgrelay.transport.mapping import error_for_response, map_request_exception
from msgrelay.transport.redact import Secret, redact_url
from msgrelay.transport.retry import RetryPolicy, parse_retry_after

__all__ = ["DEFAULT_TIMEOUT", "Timeout", "Transport", "default_deadline", "user_agent"]

logger = logging.getLogger(__name__)


#: The shortest default deadline of a whole call: long enough for a large answer on a slow link.
MIN_DEFAULT_DEADLINE = 30.0


def default_deadline(connect: float, read: float) -> float:
    """The deadline of a whole call when none is given: ``max(30, connect + 2 * read)`` seconds."""
    return max(MIN_DEFAULT_DEADLINE, connect + 2 * read)


@attrs.frozen
class Timeout:
    """Seconds to wait for the connection, then for each read, and for the whole call. Always set.

    ``connect`` and ``read`` bound each socket operation; ``total`` bounds the call from its start to
    the last byte of the answer, however slowly a server trickles it (`msgrelay.transport.deadline`).
    Left out, ``total`` is `default_deadline`: ``max(30, connect + 2 * read)`` seconds.
    """

    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float = DEFAULT_READ_TIMEOUT
    total: float | None = None

    @property
    def deadline(self) -> float:
        """Seconds the whole call may take: ``total``, else `default_deadline`."""
        return self.total if self.total is not None else default_deadline(self.connect, self.read)

    def for_requests(self) -> Any:
        """The ``timeout=`` argument for `requests` on a session with `enforce_deadlines`.

        A `urllib3.Timeout`, which `requests` hands to urllib3 unchanged; typed `Any` because the
        `requests` stubs list only numbers and pairs.
        """
        return urllib3.Timeout(connect=self.connect, read=self.read, total=self.deadline)

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
            each attempt ends at the timeout's `Timeout.deadline`, however slowly the server answers,
            with a `msgrelay.errors.TimeoutError` (an attempt, not the retries: a GET that ran out of
            time is retried by ``retry``, a POST never).
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
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            safe_url = redact_url(url if not params else f"{url}?{urlencode(params, doseq=True)}")
            failure: requests.RequestException | None = None
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=send_headers,
                    timeout=self.timeout.for_requests(),
                    # A redirect would carry the Api-Key header to wherever it points (requests
                    # strips only Authorization), and would turn a POST into a GET: never follow one.
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                failure = exc
            if failure is not None:
                # Handled outside the `except`: an exception raised inside it would keep the requests
                # exception as its __context__, and that one's text holds the URL with its secrets.
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
                if wait is None:
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
                continue
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.debug("%s %s -> %d in %.1f ms", method, safe_url, response.status_code, elapsed_ms)
            if response.status_code < 300:
                return response
            if response.status_code < 400:
                raise error_for_response(response, method=method, url=safe_url, secrets=self._secrets)
            wait = self.retry.delay_after_status(
                method=method,
                attempt=attempt,
                status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
            if wait is None:
                raise error_for_response(response, method=method, url=safe_url, secrets=self._secrets)
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
