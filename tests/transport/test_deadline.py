"""The total deadline of an HTTP call: a server trickling its answer cannot hold a call past it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from msgrelay import errors
from msgrelay.cli import main
from msgrelay.sandbox import Fault, Sandbox
from msgrelay.transport import (
    DeadlineExceeded,
    RetryPolicy,
    Timeout,
    Transport,
    default_deadline,
    enforce_deadlines,
)
from msgrelay.transport.deadline import _reaper
from msgrelay.transport.retry import NO_RETRIES

#: Seconds between two trickled bytes: each read returns well within any read timeout below.
TRICKLE = 0.2
#: A generous bound, far below what the trickle would take (60 s), and far above the 1 s deadline.
BOUND = 30.0


class TrickleServer:
    """A loopback HTTP server answering every request one byte every `TRICKLE` seconds.

    ``mode="headers"``: the status line and headers themselves trickle, and would take about 60 s.
    ``mode="body"``: the headers come at once; the 300-byte body trickles.
    ``mode="silent"``: nothing is sent; the client's read timeout ends each request.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._listener.close()
        for thread in [self._accepter, *self._threads]:
            thread.join(10)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            self.requests.append(data.split(b"\r\n", 1)[0])
            body = b"x" * 300
            if self.mode == "silent":
                self._stop.wait(60)
                return
            if self.mode == "headers":
                head, trickled = b"", b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 300 + b"\r\n\r\n"
            else:
                head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
                trickled = body
            try:
                conn.sendall(head)
                for byte in trickled:
                    if self._stop.wait(TRICKLE):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return  # the client gave up: what the deadline is for


class QuickServer:
    """Answers ``calls`` GETs on one kept-alive connection at once, then stops: ``accepted`` counts the
    connections it took (a reused connection is one)."""

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        self.accepted += 1
        with conn:
            for _ in range(self.calls):
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    def close(self) -> None:
        self._thread.join(10)
        self._listener.close()


@pytest.fixture(params=["headers", "body"])
def trickle(request: pytest.FixtureRequest) -> Iterator[TrickleServer]:
    server = TrickleServer(request.param)
    try:
        yield server
    finally:
        server.close()


def test_a_trickled_get_ends_at_its_deadline_with_a_timeout_error(trickle: TrickleServer) -> None:
    """Each byte comes well within the 1 s read timeout, yet the call ends at its 1 s deadline."""
    transport = Transport(
        base_url=trickle.url, auth=None, timeout=Timeout(connect=1.0, read=1.0, total=1.0), retry=NO_RETRIES
    )
    started = time.monotonic()
    with pytest.raises(errors.TimeoutError, match="1 s deadline") as caught:
        transport.request("GET", "/slow")
    assert time.monotonic() - started < BOUND
    assert caught.value.may_have_reached_server is True
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    transport.close()


def test_a_trickled_post_is_never_resent(trickle: TrickleServer) -> None:
    """A POST that ran out of time may have been processed: raised, not retried, whatever the policy."""
    waits: list[float] = []
    transport = Transport(
        base_url=trickle.url,
        auth=None,
        timeout=Timeout(connect=1.0, read=1.0, total=1.0),
        retry=RetryPolicy(max_attempts=3),
        sleep=waits.append,
    )
    with pytest.raises(errors.TimeoutError):
        transport.request("POST", "/slow", json={"a": 1})
    assert waits == []
    assert trickle.requests == [b"POST /slow HTTP/1.1"]
    transport.close()


def test_a_trickled_get_with_retries_ends_at_the_one_deadline_of_the_call(trickle: TrickleServer) -> None:
    """Every attempt of a call shares its deadline: four attempts allowed, a 2 s deadline, a trickle
    of about 60 s. The first attempt uses all the time there is, so no retry starts (each attempt
    with a deadline of its own would make four connections and hold the call over 8 s)."""
    transport = Transport(
        base_url=trickle.url,
        auth=None,
        timeout=Timeout(connect=1.0, read=1.0, total=2.0),
        retry=RetryPolicy(max_attempts=4),
    )
    started = time.monotonic()
    with pytest.raises(errors.TimeoutError, match="call's 2 s deadline"):
        transport.request("GET", "/slow")
    assert time.monotonic() - started < 15.0
    assert trickle.requests == [b"GET /slow HTTP/1.1"]
    transport.close()


def test_a_get_retried_after_read_timeouts_gets_only_what_is_left() -> None:
    """A silent server: each attempt ends at its 1 s read timeout and is retried, but only while the
    2.5 s deadline lasts, so at most three attempts fit where the policy allows ten."""
    server = TrickleServer("silent")
    waits: list[float] = []
    transport = Transport(
        base_url=server.url,
        auth=None,
        timeout=Timeout(connect=1.0, read=1.0, total=2.5),
        retry=RetryPolicy(max_attempts=10),
        sleep=waits.append,
    )
    started = time.monotonic()
    try:
        with pytest.raises(errors.TimeoutError):
            transport.request("GET", "/silent")
        assert time.monotonic() - started < 15.0
        assert 1 <= len(server.requests) <= 3
        assert len(waits) == len(server.requests) - 1
    finally:
        transport.close()
        server.close()


