"""A hard deadline for a whole HTTP call: connect, send, status line, headers and body together.

`requests` and urllib3 only bound each socket operation (urllib3's own ``Timeout(total=...)`` shrinks
the read timeout once, when the reading starts), so a server trickling one byte every half second holds
a call under a 1 s read timeout for as long as it likes. Checking the clock between body chunks does not
help either: a read of N bytes blocks until N bytes came, and the headers are read before any chunk.

So a watchdog ends the call: `DeadlineAdapter` (mounted on a session by `enforce_deadlines`) starts a
watch for each request that carries a total (``timeout=Timeout(...).for_requests()``), which one shared
thread expires at its deadline, earliest first. The connections the request uses register themselves
with it, and at the deadline it shuts their sockets down, which wakes a blocked ``recv`` or ``send`` at
once. The call then raises `DeadlineExceeded`, a `requests.ReadTimeout`, so code that catches
`requests.RequestException` and maps it with `msgrelay.transport.map_request_exception` gets a
`msgrelay.errors.TimeoutError` without a change.

The body is read inside the deadline only when the request is not streamed (``stream=False``, what every
msgrelay client and plugin does); a streamed body is the caller's to bound.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from typing import Any

import requests
import requests.adapters
import urllib3
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import ProxyManager

__all__ = ["DeadlineAdapter", "DeadlineExceeded", "enforce_deadlines"]

_current = threading.local()

#: The fewest entries the deadline heap sweeps its finished watches from.
_MIN_COMPACT = 64


class DeadlineExceeded(requests.exceptions.ReadTimeout):
    """The call's total deadline passed before its answer was complete (it may have been processed).

    Attributes:
        seconds: the deadline, in seconds from the start of the call.
    """

    def __init__(self, *, seconds: float) -> None:
        # No request or URL kept: the URL may carry a secret, and this error is mapped, never shown.
        super().__init__(f"no complete answer within the {seconds:g} s deadline")
        self.seconds = seconds


class _Reaper:
    """One daemon thread that expires every call's `_Watchdog` at its deadline, earliest first.

    A thread per call (`threading.Timer`) would cost a thread start and stop on every request, which is
    most of a loopback POST's budget; a call that ends in time only marks its entry done here, and the
    entry is dropped when it reaches the top of the heap, or earlier by `_compact`.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watchdog]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._compact_at = _MIN_COMPACT

    def schedule(self, watchdog: _Watchdog, when: float) -> None:
        with self._cond:
            if len(self._heap) >= self._compact_at:
                self._compact()
            heapq.heappush(self._heap, (when, next(self._order), watchdog))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="msgrelay-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is watchdog:
                self._cond.notify()  # an earlier deadline than the one the thread sleeps towards

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].finished:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    when, _, due = self._heap[0]
                    left = when - time.monotonic()
                    if left <= 0:
                        heapq.heappop(self._heap)
                        break
                    self._cond.wait(left)
            due.expire()  # outside the lock: shutting sockets down must not hold up scheduling

    def _compact(self) -> None:
        # Finished watches wait in the heap for their deadline to reach its top: 100k quick calls under
        # a 65 s deadline once kept 84k of them (32 MB). Drop them whenever the heap has doubled since
        # the last sweep: at most 2 x live + _MIN_COMPACT entries, each swept once (amortised O(1)).
        # Only entries go; the reaper thread rereads the top when it wakes.
        self._heap = [entry for entry in self._heap if not entry[2].finished]
        heapq.heapify(self._heap)
        self._compact_at = max(_MIN_COMPACT, 2 * len(self._heap))

    @property
    def size(self) -> int:
        """Entries in the heap, finished or not (tests check it stays bounded)."""
        with self._cond:
            return len(self._heap)

    def after_fork(self) -> None:
        # The child has no reaper thread and must not wait on a lock a parent's thread held.
        self._cond = threading.Condition()
        self._heap = []
        self._thread = None
        self._compact_at = _MIN_COMPACT


_reaper = _Reaper()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reaper.after_fork)


