"""The sandbox: both vendor APIs emulated in one WSGI app, served on loopback.

``with Sandbox() as sandbox:`` starts it on ``127.0.0.1`` with a port the OS picks; ``sandbox.upscale_url``
and ``sandbox.collect_url`` are the base URLs to give the clients, ``sandbox.upscale_api_key`` and
``sandbox.collect_api_key`` the keys it accepts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import attrs

from msgrelay.sandbox.collect import CollectSandbox
from msgrelay.sandbox.faults import Fault, FaultPlan
from msgrelay.sandbox.upscale import UpscaleSandbox
from msgrelay.web.routing import Request, Response, read_request, write_response
from msgrelay.web.server import BackgroundServer

UPSCALE_PREFIX = "/upscale/api/v2"
COLLECT_PREFIX = "/collect/v1"

#: Keys the sandbox accepts unless told otherwise. Not secrets: they open nothing but the sandbox.
SANDBOX_UPSCALE_KEY = "sandbox-upscale-key-0000000000000000"
SANDBOX_COLLECT_KEY = "sandbox-collect-key-0000000000000000"


@attrs.frozen
class LoggedRequest:
    """A request the sandbox answered."""

    method: str
    path: str
    status: int


class SandboxApp:
    """The WSGI app: routes ``/upscale/api/v2/...`` and ``/collect/v1/...`` to their emulators.

    Every answered request is appended to `requests` (method, path, status); scripted `faults` apply
    before the emulators see a request.
    """

    def __init__(self, upscale: UpscaleSandbox, collect: CollectSandbox) -> None:
        self.upscale = upscale
        self.collect = collect
        self.faults = FaultPlan()
        self.requests: list[LoggedRequest] = []
        self._log_lock = threading.Lock()
        self._mounts: list[tuple[str, Callable[[Request], Response]]] = [
            (UPSCALE_PREFIX, upscale.dispatch),
            (COLLECT_PREFIX, collect.dispatch),
        ]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in {"/", "/healthz"}:
            return write_response(
                Response(200, {"ok": True, "apis": [p for p, _ in self._mounts]}), start_response
            )
        method = environ.get("REQUEST_METHOD", "GET").upper()
        fault = self.faults.take(method, path)
        if fault is not None and fault.status is not None:
            response = Response(fault.status, fault.body, tuple(fault.headers.items()))
        else:
            response = self._dispatch(path, environ)
        if fault is not None and fault.delay > 0:
            time.sleep(fault.delay)
        with self._log_lock:
            self.requests.append(LoggedRequest(method, path, response.status))
        return write_response(response, start_response)

    def _dispatch(self, path: str, environ: dict[str, Any]) -> Response:
        for prefix, dispatch in self._mounts:
            if path.startswith(prefix + "/") or path == prefix:
                return dispatch(read_request(environ, strip_prefix=prefix))
        return Response(404, {"error": f"unknown path {path}"})

    def count(self, method: str, path_suffix: str) -> int:
        """How many ``method`` requests to paths ending with ``path_suffix`` were answered."""
        with self._log_lock:
            return sum(1 for r in self.requests if r.method == method and r.path.endswith(path_suffix))


class Sandbox:
    """Both emulated APIs on one loopback server.

    Args:
        host: interface to bind (loopback by default).
        port: 0 for any free port.
        upscale_api_key / collect_api_key: the keys accepted.
        credits: the Upscale account's monthly message allowance.
        seconds_per_message: how long the Upscale emulator takes per message; 0 completes at once.
        webhook_delivery: whether the Upscale emulator POSTs completion webhooks.
        threads: waitress worker threads.
        clock: seconds since the epoch, for the Upscale emulator (tests pass a settable one).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        upscale_api_key: str = SANDBOX_UPSCALE_KEY,
        collect_api_key: str = SANDBOX_COLLECT_KEY,
        credits: int = 10_000,
        seconds_per_message: float = 0.02,
        webhook_delivery: bool = True,
        threads: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.upscale_api_key = upscale_api_key
        self.collect_api_key = collect_api_key
        self.upscale = UpscaleSandbox(
            api_key=upscale_api_key,
            credits=credits,
            seconds_per_message=seconds_per_message,
            webhook_delivery=webhook_delivery,
            clock=clock,
        )
        self.collect = CollectSandbox(api_key=collect_api_key)
        self.app = SandboxApp(self.upscale, self.collect)
        self._server = BackgroundServer(self.app, host=host, port=port, threads=threads)

    @property
    def faults(self) -> FaultPlan:
        """Scripted faults: ``sandbox.faults.add(Fault("GET", "/account/check_credits", status=429))``."""
        return self.app.faults

    def inject(self, fault: Fault) -> None:
        """Shortcut for ``sandbox.faults.add(fault)``."""
        self.app.faults.add(fault)

    def count(self, method: str, path_suffix: str) -> int:
        """How many ``method`` requests to paths ending with ``path_suffix`` the sandbox answered."""
        return self.app.count(method, path_suffix)

    @property
    def url(self) -> str:
        """The server's root URL."""
        return self._server.url

    @property
    def upscale_url(self) -> str:
        """Base URL for `UpscaleClient` (``base_url=``)."""
        return self.url + UPSCALE_PREFIX

    @property
    def collect_url(self) -> str:
        """Base URL for `CollectClient` (``base_url=``)."""
        return self.url + COLLECT_PREFIX

    def start(self) -> Sandbox:
        """Start serving on a background thread."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and the webhook sender."""
        self.upscale.close()
        self._server.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
