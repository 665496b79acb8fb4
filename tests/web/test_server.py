"""waitress set for exposure: idle connections cannot lock clients out, huge bodies are refused early."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterable
from typing import Any

import requests

from msgrelay.web.server import CONNECTION_LIMIT, MAX_REQUEST_BODY, BackgroundServer


def _ok(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(len(body)).encode()]


def test_clients_that_connect_and_send_nothing_do_not_lock_others_out() -> None:
    """150 idle connections (more than waitress's default limit of 100): a real request is still
    answered while they stay open."""
    assert CONNECTION_LIMIT > 150
    with BackgroundServer(_ok) as server, contextlib.ExitStack() as idle:
        for _ in range(150):
            idle.enter_context(socket.create_connection(("127.0.0.1", server.port)))
        # A deadline for a hung server, not a measure: the answer comes at once when it comes.
        answer = requests.post(server.url + "/", data=b"hello", timeout=60)
    assert (answer.status_code, answer.text) == (200, "5")


def test_a_body_over_the_limit_is_refused_by_the_server() -> None:
    """A request body over `MAX_REQUEST_BODY` gets 413 before the application is called."""
    calls: list[int] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        calls.append(1)
        return _ok(environ, start_response)

    with BackgroundServer(app) as server:
        answer = requests.post(server.url + "/", data=b"x" * (MAX_REQUEST_BODY + 1), timeout=60)
        assert answer.status_code == 413
        fine = requests.post(server.url + "/", data=b"x" * 1024, timeout=60)
    assert (fine.status_code, fine.text) == (200, "1024")
    assert calls == [1]