class _Watchdog:
    """Shuts down the sockets of one call's connections when its deadline passes."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._connections: list[object] = []
        self.seconds = seconds
        self.expired = False
        self.finished = False

    def start(self) -> None:
        _reaper.schedule(self, time.monotonic() + self.seconds)

    def watch(self, connection: object) -> None:
        with self._lock:
            if connection not in self._connections:
                self._connections.append(connection)
            if self.expired:
                _shut(connection)

    def finish(self) -> bool:
        """End the watch; whether the deadline passed (the call's outcome cannot be trusted then)."""
        with self._lock:
            self.finished = True
            self._connections.clear()
            return self.expired

    def expire(self) -> None:
        with self._lock:
            if self.finished:
                return
            self.expired = True
            for connection in self._connections:
                _shut(connection)


def _shut(connection: object) -> None:
    # A socket still connecting is None here; urllib3 then finds no time left for the read (its total
    # is the same deadline) and fails at once. shutdown, not close: it wakes the thread blocked on the
    # socket, and leaves closing the descriptor to that thread, so it is never reused under it.
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):  # already closed or reset: nothing left to wake
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _register(connection: object) -> None:
    watchdog: _Watchdog | None = getattr(_current, "watchdog", None)
    if watchdog is not None:
        watchdog.watch(connection)


class _WatchedHTTPPool(HTTPConnectionPool):
    """Hands each connection it lends to the current call's watchdog, before it connects or sends.

    The connection class is left as it is (`ConnectionCls`), so whatever patches it (a cassette
    recorder) still works.
    """

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        _register(connection)
        return connection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    """`_WatchedHTTPPool` for ``https://``."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        _register(connection)
        return connection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class DeadlineAdapter(requests.adapters.HTTPAdapter):
    """An `HTTPAdapter` that ends a request at its total deadline, however the server trickles.

    A request sent with ``timeout=urllib3.Timeout(connect=..., read=..., total=...)`` (what
    `msgrelay.transport.Timeout.for_requests` returns) raises `DeadlineExceeded` once ``total`` seconds
    have passed without a complete answer; any other timeout works as with a plain `HTTPAdapter`.
    Requests through a SOCKS proxy keep only the per-operation timeouts.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is ProxyManager:  # a SOCKS manager has pools of its own kind
            manager.pool_classes_by_scheme = _POOLS
        return manager

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        total = timeout.total if isinstance(timeout, urllib3.Timeout) else None
        if not isinstance(total, int | float):
            return super().send(
                request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
            )
        watchdog = _Watchdog(float(total))
        outer = getattr(_current, "watchdog", None)
        _current.watchdog = watchdog
        watchdog.start()
        failure: requests.RequestException | None = None
        response: requests.Response | None = None
        try:
            response = super().send(
                request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
            )
            if not stream:
                response.content  # noqa: B018 - read the body now, inside the deadline
        except requests.RequestException as exc:
            failure = exc
        finally:
            _current.watchdog = outer
            expired = watchdog.finish()
        if expired:
            # Whatever the shut socket made of the call (a reset, a short body): it ran out of time. Raised
            # outside the `except`, so no chained exception carries the request and its URL.
            del failure
            if response is not None:
                response.close()
            raise DeadlineExceeded(seconds=float(total))
        if failure is not None:
            raise failure
        assert response is not None  # no failure means an answer
        return response


def enforce_deadlines(session: requests.Session) -> requests.Session:
    """Mount a `DeadlineAdapter` for ``http://`` and ``https://`` on ``session``; returns it.

    An adapter a caller mounted of another kind (a test double, a custom transport) is left in place:
    requests through it keep only the per-operation timeouts. A plain `HTTPAdapter` is replaced by one
    with the same pool sizes and retries.
    """
    for prefix in ("https://", "http://"):
        current = session.adapters.get(prefix)
        if type(current) is not requests.adapters.HTTPAdapter:
            continue
        session.mount(
            prefix,
            DeadlineAdapter(
                # What `HTTPAdapter` keeps of its arguments (for pickling), so the sizes carry over.
                pool_connections=getattr(current, "_pool_connections", requests.adapters.DEFAULT_POOLSIZE),
                pool_maxsize=getattr(current, "_pool_maxsize", requests.adapters.DEFAULT_POOLSIZE),
                max_retries=current.max_retries,
                pool_block=getattr(current, "_pool_block", requests.adapters.DEFAULT_POOLBLOCK),
            ),
        )
    return session
