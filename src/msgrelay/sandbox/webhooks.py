"""The sandbox's completion webhooks: posted on a background thread at their due time, with retries.

The Upscale emulator schedules one webhook per completed batch; `WebhookSender` posts it when due,
retries a failure (3xx counts as one) with backoff, and logs each attempt as a `WebhookAttempt`.
Unless told otherwise it posts only to loopback hosts, so the sandbox stays on this machine.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import attrs
import requests

__all__ = ["WebhookAttempt", "WebhookSender"]

# The emulator's logger, named as when the sender lived in `msgrelay.sandbox.upscale`, so logging
# configurations that name it still apply.
logger = logging.getLogger(__name__)


@attrs.frozen
class WebhookAttempt:
    """One completion-webhook POST the emulator made."""

    secure_request_id: str
    attempt: int
    status: int | None
    error: str | None
    at: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender:
    """Posts completion webhooks on a background thread, at their due time, with retries."""

    def __init__(
        self,
        *,
        enabled: bool,
        attempts: int,
        backoff: float,
        clock: Callable[[], float],
        external_hosts: bool = False,
    ) -> None:
        self.enabled = enabled
        self.external_hosts = external_hosts
        self.attempts = attempts
        self.backoff = backoff
        self.clock = clock
        self.log: list[WebhookAttempt] = []
        self._queue: list[tuple[float, int, int, str, Callable[[], dict[str, Any]]]] = []
        self._counter = itertools.count()
        self._wake = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._session = requests.Session()
        self._session.trust_env = False

    def schedule(self, due: float, event: Callable[[], dict[str, Any]], url: str, attempt: int = 1) -> None:
        """Send ``event()`` to ``url`` at ``due`` (seconds since the epoch)."""
        if not self.enabled:
            return
        with self._wake:
            if self._closed:
                return
            heapq.heappush(self._queue, (due, next(self._counter), attempt, url, event))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
                self._thread.start()
            self._wake.notify()

    def close(self) -> None:
        """Stop sending; pending webhooks are dropped (the sandbox is going away)."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(5)
        self._session.close()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and (not self._queue or self._queue[0][0] > self.clock()):
                    timeout = None if not self._queue else max(self._queue[0][0] - self.clock(), 0.0)
                    self._wake.wait(timeout if timeout is None else min(timeout, 0.5))
                if self._closed:
                    return
                _, _, attempt, url, event = heapq.heappop(self._queue)
            self._deliver(url, event, attempt)

    def _deliver(self, url: str, event: Callable[[], dict[str, Any]], attempt: int) -> None:
        body = event()
        status: int | None = None
        error: str | None = None
        if not self.external_hosts and not _is_loopback(url):
            # A laptop emulator has no business calling out; say why instead of trying.
            refused = WebhookAttempt(
                body["secure_request_id"], attempt, None, "refused: not a loopback host", self.clock()
            )
            with self._wake:
                self.log.append(refused)
            logger.warning(
                "sandbox webhook not sent to %s: only loopback hosts unless external_webhooks=True",
                url.split("?")[0],
            )
            return
        try:
            response = self._session.post(url, json=body, timeout=10, allow_redirects=False)
            status = response.status_code
            response.close()
        except requests.RequestException as exc:
            error = type(exc).__name__
        record = WebhookAttempt(body["secure_request_id"], attempt, status, error, self.clock())
        with self._wake:
            self.log.append(record)
        if not record.ok and attempt < self.attempts:
            delay = self.backoff * 2 ** (attempt - 1)
            logger.info(
                "webhook to %s failed (%s); retry %d in %.1f s",
                url.split("?")[0],
                status or error,
                attempt + 1,
                delay,
            )
            self.schedule(self.clock() + delay, event, url, attempt + 1)


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
