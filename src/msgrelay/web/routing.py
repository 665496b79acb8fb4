"""A minimal router and WSGI adapter for the sandbox's emulated APIs.

Each emulated API is a `Router` of handlers ``handler(request, **path_params) -> Response``; a handler
raises `HttpError` to answer with an error status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import attrs
import orjson

Handler = Callable[..., "Response"]


@attrs.frozen
class Request:
    """An incoming request, as much of it as the emulators need."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-cased names
    body: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON; a 400 when it is not."""
        try:
            return orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            raise HttpError(400, {"error": "request body is not valid JSON"}) from None

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        return self.headers.get(name.lower())


JSON = "application/json"


@attrs.frozen
class Response:
    """An answer: ``body`` is encoded with orjson (None sends no body), unless ``content_type`` is not
    JSON, when ``body`` is text sent as UTF-8 (the console's pages)."""

    status: int = 200
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = JSON


class HttpError(Exception):
    """Raised by a handler to answer with an error status and JSON body."""

    def __init__(self, status: int, body: Any = None, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = tuple(headers)

    def response(self) -> Response:
        return Response(self.status, self.body, self.headers)


_PARAM = re.compile(r"\{(\w+)\}")


class Router:
    """Routes ``(method, path)`` to a handler; path patterns name segments as ``{name}``."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Decorator registering ``handler`` for ``method`` and ``pattern``."""
        regex = re.compile("^" + _PARAM.sub(r"(?P<\1>[^/]+)", pattern.rstrip("/")) + "/?$")

        def register(handler: Handler) -> Handler:
            self._routes.append((method.upper(), regex, handler))
            return handler

        return register

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register a bound method or function (the non-decorator form)."""
        self.route(method, pattern)(handler)

    def dispatch(self, request: Request) -> Response:
        """Answer a request: the handler's response, its `HttpError`, a 404 or a 405."""
        allowed: list[str] = []
        for method, regex, handler in self._routes:
            match = regex.match(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            try:
                return handler(request, **match.groupdict())
            except HttpError as exc:
                return exc.response()
        if allowed:
            return Response(
                405, {"error": f"method {request.method} not allowed"}, (("Allow", ", ".join(allowed)),)
            )
        return Response(404, {"error": f"no route for {request.method} {request.path}"})


_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    303: "See Other",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def read_request(environ: Mapping[str, Any], *, strip_prefix: str = "") -> Request:
    """Build a `Request` from a WSGI environ."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    headers = {
        key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    path = environ.get("PATH_INFO", "") or "/"
    if strip_prefix and path.startswith(strip_prefix):
        path = path[len(strip_prefix) :] or "/"
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    return Request(environ["REQUEST_METHOD"].upper(), path, query, headers, body)


def write_response(response: Response, start_response: Callable[..., Any]) -> list[bytes]:
    """Send a `Response` through WSGI."""
    if response.body is None:
        payload = b""
    elif response.content_type == JSON:
        payload = orjson.dumps(response.body)
    else:
        payload = str(response.body).encode()
    headers = [("Content-Length", str(len(payload)))]
    if response.body is not None:
        headers.append(("Content-Type", response.content_type))
    headers.extend(response.headers)
    start_response(f"{response.status} {_REASONS.get(response.status, 'Status')}", headers)
    return [payload]
