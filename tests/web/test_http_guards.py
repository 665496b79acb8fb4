"""What the HTTP face refuses that ``msgrelay step`` allows: a caller's base_url with the server's keys,
bodies over the limit or without the token, long waits, and more steps at once than spare threads."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import orjson
import pytest
import requests

from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import PluginManager
from msgrelay.sandbox import Sandbox
from msgrelay.steps import STEPS
from msgrelay.web.app import ServeApp, step_slots
from msgrelay.web.console import MAX_CONSOLE_BODY
from msgrelay.web.openapi import HTTP_WAIT, MAX_HTTP_WAIT
from msgrelay.web.receiver import Receiver
from msgrelay.web.server import BackgroundServer
from msgrelay.web.steps_api import MAX_STEP_BODY
from tests.helpers import wait_until
from tests.serving import HOOK_SECRET, TOKEN, Served, serving
from tests.web.test_steps_api import LEAD, generate_inputs, post


@pytest.fixture
def served(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, msgrelay_plugins: PluginManager
) -> Iterator[Served]:
    with serving(monkeypatch, sandbox, msgrelay_plugins) as running:
        yield running


class Listener:
    """A WSGI app on 127.0.0.1 that records every request it gets (what a caller's base_url would be)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode("utf-8", "replace") if length else ""
        headers = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
        with self._lock:
            self.seen.append(f"{environ['PATH_INFO']}?{environ.get('QUERY_STRING', '')} {headers} {body}")
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"error": "nothing here"}']


@pytest.fixture
def listener() -> Iterator[tuple[Listener, str]]:
    app = Listener()
    with BackgroundServer(app) as server:
        yield app, server.url


def test_base_url_without_api_key_is_refused_and_the_servers_key_never_leaves(
    served: Served, sandbox: Sandbox, listener: tuple[Listener, str]
) -> None:
    """Every step taking base_url answers 422 naming it when no api_key comes with it; the listener
    never hears from the server, so the server's vendor keys stay home."""
    seen, url = listener
    inputs: dict[str, dict[str, Any]] = {
        "generate": generate_inputs(served),
        "retrieve": {"secure_request_id": "9c995e68-0000-4000-8000-000000000000"},
        "wait": {"secure_request_id": "9c995e68-0000-4000-8000-000000000000", "timeout": 1},
        "relay": {"secure_request_id": "9c995e68-0000-4000-8000-000000000000"},
        "credits": {},
        "collect-list": {"request_id": "r1"},
        "collect-create": {"request_id": "r1", "message": {"channel": "email"}},
        "collect-update": {"request_id": "r1", "message_id": "m1", "changes": {}},
        "collect-delete": {"request_id": "r1", "message_id": "m1"},
    }
    for name, given in inputs.items():
        for api_key in ({}, {"api_key": ""}, {"api_key": "  "}):
            answer = post(served, name, {**given, **api_key, "base_url": url})
            assert answer.status_code == 422, (name, answer.text)
            error = answer.json()["error"]
            assert (error["type"], [p["path"] for p in error["problems"]]) == ("invalid_input", ["base_url"])
    assert seen.seen == []
    # A caller's own key may go to the caller's own host: that is their key, not the server's.
    answer = post(served, "credits", {"api_key": "callers-own-key", "base_url": url})
    assert answer.json()["error"]["type"] == "vendor_error"
    assert len(seen.seen) == 1
    assert "callers-own-key" in seen.seen[0]
    assert sandbox.upscale_api_key not in seen.seen[0]
    assert sandbox.collect_api_key not in seen.seen[0]


