"""The Collect half of the sandbox, served under ``/collect/v1``.

Behaves as the contract describes the API (``contracts/collect.md``):

* HTTP Basic auth with an empty user name and the key as the password; 401 otherwise;
* seeded campaigns, requests with contacts, and messages on all three channels (ids below), plus a
  request whose messages use the older shape (no ``channel``) and a channel the client does not know;
* messages listed newest first, with the ``?channel=`` filter; 404 for unknown ids; 403 for a request
  hidden from this key;
* create (201) and partial update (PATCH) checked with the documented rules, 400 on a violation;
  ``text: null`` clears the text; ``updatedAt`` moves on every update of an internal message;
* requests of a campaign paged with ``offset``/``limit`` (default 50, max 100) and a status ``filter``.

Timestamps come from an injectable clock and strictly increase, so an update always moves ``updatedAt``.
"""

from __future__ import annotations

import base64
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from msgrelay.collect.models import EMAIL, INTERNAL, KNOWN_CHANNELS, PENDING, SMS
from msgrelay.collect.timestamps import format_timestamp, parse_timestamp
from msgrelay.collect.validation import UNSET, check_changes, check_new_message
from msgrelay.errors import Problem
from msgrelay.sandbox.collect_seed import (
    HIDDEN_REQUEST_IDS,
    SEED_CAMPAIGN_ID,
    SEED_EMAIL_MESSAGE_ID,
    SEED_HIDDEN_REQUEST_ID,
    SEED_INTERNAL_MESSAGE_ID,
    SEED_LEGACY_REQUEST_ID,
    SEED_OTHER_CAMPAIGN_ID,
    SEED_REQUEST_ID,
    SEED_SENT_EMAIL_MESSAGE_ID,
    SEED_SMS_MESSAGE_ID,
    meteor_id,
    seed_campaigns,
    seed_messages,
    seed_requests,
)
from msgrelay.web.routing import HttpError, Request, Response, Router

__all__ = [
    "SEED_CAMPAIGN_ID",
    "SEED_EMAIL_MESSAGE_ID",
    "SEED_HIDDEN_REQUEST_ID",
    "SEED_INTERNAL_MESSAGE_ID",
    "SEED_LEGACY_REQUEST_ID",
    "SEED_OTHER_CAMPAIGN_ID",
    "SEED_REQUEST_ID",
    "SEED_SENT_EMAIL_MESSAGE_ID",
    "SEED_SMS_MESSAGE_ID",
    "CollectSandbox",
]

UNAUTHORIZED = "Unauthorized -- Your API key is wrong."
FORBIDDEN = "Forbidden -- The object requested is hidden for administrators only."
NOT_FOUND = "Not Found -- The specified object could not be found."
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
#: Request statuses a list leaves out unless asked for by ``filter``.
HIDDEN_UNLESS_FILTERED = frozenset({"cancelled", "archived", "draft"})
#: Email and SMS statuses that may still be edited.
EDITABLE_STATUSES = frozenset({PENDING, "paused"})

_WRITABLE = {INTERNAL: ("title", "text"), EMAIL: ("title", "body", "sendOn"), SMS: ("body", "sendOn")}


