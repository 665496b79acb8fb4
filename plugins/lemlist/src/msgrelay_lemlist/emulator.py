"""An emulator of the part of lemlist's API this destination uses, as documented, for tests and the demo.

A WSGI app (serve it with `msgrelay.web.BackgroundServer` on 127.0.0.1:0, or use `serve`):

* HTTP Basic, empty user name, the key as the password; anything else is answered 401
  ``The authentication you supplied is incorrect``;
* 20 requests per 2 s per key, then 429 with ``Retry-After`` (seconds) and ``X-RateLimit-Reset`` as a
  human-readable JS date; ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` on every answer;
* ``GET /team``, ``GET /campaigns/{id}``, ``POST /campaigns/{id}/leads/`` (values must be strings; a
  lead whose email or LinkedIn URL is in the campaign already is refused with 400 ``Lead already in
  the campaign``; with ``deduplicate=true`` an email in another campaign gets 500 ``Lead already in
  other campaign``), ``GET /campaigns/{id}/leads/``, ``GET /leads?email=``,
  ``PATCH /leads/{id}/variables`` (values in the query string);
* error bodies are ``text/plain``, as lemlist's are;
* faults for tests: `LemlistEmulator.fail_next` answers the next matching requests with a status of
  your choice, before or after processing them (a 500 for a lead that *was* created).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.types import StartResponse, WSGIEnvironment

from msgrelay.web import BackgroundServer

__all__ = [
    "DEMO_CAMPAIGN_ID",
    "EMULATOR_API_KEY",
    "EmulatedRequest",
    "LemlistEmulator",
    "RunningEmulator",
    "serve",
]

#: The key the emulator accepts unless told otherwise (a test value, not a secret).
EMULATOR_API_KEY = "lemlist-emulator-key-5f0c2a9e"
#: The paused campaign every emulator starts with.
DEMO_CAMPAIGN_ID = "cam_EmulatorPaused01"
_PREFIX = "/api"
_AUTH_FAILED = "The authentication you supplied is incorrect"


@dataclass(frozen=True)
class EmulatedRequest:
    """One request as received (the Authorization header left out)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class _Fault:
    status: int
    method: str | None
    path: str | None
    body: str
    headers: dict[str, str]
    times: int
    after_processing: bool


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def _text(status: int, message: str, **headers: str) -> _Reply:
    return _Reply(status, message.encode(), headers=dict(headers))


def _json(body: Any, status: int = 200) -> _Reply:
    return _Reply(status, json.dumps(body).encode(), "application/json; charset=utf-8")


