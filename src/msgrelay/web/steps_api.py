"""The steps over HTTP: ``POST /v1/steps/{name}`` and ``GET /v1/openapi.json``.

JSON in, JSON out, the same functions as ``msgrelay step NAME``, for platforms that call HTTP (Webhooks
by Zapier, n8n's HTTP Request node, Pipedream, Windmill). A bearer token (``MSGRELAY_API_TOKEN``)
guards every step, compared in constant time; with no token configured the API is off, since a step
spends the server's vendor credits. Every error is the JSON `ErrorBody` with a stable ``error.type``
(`ERROR_TYPES`). Inputs are checked against the step's signature (types by msgspec, then names and
the vendor's rules by the step) before anything is sent to a vendor.

The HTTP face is stricter than ``msgrelay step``, whose caller owns the server's keys:
- ``base_url`` is refused unless ``api_key`` comes with it, or a caller could send the server's vendor
  keys to a host of their choosing;
- the token is checked before the body is read, and a body over `MAX_STEP_BODY` is refused (413);
- waits (inputs marked `HTTP_WAIT`) are at most `MAX_HTTP_WAIT` seconds, and at most ``slots`` steps
  run at once (503 ``busy`` beyond), so the server's other threads stay free for the vendor's webhooks.
"""

from __future__ import annotations

import hmac
import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec

from msgrelay import errors
from msgrelay.relay.submit import SubmissionInDoubtError
from msgrelay.web.openapi import (
    ERROR_TYPES,
    MAX_HTTP_WAIT,
    ErrorBody,
    StepFunction,
    http_waits,
    input_model,
    openapi_document,
)
from msgrelay.web.routing import HttpError, Request, Response, Router
from msgrelay.web.shapes import SHAPES, shape

__all__ = [
    "MAX_STEP_BODY",
    "OPENAPI_PATH",
    "STEPS_PREFIX",
    "StepsApi",
    "bearer_matches",
    "error_body",
    "too_large",
]

logger = logging.getLogger(__name__)

STEPS_PREFIX = "/v1/steps/"
OPENAPI_PATH = "/v1/openapi.json"
#: The largest body a step accepts: thousands of leads fit; a 1 GB upload is refused unread.
MAX_STEP_BODY = 4 * 1024 * 1024

#: Runs a step by name with its inputs (``msgrelay.steps.run_step``): checks names, then calls it.
StepRunner = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]


def error_body(kind: str, message: str, problems: Sequence[errors.Problem] = (), **extra: Any) -> ErrorBody:
    """The JSON error object; ``kind`` is one of `ERROR_TYPES`."""
    assert kind in ERROR_TYPES, kind
    detail: Any = {
        "type": kind,
        "message": message,
        "problems": [{"path": p.path, "message": p.message} for p in problems],
        **extra,
    }
    return {"error": detail}


def _fail(kind: str, message: str, problems: Sequence[errors.Problem] = (), **extra: Any) -> HttpError:
    headers = [("WWW-Authenticate", 'Bearer realm="msgrelay"')] if kind == "unauthorized" else []
    if kind == "busy":
        headers.append(("Retry-After", "1"))
    return HttpError(ERROR_TYPES[kind], error_body(kind, message, problems, **extra), headers)


def too_large(limit: int) -> Response:
    """The 413 answer for a body over ``limit`` bytes (the steps API's and the console's)."""
    return _fail("payload_too_large", f"the body must be at most {limit} bytes").response()