class CountingInput(io.BytesIO):
    """A request body that remembers how much of it the app read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def call(
    app: ServeApp, method: str, path: str, body: bytes, headers: Mapping[str, str]
) -> tuple[int, Any, int]:
    """One request straight through the WSGI app: (status, body, body bytes the app read); a JSON body
    is parsed."""
    stream = CountingInput(body)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "wsgi.input": stream,
        "wsgi.url_scheme": "http",
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    }
    answered: list[tuple[str, list[tuple[str, str]]]] = []
    payload = b"".join(app(environ, lambda status, headers: answered.append((status, headers))))
    status, sent = answered[0]
    json = ("Content-Type", "application/json") in sent
    return int(status.split()[0]), orjson.loads(payload) if json else payload.decode(), stream.bytes_read


@pytest.fixture
def app() -> Iterator[ServeApp]:
    ledger = SQLiteLedger()
    try:
        receiver = Receiver(ledger=ledger, secret=HOOK_SECRET)
        yield ServeApp(ledger=ledger, receiver=receiver, steps=STEPS, run=lambda n, i: {}, token=TOKEN)
    finally:
        ledger.close()


def test_no_body_is_read_before_the_token_is_checked(app: ServeApp) -> None:
    """A step or a retry without the token is refused without reading a byte of its body."""
    body = orjson.dumps({"leads": [LEAD] * 200})
    status, answer, read = call(app, "POST", "/v1/steps/generate", body, {})
    assert (status, answer["error"]["type"], read) == (401, "unauthorized", 0)
    status, _, read = call(app, "POST", "/retry", b"destination=store", {"Cookie": "msgrelay_session=a.1.b"})
    assert (status, read) == (403, 0)
    status, _, read = call(app, "POST", "/v1/steps/status", b"{}", {"Authorization": f"Bearer {TOKEN}"})
    assert (status, read) == (200, 2)


def test_a_body_over_the_limit_is_413_with_the_error_object_and_unread(app: ServeApp) -> None:
    """Steps take up to MAX_STEP_BODY, the console's forms MAX_CONSOLE_BODY; more is 413, not read."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, answer, read = call(app, "POST", "/v1/steps/status", b" " * (MAX_STEP_BODY + 1), auth)
    assert (status, answer["error"]["type"], read) == (413, "payload_too_large", 0)
    assert str(MAX_STEP_BODY) in answer["error"]["message"]
    status, answer, read = call(app, "POST", "/login", b"t" * (MAX_CONSOLE_BODY + 1), {})
    assert (status, answer["error"]["type"], read) == (413, "payload_too_large", 0)
    status, answer, read = call(app, "POST", "/retry", b"k" * (MAX_CONSOLE_BODY + 1), auth)
    assert (status, answer["error"]["type"], read) == (413, "payload_too_large", 0)


def test_a_body_over_the_limit_is_413_over_a_real_socket(served: Served) -> None:
    """The same through waitress: 413 with the JSON error object."""
    answer = post(served, "status", b" " * (MAX_STEP_BODY + 1))
    assert answer.status_code == 413
    assert answer.json()["error"]["type"] == "payload_too_large"


def test_waits_over_http_are_capped_and_infinity_is_refused(served: Served, sandbox: Sandbox) -> None:
    """wait's timeout and relay's max_wait above the maximum, or not finite, are 422 with a hint to poll
    retrieve; nothing reaches the vendor."""
    sid = "9c995e68-0000-4000-8000-000000000000"
    cases = [
        ("wait", "timeout", MAX_HTTP_WAIT + 1),
        ("wait", "timeout", "1e400"),
        ("wait", "timeout", "inf"),
        ("wait", "timeout", 1e300),
        ("relay", "max_wait", 600),
        ("relay", "max_wait", "Infinity"),
    ]
    for name, key, value in cases:
        answer = post(served, name, {"secure_request_id": sid, key: value})
        assert answer.status_code == 422, (name, value, answer.text)
        [problem] = answer.json()["error"]["problems"]
        assert problem["path"] == key
        assert f"at most {MAX_HTTP_WAIT:g} seconds" in problem["message"]
        assert "retrieve" in problem["message"]
    assert sandbox.count("GET", "/retrieve_messages") == 0


def held_steps(entered: threading.Event, release: threading.Event, seen: list[Any]) -> dict[str, Any]:
    """A step that takes as long as the test says, standing for a long ``wait`` or ``relay``."""

    def hold(*, timeout: Annotated[float | str, HTTP_WAIT] = 600.0) -> dict[str, Any]:
        seen.append(timeout)
        entered.set()
        release.wait(30)
        return {"held": True}

    return {"hold": hold}


def test_steps_never_take_the_threads_that_answer_webhooks(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox
) -> None:
    """On 3 threads one step runs at a time; more are 503 ``busy`` at once, so webhooks and /healthz
    are still answered while a step holds its thread. A wait left out is the HTTP maximum."""
    entered, release = threading.Event(), threading.Event()
    seen: list[Any] = []
    steps = held_steps(entered, release, seen)
    ledger = SQLiteLedger()
    receiver = Receiver(ledger=ledger, secret=HOOK_SECRET)
    app = ServeApp(
        ledger=ledger,
        receiver=receiver,
        steps=steps,
        run=lambda name, inputs: steps[name](**inputs),
        token=TOKEN,
        threads=3,
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        with BackgroundServer(app, threads=3) as server, ThreadPoolExecutor(1) as pool:
            first = pool.submit(
                requests.post, f"{server.url}/v1/steps/hold", json={}, headers=auth, timeout=30
            )
            wait_until(entered.is_set, what="the first step to start")
            for _ in range(3):
                busy = requests.post(f"{server.url}/v1/steps/hold", json={}, headers=auth, timeout=10)
                assert (busy.status_code, busy.json()["error"]["type"]) == (503, "busy")
                assert busy.headers["Retry-After"] == "1"
            assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
            release.set()
            assert first.result().json() == {"held": True}
    finally:
        release.set()
        ledger.close()
    assert seen == [MAX_HTTP_WAIT]
    assert [step_slots(n) for n in (1, 2, 3, 8)] == [0, 0, 1, 6]
