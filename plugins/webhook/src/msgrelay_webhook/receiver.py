"""A reference receiver (WSGI): verify the signature, drop a ``webhook-id`` already processed, answer.

It is the receiving half of the contract in runnable form, for tests (serve it on loopback with
``msgrelay.web.server.BackgroundServer``) and as a model for a receiver of your own. A production
receiver keeps its processed ids in a database, not in memory.

Order matters: an id is marked processed only after the event was handled, so a request that failed
(answered non-2xx) is processed when it is sent again, and a repeat of a processed one is not.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

from msgrelay_webhook.signing import WEBHOOK_ID, SigningSecret, WebhookVerificationError, verify

__all__ = ["ReceivedRequest", "Reply", "WebhookReceiver"]


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as it arrived: method, path, headers (lower-case names), raw body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """A scripted answer: status, headers, body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class WebhookReceiver:
    """Receives signed webhooks: verifies, deduplicates on ``webhook-id``, records.

    Args:
        secrets: the endpoint's signing secrets; a request that does not verify gets 401. None
            accepts any request unverified (for a sender configured without a secret).
        replies: answers given first, one per request, before normal handling (``[Reply(500)]``
            fails the first request, then handles the next).
        clock: the receiver's clock, for the timestamp tolerance.

    Attributes:
        requests: every request received, in order.
        events: the parsed body of each processed delivery: one per ``webhook-id``.
    """

    def __init__(
        self,
        *,
        secrets: Sequence[SigningSecret] | None = None,
        replies: Iterable[Reply | int] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secrets = None if secrets is None else tuple(secrets)
        self.clock = clock
        self.requests: list[ReceivedRequest] = []
        self.events: list[Any] = []
        self._replies = [r if isinstance(r, Reply) else Reply(r) for r in replies]
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def script(self, *replies: Reply | int) -> None:
        """Queue more scripted answers."""
        with self._lock:
            self._replies += [r if isinstance(r, Reply) else Reply(r) for r in replies]

    @property
    def ids(self) -> list[str]:
        """The ``webhook-id`` of every request received, in order (repeats included)."""
        return [r.headers.get(WEBHOOK_ID, "") for r in self.requests]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = ReceivedRequest(
            method=environ["REQUEST_METHOD"],
            path=environ.get("PATH_INFO", ""),
            headers=_headers(environ),
            body=environ["wsgi.input"].read(length) if length else b"",
        )
        with self._lock:
            self.requests.append(request)
            reply = self._replies.pop(0) if self._replies else None
            if reply is None:
                reply = self._handle(request)
        reason = (
            HTTPStatus(reply.status).phrase if reply.status in HTTPStatus._value2member_map_ else "Status"
        )
        start_response(f"{reply.status} {reason}", list(reply.headers.items()))
        return [reply.body]

    def _handle(self, request: ReceivedRequest) -> Reply:
        try:
            if self.secrets is not None:
                msg_id = verify(request.body, request.headers, self.secrets, now=self.clock)
            else:
                msg_id = request.headers.get(WEBHOOK_ID, "")
        except WebhookVerificationError as exc:
            return _json_reply(401, {"error": str(exc)})
        if not msg_id:
            return _json_reply(400, {"error": "missing webhook-id header"})
        if msg_id in self._seen:
            return _json_reply(200, {"duplicate": True})
        try:
            event = request.json()
        except ValueError:
            return _json_reply(400, {"error": "body is not JSON"})
        self.events.append(event)
        self._seen.add(msg_id)
        return _json_reply(200, {"ok": True})


def _headers(environ: WSGIEnvironment) -> dict[str, str]:
    headers = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers


def _json_reply(status: int, body: dict[str, Any]) -> Reply:
    return Reply(status, {"Content-Type": "application/json"}, json.dumps(body).encode())