def _given(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _seconds(value: Any) -> float | None:
    """``value`` as a number of seconds, or None when it is none (the step then says what is wrong)."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def bearer_matches(header: str | None, token: str) -> bool:
    """True when an ``Authorization`` header holds ``Bearer <token>``; constant time in the token."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _msgspec_path(message: str) -> tuple[str, str]:
    # msgspec says "Expected `str`, got `int` - at `$.leads[0]`": the wire path without the "$.".
    text, sep, where = message.rpartition(" - at `")
    if not sep:
        return "", message
    return where.rstrip("`").removeprefix("$").removeprefix("."), text


class StepsApi:
    """The WSGI-free handlers of the steps API, on the shared `Router`.

    Args:
        steps: the steps by name (``msgrelay.steps.STEPS``), for their signatures.
        run: runs a step by name (``msgrelay.steps.run_step``).
        token: the bearer token; None or empty turns the API off (every step answers 401).
        slots: how many steps may run at once; None for no limit. ``msgrelay serve`` keeps some of
            its threads for webhooks and gives steps the rest (`msgrelay.web.app.step_slots`).
        public_url: the base URL the OpenAPI document advertises; None advertises ``/``.
    """

    #: The largest body `ServeApp` reads for this API.
    max_body = MAX_STEP_BODY

    def __init__(
        self,
        steps: Mapping[str, StepFunction],
        run: StepRunner,
        *,
        token: str | None,
        slots: int | None = None,
        public_url: str | None = None,
    ) -> None:
        self.steps = steps
        self.run = run
        self._token = token or None
        self.slots = slots
        self.public_url = public_url
        # Non-blocking acquire: a step over the limit is answered 503 at once, holding no thread.
        self._slots = threading.BoundedSemaphore(slots) if slots is not None and slots > 0 else None
        # Built once: a partial input model per step, to check the types of what a caller gave.
        self._partials = {name: input_model(name, step, partial=True) for name, step in steps.items()}
        self._waits = {name: http_waits(step) for name, step in steps.items()}
        self.router = Router()
        self.router.add("POST", STEPS_PREFIX + "{name}", self.run_step)
        self.router.add("GET", OPENAPI_PATH, self.openapi)

    def __repr__(self) -> str:
        return f"StepsApi(steps={sorted(self.steps)}, enabled={self._token is not None}, slots={self.slots})"

    @property
    def enabled(self) -> bool:
        """Whether a token is configured."""
        return self._token is not None

    def admit(self, request: Request) -> Response | None:
        """The refusal of a request before its body is read (no or a wrong token), else None."""
        if request.method == "POST" and request.path.startswith(STEPS_PREFIX):
            try:
                self._check_token(request)
            except HttpError as exc:
                return exc.response()
        return None

    def _check_token(self, request: Request) -> None:
        if self._token is None:
            raise _fail("unauthorized", "the steps API is off: set MSGRELAY_API_TOKEN on the server")
        if not bearer_matches(request.header("authorization"), self._token):
            raise _fail("unauthorized", "send the header Authorization: Bearer <MSGRELAY_API_TOKEN>")

    def openapi(self, request: Request) -> Response:
        """``GET /v1/openapi.json``: public, since it holds no secret and importers fetch it without auth."""
        return Response(200, openapi_document(self.steps, server_url=self.public_url))

    def run_step(self, request: Request, name: str) -> Response:
        """``POST /v1/steps/{name}``."""
        self._check_token(request)
        if name not in self.steps:
            raise _fail("unknown_step", f"unknown step {name!r}; known: {', '.join(self.steps)}")
        wanted = request.query.get("format", "json")
        if wanted not in SHAPES:
            problem = errors.Problem("format", f"expected one of {', '.join(SHAPES)}")
            raise _fail("bad_request", str(problem), [problem])
        inputs = self._inputs(request, name)
        with self._slot():
            try:
                result = self.run(name, inputs)
            except errors.MsgrelayError as exc:
                raise _as_http(exc) from None
            except Exception:
                logger.exception("step %s failed", name)
                text = f"step {name!r} failed; the server log has the details"
                raise _fail("internal_error", text) from None
        return Response(200, shape(result, wanted))

    @contextmanager
    def _slot(self) -> Iterator[None]:
        if self.slots is None:
            yield
            return
        if self._slots is None or not self._slots.acquire(blocking=False):
            raise _fail(
                "busy",
                f"{self.slots or 0} step(s) already running, the most this server runs at once so that "
                "webhooks are always answered; retry shortly, or start serve with more --threads",
            )
        try:
            yield
        finally:
            self._slots.release()

    def _inputs(self, request: Request, name: str) -> dict[str, Any]:
        try:
            body = request.json() if request.body else {}
        except HttpError:
            raise _fail("bad_request", "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _fail("bad_request", f"the body must be a JSON object of inputs, got {type(body).__name__}")
        try:
            msgspec.convert(body, self._partials[name], strict=True)
        except msgspec.ValidationError as exc:
            path, message = _msgspec_path(str(exc))
            problem = errors.Problem(path, message)
            raise _fail("invalid_input", f"invalid inputs of step {name!r}: {problem}", [problem]) from None
        problems = [*self._http_problems(name, body)]
        if problems:
            text = "; ".join(str(p) for p in problems)
            raise _fail("invalid_input", f"invalid inputs of step {name!r}: {text}", problems)
        return body

    def _http_problems(self, name: str, body: dict[str, Any]) -> Iterator[errors.Problem]:
        """The HTTP face's own rules; fills in waits left out with at most `MAX_HTTP_WAIT`."""
        if _given(body.get("base_url")) and not _given(body.get("api_key")):
            # Else the server's UPSCALE_API_KEY / COLLECT_API_KEY would go to the caller's host. A blank
            # value counts as none given, as the clients count it (Zapier sends "" for empty fields).
            yield errors.Problem(
                "base_url",
                "over HTTP only with api_key: the server's own keys go only to its configured base URL",
            )
        for key, default in self._waits[name].items():
            if key not in body:
                if default > MAX_HTTP_WAIT:
                    body[key] = MAX_HTTP_WAIT
                continue
            seconds = _seconds(body[key])
            if seconds is not None and not (math.isfinite(seconds) and seconds <= MAX_HTTP_WAIT):
                yield errors.Problem(
                    key,
                    f"at most {MAX_HTTP_WAIT:g} seconds over HTTP, got {body[key]!r}; to wait longer, "
                    "call the retrieve step again until complete is true",
                )


def _as_http(exc: errors.MsgrelayError) -> HttpError:
    """One place mapping msgrelay's errors to the API's; texts are ours, and hold no credential."""
    text = " ".join(str(exc).split())
    if isinstance(exc, SubmissionInDoubtError):
        return _fail("submission_in_doubt", text)
    if isinstance(exc, errors.ValidationError):
        return _fail("invalid_input", text, exc.problems)
    if isinstance(exc, errors.ConfigurationError):
        return _fail("configuration_error", text)
    if isinstance(exc, errors.BadRequestError):
        problems = [errors.Problem(path, exc.vendor_message) for path in exc.paths]
        return _fail("vendor_rejected", text, problems, vendor_status=exc.status)
    if isinstance(exc, errors.ApiError):
        return _fail("vendor_error", text, vendor_status=exc.status)
    if isinstance(exc, errors.WaitTimeoutError):
        return _fail("wait_timeout", text)
    return _fail("vendor_unreachable", text)