class LemlistEmulator:
    """lemlist's API, in memory.

    Args:
        api_key: the one key accepted.
        rate_limit: requests per ``rate_period`` before 429 (None: no limit).
        rate_period: the window, in seconds.
        clock: monotonic seconds, for the rate window (inject the same fake clock as the client's pacing).
        campaigns: ``{campaign id: status}`` created at start (default: one paused campaign).

    Attributes:
        requests: every authenticated or not request received, in order.
        leads: the leads, in creation order (their custom variables are keys of their own).
        campaigns: the campaigns by id.
    """

    def __init__(
        self,
        *,
        api_key: str = EMULATOR_API_KEY,
        rate_limit: int | None = 20,
        rate_period: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        campaigns: dict[str, str] | None = None,
    ) -> None:
        self.api_key = api_key
        self.rate_limit = rate_limit
        self.rate_period = rate_period
        self.clock = clock
        self.requests: list[EmulatedRequest] = []
        self.leads: list[dict[str, Any]] = []
        self.campaigns: dict[str, dict[str, Any]] = {}
        for campaign_id, status in (campaigns or {DEMO_CAMPAIGN_ID: "paused"}).items():
            self.add_campaign(campaign_id, status=status)
        self._faults: list[_Fault] = []
        self._window: deque[float] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    # --- test controls -----------------------------------------------------------------------------
    def add_campaign(self, campaign_id: str, *, status: str = "paused", name: str | None = None) -> None:
        """Create (or replace) a campaign with this status (``draft``, ``paused``, ``running``...)."""
        self.campaigns[campaign_id] = {
            "_id": campaign_id,
            "name": name or f"Emulated {status}",
            "status": status,
        }

    def fail_next(
        self,
        status: int,
        *,
        method: str | None = None,
        path: str | None = None,
        body: str = "",
        headers: dict[str, str] | None = None,
        times: int = 1,
        after_processing: bool = False,
    ) -> None:
        """Answer the next ``times`` requests matching ``method`` and a path ending with ``path`` with
        ``status`` (and a ``text/plain`` body); with ``after_processing`` the request is handled first
        (the lead is created) and only the answer is lost."""
        with self._lock:
            fault = _Fault(status, method, path, body, dict(headers or {}), times, after_processing)
            self._faults.append(fault)

    def received(self) -> list[dict[str, Any]]:
        """Every lead, JSON-ready, in creation order (what the vendor holds)."""
        with self._lock:
            return [dict(lead) for lead in self.leads]

    def in_campaign(self, campaign_id: str) -> list[dict[str, Any]]:
        """The leads of one campaign."""
        return [lead for lead in self.received() if lead["campaignId"] == campaign_id]

    # --- WSGI --------------------------------------------------------------------------------------
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        method = str(environ["REQUEST_METHOD"]).upper()
        path = str(environ.get("PATH_INFO", ""))
        query = dict(parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self._lock:
            self.requests.append(EmulatedRequest(method, path, query, body))
            reply = self._answer(method, path, query, body, str(environ.get("HTTP_AUTHORIZATION", "")))
        headers = [
            ("Content-Type", reply.content_type),
            *self._rate_headers().items(),
            *reply.headers.items(),
        ]
        phrase = (
            HTTPStatus(reply.status).phrase if reply.status in HTTPStatus._value2member_map_ else "Status"
        )
        start_response(f"{reply.status} {phrase}", headers)
        return [reply.body]

    def _answer(self, method: str, path: str, query: dict[str, str], body: Any, auth: str) -> _Reply:
        if not self._authorised(auth):
            return _text(401, _AUTH_FAILED)
        if self.rate_limit is not None:
            now = self.clock()
            while self._window and self._window[0] <= now - self.rate_period:
                self._window.popleft()
            if len(self._window) >= self.rate_limit:
                wait = max(self._window[0] + self.rate_period - now, 0.0)
                return _text(429, "Too many requests", **{"Retry-After": str(max(1, round(wait)))})
            self._window.append(now)
        fault = self._take_fault(method, path)
        if fault is not None and not fault.after_processing:
            return _text(fault.status, fault.body, **fault.headers)
        reply = self._route(method, path.removeprefix(_PREFIX), query, body)
        if fault is not None:
            return _text(fault.status, fault.body, **fault.headers)
        return reply

    def _authorised(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, colon, key = decoded.partition(":")
        return bool(colon) and user == "" and hmac.compare_digest(key.encode(), self.api_key.encode())

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if (fault.method is None or fault.method == method) and (
                fault.path is None or path.rstrip("/").endswith(fault.path.rstrip("/"))
            ):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _rate_headers(self) -> dict[str, str]:
        limit = self.rate_limit or 20
        remaining = max(limit - len(self._window), 0)
        reset = datetime.now(UTC) + timedelta(seconds=self.rate_period)
        # lemlist's documented form: a JS Date string, not an epoch.
        stamp = reset.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)")
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": stamp,
        }

    # --- the API -----------------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> _Reply:
        parts = [p for p in path.split("/") if p]
        match method, parts:
            case "GET", ["team"]:
                return _json({"_id": "tea_Emulated01", "name": "Emulated team"})
            case "GET", ["campaigns", campaign_id]:
                campaign = self.campaigns.get(campaign_id)
                return _json(campaign) if campaign else _text(404, "Campaign not found")
            case "POST", ["campaigns", campaign_id, "leads"]:
                return self._create(campaign_id, query, body)
            case "GET", ["campaigns", campaign_id, "leads"]:
                if campaign_id not in self.campaigns:
                    return _text(404, "Campaign not found")
                offset, limit = (
                    int(query.get("offset", "0") or 0),
                    min(int(query.get("limit", "100") or 100), 500),
                )
                leads = [lead for lead in reversed(self.leads) if lead["campaignId"] == campaign_id]
                return _json(leads[offset : offset + limit])
            case "GET", ["leads"]:
                email = query.get("email", "").lower()
                found = [lead for lead in self.leads if lead.get("email", "").lower() == email and email]
                return _json(found[0]) if found else _text(404, "Lead not found")
            case "PATCH", ["leads", lead_id, "variables"]:
                lead = next((lead for lead in self.leads if lead["_id"] == lead_id), None)
                if lead is None:
                    return _text(404, "Lead not found")
                lead.update(query)
                return _json({"ok": True})
        return _text(404, "Not found")

    def _create(self, campaign_id: str, query: dict[str, str], body: Any) -> _Reply:
        if campaign_id not in self.campaigns:
            return _text(404, "Campaign not found")
        if not isinstance(body, dict):
            return _text(400, "Bad request: the body must be a JSON object")
        for key, value in body.items():
            if not isinstance(value, str):
                return _text(400, f"Bad request: {key} must be a string")
        email = body.get("email", "").lower()
        linkedin = body.get("linkedinUrl", "")
        if not email and not linkedin:
            return _text(400, "Bad request: an email or a linkedinUrl is required")
        for lead in self.leads:
            same = (email and lead.get("email", "").lower() == email) or (
                linkedin and lead.get("linkedinUrl") == linkedin
            )
            if not same:
                continue
            if lead["campaignId"] == campaign_id:
                return _text(400, "Lead already in the campaign")
            if query.get("deduplicate") == "true" and email:
                return _text(500, "Lead already in other campaign")
        lead = {
            "_id": f"lea_Emulated{next(self._ids):05d}",
            "campaignId": campaign_id,
            **body,
            "isPaused": False,
        }
        self.leads.append(lead)
        return _json({**lead, "campaignName": self.campaigns[campaign_id]["name"]})