class CollectSandbox:
    """The emulator's state and handlers. Thread-safe: waitress answers from several threads.

    Args:
        api_key: the key accepted as the Basic-auth password.
        clock: seconds since the epoch; timestamps derived from it strictly increase (by at least a
            millisecond), so two updates in the same instant still move ``updatedAt``.
    """

    def __init__(self, *, api_key: str, clock: Callable[[], float] = time.time) -> None:
        self.api_key = api_key
        self.clock = clock
        self._lock = threading.RLock()
        self._last_time: datetime | None = None
        self._created = 0
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.requests: dict[str, dict[str, Any]] = {}
        self.hidden: set[str] = set()
        #: request id → message id → (creation order, wire object)
        self.messages: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {}
        self._load_seed()
        self.router = Router()
        self.router.add("GET", "/campaigns", self.list_campaigns)
        self.router.add("GET", "/requests", self.list_requests)
        self.router.add("GET", "/requests/{request_id}", self.get_request)
        self.router.add("GET", "/requests/{request_id}/messages", self.list_messages)
        self.router.add("POST", "/requests/{request_id}/messages", self.create_message)
        self.router.add("GET", "/requests/{request_id}/messages/{message_id}", self.get_message)
        self.router.add("PATCH", "/requests/{request_id}/messages/{message_id}", self.update_message)
        self.router.add("DELETE", "/requests/{request_id}/messages/{message_id}", self.delete_message)

    def dispatch(self, request: Request) -> Response:
        """Authenticate, then route. Handlers run one at a time and answer with copies of the state,
        so a response is never encoded while another thread changes it."""
        given = request.header("authorization") or ""
        expected = "Basic " + base64.b64encode(f":{self.api_key}".encode()).decode()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return Response(401, {"error": UNAUTHORIZED})
        with self._lock:
            return self.router.dispatch(request)

    # --- state helpers -------------------------------------------------------------------------
    def now(self) -> datetime:
        """The clock's time at millisecond precision, always later than the previous call's."""
        moment = datetime.fromtimestamp(self.clock(), UTC)
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        with self._lock:
            if self._last_time is not None and moment <= self._last_time:
                moment = self._last_time + timedelta(milliseconds=1)
            self._last_time = moment
        return moment

    def _load_seed(self) -> None:
        """The deterministic campaigns, requests and messages of `collect_seed` (the ``SEED_*`` ids)."""
        self.campaigns.update((campaign["_id"], campaign) for campaign in seed_campaigns())
        self.requests.update((request["_id"], request) for request in seed_requests())
        self.hidden.update(HIDDEN_REQUEST_IDS)
        for message in seed_messages():
            self.add_message(message["requestId"], message)

    def add_message(self, request_id: str, message: dict[str, Any]) -> dict[str, Any]:
        """Store a wire message on a request (seeding and create)."""
        with self._lock:
            self._created += 1
            self.messages.setdefault(request_id, {})[message["id"]] = (self._created, message)
        return message

    def _request(self, request_id: str) -> dict[str, Any]:
        if request_id in self.hidden:
            raise HttpError(403, {"error": FORBIDDEN})
        found = self.requests.get(request_id)
        if found is None:
            raise HttpError(404, {"error": NOT_FOUND})
        return found

    def _message(self, request_id: str, message_id: str) -> dict[str, Any]:
        self._request(request_id)
        found = self.messages.get(request_id, {}).get(message_id)
        if found is None:
            raise HttpError(404, {"error": NOT_FOUND})
        return found[1]

    # --- campaigns and requests ----------------------------------------------------------------
    def list_campaigns(self, request: Request) -> Response:
        offset, limit = _paging(request.query)
        return Response(200, list(self.campaigns.values())[offset : offset + limit])

    def list_requests(self, request: Request) -> Response:
        campaign_id = request.query.get("campaignId")
        if not campaign_id:
            raise HttpError(400, {"error": "campaignId is required"})
        if campaign_id not in self.campaigns:
            raise HttpError(404, {"error": NOT_FOUND})
        offset, limit = _paging(request.query)
        wanted = request.query.get("filter")
        found = [
            _summary(r)
            for r in self.requests.values()
            if r["campaignId"] == campaign_id
            and r["_id"] not in self.hidden
            and (r["status"] == wanted if wanted else r["status"] not in HIDDEN_UNLESS_FILTERED)
        ]
        return Response(200, found[offset : offset + limit])

    def get_request(self, request: Request, request_id: str) -> Response:
        return Response(200, dict(self._request(request_id)))

    # --- messages ------------------------------------------------------------------------------
    def list_messages(self, request: Request, request_id: str) -> Response:
        self._request(request_id)
        channel = request.query.get("channel")
        stored = self.messages.get(request_id, {}).values()
        newest_first = sorted(stored, key=_newest_first_key, reverse=True)
        return Response(
            200,
            [dict(m) for _, m in newest_first if channel is None or m.get("channel", INTERNAL) == channel],
        )

    def get_message(self, request: Request, request_id: str, message_id: str) -> Response:
        return Response(200, dict(self._message(request_id, message_id)))

    def create_message(self, request: Request, request_id: str) -> Response:
        self._request(request_id)
        body = _object(request.json())
        channel = body.get("channel", INTERNAL)
        if channel not in KNOWN_CHANNELS:
            raise HttpError(400, {"error": f"channel must be one of {', '.join(KNOWN_CHANNELS)}"})
        problems = _unknown_fields(body, ("channel", *_WRITABLE[channel]))
        fields = {name: body.get(name) for name in ("title", "text", "body")}
        problems += check_new_message(channel, send_on=body.get("sendOn"), **fields)
        _refuse(problems)
        now = format_timestamp(self.now())
        message: dict[str, Any] = {"id": self._new_message_id(), "requestId": request_id, "channel": channel}
        if channel == INTERNAL:
            message.update(title=body["title"], text=body.get("text"), createdAt=now, updatedAt=now)
        else:
            if channel == EMAIL:
                message["title"] = body["title"]
            send_on = body.get("sendOn")
            message.update(
                body=body["body"],
                status=PENDING,
                sendOn=format_timestamp(parse_timestamp(send_on)) if send_on else now,
                createdAt=now,
            )
        return Response(201, dict(self.add_message(request_id, message)))

    def update_message(self, request: Request, request_id: str, message_id: str) -> Response:
        message = self._message(request_id, message_id)
        body = _object(request.json())
        channel = message.get("channel", INTERNAL)
        if channel not in _WRITABLE:
            raise HttpError(400, {"error": f"messages on the {channel} channel cannot be changed"})
        problems = _unknown_fields(body, _WRITABLE[channel])
        # The API takes an empty PATCH body (the schema requires one, even {}).
        if body:
            problems += check_changes(
                title=body.get("title", UNSET),
                text=body.get("text", UNSET),
                body=body.get("body", UNSET),
                send_on=body.get("sendOn", UNSET),
                channel=channel,
            )
        _refuse(problems)
        if channel != INTERNAL and message.get("status") not in EDITABLE_STATUSES:
            status = message.get("status")
            raise HttpError(400, {"error": f"a message with status {status} can no longer be changed"})
        for key, value in body.items():
            message[key] = format_timestamp(parse_timestamp(value)) if key == "sendOn" else value
        if channel == INTERNAL:
            message["updatedAt"] = format_timestamp(self.now())
        return Response(200, dict(message))

    def delete_message(self, request: Request, request_id: str, message_id: str) -> Response:
        self._message(request_id, message_id)
        del self.messages[request_id][message_id]
        return Response(200, {"deleted": True})

    def _new_message_id(self) -> str:
        return "msg_" + meteor_id(f"message-{self._created + 1}", 16)


def _newest_first_key(item: tuple[int, dict[str, Any]]) -> tuple[datetime, int]:
    order, message = item
    return parse_timestamp(message["createdAt"]), order


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise HttpError(400, {"error": "the body must be a JSON object"})
    return body


def _unknown_fields(body: Mapping[str, Any], allowed: tuple[str, ...]) -> list[Problem]:
    return [Problem(key, "is not a field of this message") for key in body if key not in allowed]


def _refuse(problems: list[Problem]) -> None:
    if problems:
        raise HttpError(400, {"error": "; ".join(str(p) for p in problems)})


def _paging(query: Mapping[str, str]) -> tuple[int, int]:
    try:
        offset = int(query.get("offset", "0"))
        limit = int(query.get("limit", str(DEFAULT_LIMIT)))
    except ValueError:
        raise HttpError(400, {"error": "offset and limit must be integers"}) from None
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise HttpError(400, {"error": f"offset must be 0 or more and limit 1 to {MAX_LIMIT}"})
    return offset, limit


def _summary(request: Mapping[str, Any]) -> dict[str, Any]:
    """What the list endpoint shows of a request: no documents, forms, texts or pages."""
    return {k: v for k, v in request.items() if k not in {"documents", "forms", "texts", "pages"}}
