"""The steps over HTTP: ``POST /v1/steps/{name}`` and ``GET /v1/openapi.json``.

JSON in, JSON out, the same functions as ``msgrelay step NAME``, for platforms that call HTTP (Webhooks
by Zapier, n8n's HTTP Request node, Pipedream, Windmill). A bearer token (``MSGRELAY_API_TOKEN``)
guards every step, compared in constant time; with no token configured the API is off, since a step
spends the server's vendor credits. Every error is the JSON `ErrorBody` with a stable ``error.type``
(`ERROR_TYPES`). Inputs are checked against the step's signature (types by msgspec, then names and
the vendor's rules by the step) before anything is sent to a vendor.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from msgrelay import errors
from msgrelay.web.openapi import ERROR_TYPES, ErrorBody, StepFunction, input_model, openapi_document
from msgrelay.web.routing import HttpError, Request, Response, Router
from msgrelay.web.shapes import SHAPES, shape

__all__ = ["OPENAPI_PATH", "STEPS_PREFIX", "StepsApi", "bearer_matches", "error_body"]

logger = logging.getLogger(__name__)

STEPS_PREFIX = "/v1/steps/"
OPENAPI_PATH = "/v1/openapi.json"

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
    return HttpError(ERROR_TYPES[kind], error_body(kind, message, problems, **extra), headers)


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
    """

    def __init__(self, steps: Mapping[str, StepFunction], run: StepRunner, *, token: str | None) -> None:
        self.steps = steps
        self.run = run
        self._token = token or None
        # Built once: a partial input model per step, to check the types of what a caller gave.
        self._partials = {name: input_model(name, step, partial=True) for name, step in steps.items()}
        self.router = Router()
        self.router.add("POST", STEPS_PREFIX + "{name}", self.run_step)
        self.router.add("GET", OPENAPI_PATH, self.openapi)

    def __repr__(self) -> str:
        return f"StepsApi(steps={sorted(self.steps)}, enabled={self._token is not None})"

    @property
    def enabled(self) -> bool:
        """Whether a token is configured."""
        return self._token is not None

    def openapi(self, request: Request) -> Response:
        """``GET /v1/openapi.json``: public, since it holds no secret and importers fetch it without auth."""
        host = request.header("host")
        server = f"{request.header('x-forwarded-proto') or 'http'}://{host}" if host else None
        return Response(200, openapi_document(self.steps, server_url=server))

    def run_step(self, request: Request, name: str) -> Response:
        """``POST /v1/steps/{name}``."""
        if self._token is None:
            raise _fail("unauthorized", "the steps API is off: set MSGRELAY_API_TOKEN on the server")
        if not bearer_matches(request.header("authorization"), self._token):
            raise _fail("unauthorized", "send the header Authorization: Bearer <MSGRELAY_API_TOKEN>")
        if name not in self.steps:
            raise _fail("unknown_step", f"unknown step {name!r}; known: {', '.join(self.steps)}")
        wanted = request.query.get("format", "json")
        if wanted not in SHAPES:
            problem = errors.Problem("format", f"expected one of {', '.join(SHAPES)}")
            raise _fail("bad_request", str(problem), [problem])
        inputs = self._inputs(request, name)
        try:
            result = self.run(name, inputs)
        except errors.MsgrelayError as exc:
            raise _as_http(exc) from None
        except Exception:
            logger.exception("step %s failed", name)
            raise _fail("internal_error", f"step {name!r} failed; the server log has the details") from None
        return Response(200, shape(result, wanted))

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
        return body


def _as_http(exc: errors.MsgrelayError) -> HttpError:
    """One place mapping msgrelay's errors to the API's; texts are ours, and hold no credential."""
    text = " ".join(str(exc).split())
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
