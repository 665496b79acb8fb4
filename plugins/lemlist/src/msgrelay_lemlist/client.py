"""The lemlist API calls the destination makes, paced per key, each failure a msgrelay error.

https://developer.lemlist.com/api-reference — HTTP Basic with an empty user name and the key as the
password; 20 requests per 2 s per key on every route. One keyword-only method per operation. A 429 is
never processed, so the same request is sent again after ``Retry-After`` (within `MAX_RATE_WAIT`, up to
`RATE_RETRIES` times); ``X-RateLimit-Reset``, a human-readable JS date, is read only when
``Retry-After`` is missing, and an unreadable one is ignored. Nothing else is retried here: the relay
owns the retry schedule.
"""

from __future__ import annotations

import email.utils
import logging
import re
from collections.abc import Callable, Mapping
from contextlib import closing
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from msgrelay.errors import ApiError, RateLimitedError, ResponseDecodeError
from msgrelay.transport import (
    enforce_deadlines,
    map_request_exception,
    parse_retry_after,
    redact_url,
    user_agent,
)
from msgrelay_lemlist._version import __version__
from msgrelay_lemlist.errors import ALREADY_IN_CAMPAIGN, api_error
from msgrelay_lemlist.pacing import RateLimiter, limiter_for
from msgrelay_lemlist.settings import LemlistSettings

__all__ = ["CAMPAIGN_LEADS_PAGE", "MAX_RATE_WAIT", "RATE_RETRIES", "LemlistClient", "parse_reset"]

logger = logging.getLogger("msgrelay.lemlist")

#: The longest ``Retry-After`` waited for inside one call; a longer one goes back to the relay.
MAX_RATE_WAIT = 10.0
#: 429s answered by waiting and sending again, per request.
RATE_RETRIES = 3
#: ``GET /campaigns/{id}/leads/`` returns at most this many per page.
CAMPAIGN_LEADS_PAGE = 500
_PAREN = re.compile(r"\s*\(.*\)\s*$")