@dataclass
class RunningEmulator:
    """A `LemlistEmulator` served on 127.0.0.1 (a `msgrelay.destinations.DemoEmulator`).

    Attributes:
        emulator: the app, for faults and assertions.
        url: ``http://127.0.0.1:<port>``.
        campaign_id: the campaign `settings` points at.
    """

    emulator: LemlistEmulator
    url: str
    campaign_id: str = DEMO_CAMPAIGN_ID

    @property
    def base_url(self) -> str:
        """The API root, as ``MSGRELAY_LEMLIST_BASE_URL`` takes it."""
        return self.url + _PREFIX

    @property
    def settings(self) -> dict[str, str]:
        """``MSGRELAY_LEMLIST_*`` pointing the destination at this emulator and its paused campaign."""
        return {
            "MSGRELAY_LEMLIST_API_KEY": self.emulator.api_key,
            "MSGRELAY_LEMLIST_BASE_URL": self.base_url,
            "MSGRELAY_LEMLIST_CAMPAIGN_ID": self.campaign_id,
        }

    def received(self) -> list[dict[str, Any]]:
        """The leads lemlist holds now."""
        return self.emulator.received()


@contextmanager
def serve(emulator: LemlistEmulator | None = None) -> Iterator[RunningEmulator]:
    """Serve ``emulator`` (default: a fresh one) on 127.0.0.1 on a free port until the block ends."""
    app = emulator if emulator is not None else LemlistEmulator()
    with BackgroundServer(app) as server:
        yield RunningEmulator(app, server.url)