def test_a_wait_longer_than_what_is_left_ends_the_call_with_the_answer(sandbox: Sandbox) -> None:
    """A 429 asking for 10 s when the call has 3 s: not slept through, the caller gets the 429 with its
    ``retry_after`` (what the relay schedules by) at once, as for a Retry-After beyond the cap."""
    sandbox.inject(Fault("GET", "/account/check_credits", status=429, headers={"Retry-After": "10"}))
    waits: list[float] = []
    transport = Transport(
        base_url=sandbox.upscale_url,
        auth=None,
        timeout=Timeout(connect=1.0, read=1.0, total=3.0),
        retry=RetryPolicy(max_attempts=4),
        sleep=waits.append,
    )
    with pytest.raises(errors.RateLimitedError) as caught:
        transport.request("GET", "/account/check_credits")
    assert caught.value.retry_after == 10.0
    assert waits == []
    transport.close()


def test_the_cli_http_timeout_bounds_the_whole_command(capsys: pytest.CaptureFixture[str]) -> None:
    """``--http-timeout 1`` against a trickling server: the command, retries included, ends at the
    default deadline (5 s connect + 2 x 1 s read), with one line naming the deadline, not minutes later."""
    server = TrickleServer("body")
    started = time.monotonic()
    try:
        code = main(["upscale", "credits", "--api-key", "k", "--base-url", server.url, "--http-timeout", "1"])
    finally:
        server.close()
    assert time.monotonic() - started < 30.0
    assert code == 1
    err = capsys.readouterr().err
    assert "7 s deadline" in err
    assert "Traceback" not in err
    assert len(server.requests) == 1


def test_a_plugin_session_gets_the_same_deadline(trickle: TrickleServer) -> None:
    """A plain `requests` session given `enforce_deadlines` ends a trickled call with `DeadlineExceeded`,
    a `requests.Timeout`, so a plugin's ``except requests.RequestException`` still catches it."""
    session = enforce_deadlines(requests.Session())
    started = time.monotonic()
    with session, pytest.raises(requests.Timeout) as caught:
        session.get(trickle.url + "/slow", timeout=Timeout(1.0, 1.0, 1.0).for_requests())
    assert time.monotonic() - started < BOUND
    assert isinstance(caught.value, DeadlineExceeded)
    assert caught.value.seconds == 1.0


def test_a_quick_answer_is_unaffected_and_the_connection_reused() -> None:
    """Within its deadline a call works as before, and its connection goes back to the pool."""
    server = QuickServer(2)
    transport = Transport(base_url=server.url, auth=None, timeout=Timeout(1.0, 1.0, 0.5), retry=NO_RETRIES)
    for _ in range(2):
        assert transport.request_json("GET", "/quick") == (200, {})
    server.close()
    transport.close()
    assert server.accepted == 1


def test_the_default_deadline() -> None:
    """Left out, the deadline is connect + 2 * read, with no floor; given, it is used as is."""
    assert Timeout().deadline == default_deadline(5.0, 30.0) == 65.0
    assert Timeout(1.0, 1.0).deadline == 3.0
    assert Timeout.coerce((2.0, 3.0, 4.0)) == Timeout(2.0, 3.0, 4.0)
    urllib3_timeout = Timeout(2.0, 3.0, 4.0).for_requests()
    assert (urllib3_timeout.connect_timeout, urllib3_timeout.total) == (2.0, 4.0)
    assert Timeout(2.0, 3.0, 4.0).for_requests(1.5).total == 1.5  # a later attempt: what is left


def test_calls_within_their_deadline_start_no_thread_each() -> None:
    """One shared thread watches every call's deadline: 50 calls leave the process with at most one
    watcher, not a timer thread per call (each would cost a thread start on every request)."""
    calls = 50
    server = QuickServer(calls)
    transport = Transport(base_url=server.url, auth=None, timeout=Timeout(5.0, 5.0, 60.0), retry=NO_RETRIES)
    started: list[threading.Thread] = []
    real_start = threading.Thread.start

    def counting_start(self: threading.Thread) -> None:
        started.append(self)
        real_start(self)

    threading.Thread.start = counting_start  # type: ignore[method-assign]
    try:
        for _ in range(calls):
            assert transport.request_json("GET", "/quick") == (200, {})
    finally:
        threading.Thread.start = real_start  # type: ignore[method-assign]
        server.close()
        transport.close()
    assert len(started) <= 1, [t.name for t in started]


def test_finished_calls_do_not_pile_up_in_the_deadline_heap() -> None:
    """A call that ended in time leaves no lasting entry behind: 1000 quick calls under a 60 s deadline
    leave the shared heap small (2 x calls in flight + 64 at most), not 1000 entries waiting 60 s."""
    calls = 1000
    server = QuickServer(calls)
    session = enforce_deadlines(requests.Session())
    url = f"{server.url}/quick"
    try:
        for _ in range(calls):
            assert session.get(url, timeout=Timeout(5.0, 5.0, 60.0).for_requests()).status_code == 200
    finally:
        server.close()
        session.close()
    assert _reaper.size <= 200