def parse_reset(value: str | None, *, now: Callable[[], float]) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (``Tue Feb 16 2021 09:02:42 GMT+0100 (Central European
    Standard Time)``), or None when it is absent or unreadable: best effort, never an exception."""
    if not value:
        return None
    text = _PAREN.sub("", value.strip())
    try:
        when = datetime.strptime(text, "%a %b %d %Y %H:%M:%S GMT%z")
    except ValueError:
        try:  # an HTTP date, should lemlist ever send the standard form
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - now(), 0.0)


class LemlistClient:
    """The calls to one lemlist account.

    Args:
        settings: the key, the base URL, the timeouts.
        limiter: the pacing of this key (default: the process-wide one of the key).
        session: a `requests.Session` to use (not closed by `close` then).
        now: seconds since the epoch (to read ``X-RateLimit-Reset``).
    """

    def __init__(
        self,
        settings: LemlistSettings,
        *,
        limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.limiter = limiter if limiter is not None else limiter_for(settings.api_key)
        self._owns_session = session is None
        self.session = enforce_deadlines(session if session is not None else requests.Session())
        # A key in ``.netrc`` or a proxy from the environment has no business with this destination.
        self.session.trust_env = False
        self.session.auth = requests.auth.HTTPBasicAuth("", settings.api_key)
        self.session.headers["User-Agent"] = user_agent(f"msgrelay-lemlist/{__version__}")
        self._now = now if now is not None else _wall_clock

    def __repr__(self) -> str:
        return f"<LemlistClient {self.settings.base_url}>"

    # --- operations --------------------------------------------------------------------------------
    def get_team(self) -> dict[str, Any]:
        """The key's team (a cheap read that proves the key). ``GET /team``."""
        return self._json("GET", "/team")

    def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        """One campaign, with its ``status``. ``GET /campaigns/{campaignId}``."""
        return self._json("GET", f"/campaigns/{quote(campaign_id, safe='')}")

    def add_lead(self, campaign_id: str, body: Mapping[str, str]) -> dict[str, Any] | None:
        """Create a lead in a campaign; None when lemlist answers that it is there already.
        ``POST /campaigns/{campaignId}/leads/``."""
        path = f"/campaigns/{quote(campaign_id, safe='')}/leads/"
        response = self._send("POST", path, params={"deduplicate": "false"}, json=dict(body))
        with closing(response):
            if response.status_code == 400 and ALREADY_IN_CAMPAIGN in response.text.lower():
                return None
            created = self._decoded(response, "POST", path)
        return created if isinstance(created, dict) else {}

    def find_lead(self, email: str) -> dict[str, Any] | None:
        """The lead with this email, or None. ``GET /leads?email=``."""
        response = self._send("GET", "/leads", params={"email": email})
        with closing(response):
            if response.status_code == 404:
                return None
            found = self._decoded(response, "GET", "/leads")
        # An email in several campaigns may come back as a list of leads.
        if isinstance(found, list):
            found = next((lead for lead in found if isinstance(lead, dict)), None)
        return found if isinstance(found, dict) and found else None

    def campaign_leads(self, campaign_id: str, *, offset: int = 0) -> list[dict[str, Any]]:
        """One page of a campaign's leads. ``GET /campaigns/{campaignId}/leads/``."""
        path = f"/campaigns/{quote(campaign_id, safe='')}/leads/"
        response = self._send("GET", path, params={"offset": str(offset), "limit": str(CAMPAIGN_LEADS_PAGE)})
        with closing(response):
            page = self._decoded(response, "GET", path)
        return [lead for lead in page if isinstance(lead, dict)] if isinstance(page, list) else []

    def update_variables(self, lead_id: str, variables: Mapping[str, str]) -> None:
        """Set the values of a lead's custom variables (sent as query parameters, as lemlist asks).
        ``PATCH /leads/{leadId}/variables``."""
        path = f"/leads/{quote(lead_id, safe='')}/variables"
        with closing(self._send("PATCH", path, params=dict(variables))) as response:
            self._decoded(response, "PATCH", path)

    # --- the request -------------------------------------------------------------------------------
    def _json(self, method: str, path: str) -> dict[str, Any]:
        with closing(self._send(method, path)) as response:
            body = self._decoded(response, method, path)
        if not isinstance(body, dict):
            raise ResponseDecodeError("expected a JSON object", method=method, url=self._url(path))
        return body

    def _decoded(self, response: requests.Response, method: str, path: str) -> Any:
        """The JSON body of a 2xx answer; the mapped error otherwise."""
        if not 200 <= response.status_code < 300:
            raise self._error(response, method, path)
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise ResponseDecodeError("not JSON", method=method, url=self._url(path)) from None

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> requests.Response:
        """Send once the pacing allows; after a 429, wait as asked and send again (it was not processed)."""
        url = self.settings.base_url + path
        for attempt in range(1, RATE_RETRIES + 2):
            self.limiter.acquire()
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    timeout=self.settings.timeout.for_requests(),
                    allow_redirects=False,  # a redirect would carry the key elsewhere
                )
            except requests.RequestException as exc:
                error = map_request_exception(exc, method=method, url=self._url(path))
            else:
                if response.status_code != 429:
                    logger.debug("%s %s -> %d", method, self._url(path), response.status_code)
                    return response
                wait = self._rate_wait(response)
                self.limiter.hold(wait if wait is not None else self.limiter.period)
                logger.debug("%s %s -> 429, waiting %s s", method, self._url(path), wait)
                if attempt <= RATE_RETRIES and wait is not None and wait <= MAX_RATE_WAIT:
                    response.close()
                    continue
                with closing(response):
                    limited = self._error(response, method, path)
                if isinstance(limited, RateLimitedError):
                    limited.retry_after = wait
                raise limited
            # Raised outside the except, so no chained requests exception carries the request.
            raise error
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _rate_wait(self, response: requests.Response) -> float | None:
        """``Retry-After`` first; else the best reading of ``X-RateLimit-Reset``; else None."""
        wait = parse_retry_after(response.headers.get("Retry-After"), now=self._now)
        if wait is None:
            wait = parse_reset(response.headers.get("X-RateLimit-Reset"), now=self._now)
        return wait

    def _error(self, response: requests.Response, method: str, path: str) -> ApiError:
        return api_error(
            response,
            method=method,
            url=self._url(path),
            sources=self.settings.source,
            secrets=self.settings.secret_texts,
        )

    def _url(self, path: str) -> str:
        return redact_url(self.settings.base_url + path)

    def close(self) -> None:
        """Close pooled connections (of a session this client created)."""
        if self._owns_session:
            self.session.close()


def _wall_clock() -> float:
    return datetime.now().timestamp()
