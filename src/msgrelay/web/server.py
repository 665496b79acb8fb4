"""Serving a WSGI app with waitress, in the foreground or on a background thread.

The sandbox and the webhook receiver both use this; tests start them on ``127.0.0.1`` port 0 and read
the port the OS picked from `BackgroundServer.port`.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

from msgrelay.errors import ConfigurationError

logger = logging.getLogger(__name__)

# waitress set for a server in the open (issue 10, item 17). Its defaults allow 100 connections, so 100
# clients that connect and send nothing lock every other client out until they time out after 120 s;
# they also buffer a 1 GB body before the app can refuse it.
#: Connections held at once: idle or slow clients cannot fill them before `CHANNEL_TIMEOUT` frees them.
CONNECTION_LIMIT = 1000
#: Seconds a connection may sit idle (nothing received or sent) before it is closed.
CHANNEL_TIMEOUT = 15
#: The largest request body waitress accepts (413 beyond it): webhooks are 64 KB, step inputs 4 MB.
MAX_REQUEST_BODY = 5 * 1024 * 1024
_EXPOSURE = {
    "connection_limit": CONNECTION_LIMIT,
    "channel_timeout": CHANNEL_TIMEOUT,
    "max_request_body_size": MAX_REQUEST_BODY,
}


def _waitress() -> Any:
    try:
        import waitress
        import waitress.wasyncore
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigurationError("serving needs waitress: pip install 'msgrelay[server]'") from None
    return waitress


class BackgroundServer:
    """A waitress server on a daemon thread; a context manager that stops it on exit.

    Args:
        app: the WSGI application.
        host: the interface to bind; loopback by default.
        port: the port; 0 lets the OS choose (read it from `port` after `start`).
        threads: worker threads answering requests.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.threads = threads
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (valid once started)."""
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> BackgroundServer:
        """Bind and serve on a background thread; returns self."""
        waitress = _waitress()
        try:
            self._server = waitress.create_server(
                self.app,
                host=self.host,
                port=self.requested_port,
                threads=self.threads,
                ident="msgrelay",
                **_EXPOSURE,
                # Whole seconds: waitress reads this as an int, and 0 would spin a core. `stop` does not
                # wait for it, since it wakes the loop through the trigger.
                asyncore_loop_timeout=1,
            )
        except OSError as exc:  # in use, not an address of this machine, a privileged port
            raise ConfigurationError(
                f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror or exc}; "
                "pick another --port (0 = any free port) or --host"
            ) from None
        self._thread = threading.Thread(
            target=self._server.run, name=f"msgrelay-server-{self.port}", daemon=True
        )
        self._thread.start()
        logger.debug("serving on %s", self.url)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection, and wait for the serving thread to end."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        waitress = _waitress()
        done = threading.Event()
        # Let in-flight requests finish while the loop still runs: a worker that completes a response
        # wakes the loop through its trigger, which must not be closed yet.
        server.task_dispatcher.shutdown(timeout=timeout)

        def close_everything() -> None:
            # Runs on the serving thread itself, so no socket is closed under a running poll().
            waitress.wasyncore.close_all(server._map, ignore_all=True)
            done.set()

        try:
            server.trigger.pull_trigger(close_everything)
        except OSError:  # the loop already ended (its trigger is gone): nothing left to close
            done.set()
        done.wait(timeout)
        thread.join(timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> BackgroundServer:
        return self.start() if self._server is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve_forever(app: Any, *, host: str, port: int, threads: int = 8) -> None:
    """Serve in the foreground until interrupted (the CLI's ``serve`` and ``sandbox``)."""
    waitress = _waitress()
    waitress.serve(app, host=host, port=port, threads=threads, ident="msgrelay", **_EXPOSURE)
