"""The webhook receiver: a WSGI app that stores the Upscale completion webhook, then answers.

``POST /webhooks/upscale``: verify → store in the ledger's inbox (deduplicated on ``secure_request_id``)
→ answer 200 → hand the batch to a background worker. The vendor allows 10 s per attempt and retries
any non-2xx, so the answer comes only once the row is committed, and nothing slow happens before it:
the store waits at most ``store_timeout`` (5 s) for another writer's lock, and if it cannot commit in
that time the answer is 503, so the vendor retries an event that was never acknowledged.
``GET /healthz`` answers 200 when the ledger can be read.

The vendor's signature scheme is undocumented, so verification is a pluggable function. The default,
`TokenVerifier`, checks a capability URL: msgrelay builds the notify URL with a secret ``token`` query
parameter (`notification_url`), and the receiver compares it in constant time (a ``X-Msgrelay-Token``
header is accepted too). The receiver holds no state of its own, so several can share one ledger.

`msgrelay.relay.RelayWorker` is the background worker a receiver usually hands new batches to.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

import attrs
import orjson

from msgrelay.config import MSGRELAY_WEBHOOK_SECRET, read_env
from msgrelay.destinations.delivery import UPSCALE
from msgrelay.errors import ConfigurationError, LedgerBusyError, LedgerError, ValidationError
from msgrelay.ledger.base import Ledger
from msgrelay.ledger.problem_log import LedgerProblemLog
from msgrelay.relay.metrics import WEBHOOK_ANSWERS
from msgrelay.transport.redact import Secret
from msgrelay.upscale.convert import structure_completion_event
from msgrelay.upscale.validation import validate_secure_request_id

__all__ = [
    "UPSCALE_WEBHOOK_PATH",
    "Receiver",
    "TokenVerifier",
    "Verifier",
    "WebhookRequest",
    "notification_url",
]

logger = logging.getLogger(__name__)

UPSCALE_WEBHOOK_PATH = "/webhooks/upscale"
HEALTH_PATH = "/healthz"
TOKEN_PARAM = "token"
TOKEN_HEADER = "x-msgrelay-token"
#: The largest body accepted; a completion event is a few hundred bytes.
MAX_BODY = 64 * 1024


@attrs.frozen(kw_only=True)
class WebhookRequest:
    """What a verifier sees of an incoming webhook."""

    method: str
    path: str
    query: Mapping[str, str] = attrs.field(repr=False)
    headers: Mapping[str, str] = attrs.field(repr=False)  # lower-cased names
    body: bytes = attrs.field(repr=False)


class Verifier(Protocol):
    """Checks a webhook: True when it is authentic. Must not raise for a bad request; return False."""

    def __call__(self, request: WebhookRequest, /) -> bool: ...


class TokenVerifier:
    """The default verifier: the shared secret as ``?token=`` or ``X-Msgrelay-Token``, in constant time."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ConfigurationError("the webhook secret is empty")
        self._secret = Secret(secret)

    def __repr__(self) -> str:
        return "TokenVerifier(secret=<redacted>)"

    @property
    def secret(self) -> Secret:
        """The shared secret, kept hidden; the console redacts it from what it renders."""
        return self._secret

    def __call__(self, request: WebhookRequest) -> bool:
        given = request.query.get(TOKEN_PARAM) or request.headers.get(TOKEN_HEADER) or ""
        return hmac.compare_digest(given.encode(), self._secret.reveal().encode())


def notification_url(public_base_url: str, *, secret: str | None) -> str:
    """The ``completion_notification_url`` to send with a generation request.

    Args:
        public_base_url: where the receiver is reachable from the vendor (``https://relay.example.com``).
        secret: the shared secret, carried as the ``token`` query parameter (None for an insecure receiver).
    """
    url = public_base_url.rstrip("/") + UPSCALE_WEBHOOK_PATH
    return url + "?" + urlencode({TOKEN_PARAM: secret}) if secret else url


