"""The connection to one endpoint: a pooled `requests.Session`, shared by the threads that send a batch.

**Sharing one session across threads.** requests does not document `Session` as thread-safe, and its
maintainers advise one session per thread (psf/requests#2766, #1871). The parts that issue is about
are not used here: redirects are never followed (the redirect state of #2766), and there is one host,
so urllib3's pool manager never evicts the pool a request is using (#1871). What each request does
touch is the adapter's urllib3 connection pool, which is built for threads (a connection is taken
from a queue and put back), and the cookie jar, which `http.cookiejar` locks itself. So one session
serves every thread, with an adapter whose pool holds a connection per thread: requests' default of
10 connections would otherwise drop and reopen connections above 10 at once.

**A request prepared once.** `Session.request` merges the session's settings into each request
anew: cookies, auth, ``.netrc``, the environment's proxies and CA bundle, and it re-validates the URL
and every header. With requests 2.34 that is a third of the sender's own time per loopback POST (its
runtime-checked protocols are slow on Python 3.11; measured here: 0.78 ms of CPU per POST through
`Session.post`, 0.51 ms through `Session.send`). Here the URL is prepared once, the environment's
proxy and TLS settings are read once (when the destination is built), and each request is handed to
`Session.send` with its headers as given (the static headers were validated with the settings; the
``webhook-*`` values are ours). The session's headers, adapters, proxies and TLS settings apply; its
auth and cookies do not (a receiver's cookies are refused: a webhook carries its credentials in its
headers).
"""

from __future__ import annotations

from collections.abc import Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import cast

import requests
from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict

from msgrelay.errors import ConfigurationError
from msgrelay.transport import Timeout, enforce_deadlines
from msgrelay_webhook.urls import safe_url

__all__ = ["EndpointSession"]

#: Accepts no cookie from any answer.
_NO_COOKIES = DefaultCookiePolicy(allowed_domains=[])


class EndpointSession:
    """POSTs bytes to one URL over a pooled session, from any number of threads.

    Args:
        url: the endpoint.
        timeout: connect and read timeouts of every request.
        connections: connections kept open to the endpoint at most (one per sending thread).
        session: a session to use instead of one made here; it is used as it is (its adapters'
            pools included) and not closed by `close`.
        trust_env: whether proxies and a CA bundle are read from the environment (once, here).
        user_agent: the User-Agent header.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: Timeout,
        connections: int,
        session: requests.Session | None = None,
        trust_env: bool = True,
        user_agent: str,
    ) -> None:
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(connections, DEFAULT_POOLSIZE))
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.cookies.set_policy(_NO_COOKIES)
        # Every call within its overall deadline (a plain adapter is replaced by one with the same pool
        # sizes; a custom one is left as it is).
        enforce_deadlines(session)
        #: What each request carries as its cookies: none, and none kept from an answer.
        self._cookies = RequestsCookieJar(policy=_NO_COOKIES)
        self.session = session
        self.session.trust_env = trust_env
        self.session.headers["User-Agent"] = user_agent
        self.timeout = timeout.for_requests()
        try:
            self.url = requests.Request("POST", url).prepare().url or url
        except requests.RequestException:
            raise ConfigurationError(f"the webhook URL {safe_url(url)} is not a valid URL") from None
        #: The environment's proxies and CA bundle for this URL (with the session's own settings).
        self._settings = session.merge_environment_settings(self.url, {}, None, None, None)

    def post(self, body: bytes, headers: Mapping[str, str]) -> requests.Response:
        """POST ``body`` with the session's headers and ``headers``; redirects are not followed.

        Raises:
            requests.RequestException: the request failed (the caller maps it).
        """
        request = requests.PreparedRequest()
        request.method = "POST"
        request.url = self.url
        merged: CaseInsensitiveDict[str | bytes] = CaseInsensitiveDict(self.session.headers)
        merged.update(headers)
        merged["Content-Length"] = str(len(body))
        # requests sends str and bytes values alike; PreparedRequest's annotation admits only str.
        request.headers = cast("CaseInsensitiveDict[str]", merged)
        request.body = body
        request.prepare_cookies(self._cookies)
        # A 3xx is a failure, never followed: the signed request would go elsewhere.
        return self.session.send(request, timeout=self.timeout, allow_redirects=False, **self._settings)

    def close(self) -> None:
        """Close the pooled connections (only of a session made here)."""
        if self._owns_session:
            self.session.close()