class Receiver:
    """The WSGI app.

    Args:
        ledger: where events are stored before they are acknowledged.
        verify: a custom verifier; default `TokenVerifier` with ``secret``.
        secret: the shared secret; default ``MSGRELAY_WEBHOOK_SECRET``.
        insecure: accept unverified webhooks when no secret is configured (local testing only).
        on_event: called with ``(source, batch_id)`` after a new event is stored and acknowledged,
            typically `RelayWorker.submit`; it must not block.
        store_timeout: seconds to wait for the ledger's write lock before answering 503; well under
            the vendor's 10 s, so the vendor hears the 503 and retries instead of timing out.
        destinations: stored with each event, so whichever worker relays it (after a crash too)
            delivers to these; None leaves the choice to the relay (its default destinations).
        health: returns why the relaying behind this receiver is not working (None when it is);
            ``GET /healthz`` then answers 503 with that reason. `RelayWorker.problem` fits.
    """

    def __init__(
        self,
        *,
        ledger: Ledger,
        verify: Verifier | None = None,
        secret: str | None = None,
        insecure: bool = False,
        on_event: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.time,
        store_timeout: float = 5.0,
        destinations: Sequence[str] | None = None,
        health: Callable[[], str | None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.health = health
        self.store_timeout = store_timeout
        # Every webhook tries the ledger: a ledger it cannot use is logged once per problem.
        self._ledger = LedgerProblemLog(logger, "the webhook receiver")
        #: Stored with each event, so a relay resuming it after a crash delivers where this host meant.
        self.destinations = tuple(destinations) if destinations else None
        if verify is None:
            secret = secret or read_env(MSGRELAY_WEBHOOK_SECRET)
            if secret:
                verify = TokenVerifier(secret)
            elif not insecure:
                raise ConfigurationError(
                    f"no webhook secret: set {MSGRELAY_WEBHOOK_SECRET} (and put it in the notify URL as "
                    "?token=...), pass secret=..., or run with --insecure on a trusted network only"
                )
        self.verify = verify
        self.on_event = on_event
        self.clock = clock

    def __repr__(self) -> str:
        return f"Receiver(ledger={self.ledger!r}, verified={self.verify is not None})"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if path == HEALTH_PATH:
            if method not in {"GET", "HEAD"}:
                return _answer(start_response, 405, {"error": "use GET"}, allow="GET")
            return self._health(start_response)
        if path != UPSCALE_WEBHOOK_PATH:
            return _answer(start_response, 404, {"error": "not found"})
        if method != "POST":
            return _answer(start_response, 405, {"error": "use POST"}, allow="POST")
        return self._upscale(environ, _counted(start_response))

    def _health(self, start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            self.ledger.batch_state(UPSCALE, "")
        except LedgerError as exc:  # one line: what, which file, the fix (never a password)
            return _answer(start_response, 503, {"ok": False, "error": str(exc)})
        except Exception as exc:  # health says why, whatever it is
            return _answer(start_response, 503, {"ok": False, "error": type(exc).__name__})
        problem = self.health() if self.health is not None else None
        if problem:
            # Webhooks are still stored and answered, but nothing relays them: a monitor must know.
            return _answer(start_response, 503, {"ok": False, "error": problem})
        return _answer(start_response, 200, {"ok": True})

    def _upscale(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return _answer(start_response, 413, {"error": f"body must be at most {MAX_BODY} bytes"})
        body = environ["wsgi.input"].read(length) if length else b""
        request = WebhookRequest(
            method="POST",
            path=UPSCALE_WEBHOOK_PATH,
            query=dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)),
            headers={k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")},
            body=body,
        )
        if self.verify is not None and not self.verify(request):
            # Logged without the query string: it carries the secret.
            logger.warning("rejected an unverified webhook from %s", environ.get("REMOTE_ADDR", "?"))
            return _answer(start_response, 401, {"error": "unauthorized"})
        try:
            data = orjson.loads(body)
            event = structure_completion_event(data)
            # One batch, one identity: the id as retrieval uses it (stripped, lower case), and a value
            # that can never be a batch id is refused now rather than stored and dead-lettered later.
            event = attrs.evolve(event, secure_request_id=validate_secure_request_id(event.secure_request_id))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            message = str(exc) if isinstance(exc, ValidationError) else "body is not valid JSON"
            return _answer(start_response, 400, {"error": " ".join(message.split())})
        try:
            new = self.ledger.record_event(
                UPSCALE,
                event.secure_request_id,
                event=body.decode("utf-8", "replace"),
                destinations=self.destinations,
                now=self.clock(),
                lock_timeout=self.store_timeout,
            )
        except LedgerError as exc:
            # Not committed, so not acknowledged: the vendor retries. One line per problem, no traceback.
            self._ledger.failed(exc, message=self._busy(exc) if isinstance(exc, LedgerBusyError) else None)
            return _answer(start_response, 503, {"error": "could not store the event; retry later"})
        except Exception:
            # Not committed, so not acknowledged: the vendor retries.
            logger.exception("could not store the webhook for %s", event.secure_request_id)
            return _answer(start_response, 503, {"error": "could not store the event; retry later"})
        self._ledger.cleared()
        logger.info("webhook for %s stored (%s)", event.secure_request_id, "new" if new else "duplicate")
        # Only now, with the row committed, is the 200 started: record_event returns after COMMIT.
        response = _answer(
            start_response,
            200,
            {"ok": True, "secure_request_id": event.secure_request_id, "duplicate": not new},
        )
        if new and self.on_event is not None:
            try:
                self.on_event(UPSCALE, event.secure_request_id)
            except Exception:
                # Stored and acknowledged all the same: the worker's next sweep picks it up.
                logger.exception("could not hand %s to the relay", event.secure_request_id)
        return response

    def _busy(self, exc: LedgerBusyError) -> str:
        """The busy line for a webhook: the receiver's wait is fixed, so no setting lengthens it."""
        return (
            f"ledger {exc.where} is busy: another process (another msgrelay, a sqlite3 shell, a backup) "
            f"held its write lock for more than {self.store_timeout:g} s, the longest a webhook waits so "
            "the vendor hears an answer; webhooks are answered 503 and the vendor retries them. Find what "
            "holds the ledger that long"
        )


def _counted(start_response: Callable[..., Any]) -> Callable[..., Any]:
    """``start_response`` that also counts the webhook's answer by status, for ``GET /metrics``."""

    def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
        WEBHOOK_ANSWERS.labels(status=status.split(" ", 1)[0]).inc()
        return start_response(status, headers, *exc_info)

    return start


def _answer(
    start_response: Callable[..., Any], status: int, body: Any, *, allow: str | None = None
) -> list[bytes]:
    payload = orjson.dumps(body)
    reason = {
        200: "OK",
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        405: "Method Not Allowed",
        413: "Payload Too Large",
        503: "Service Unavailable",
    }[status]
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    if allow:
        headers.append(("Allow", allow))
    start_response(f"{status} {reason}", headers)
    return [payload]
