"""`RelayWorker`: runs the relay in the background for the webhook receiver.

The receiver answers the vendor as soon as an event is stored and hands the batch to this worker,
which relays it on its own thread. Each sweep also polls the submissions whose completion webhook
has not come (`msgrelay.relay.poll`), so no batch relies on the webhook alone. Anything the worker
does not finish (a crash, a failure) stays in the ledger and is picked up by its next sweep, which
runs every ``sweep_interval`` seconds however busy the queue is.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["RelayWorker"]

logger = logging.getLogger(__name__)


class RelayWorker:
    """Processes stored events in the background: one thread, a queue, and a periodic sweep.

    The sweep (`Relay.run_pending`) runs at start and then every ``sweep_interval`` seconds, busy or
    idle, so retries come due and work a crash left behind is resumed even under steady webhook
    traffic. Between sweeps the worker processes queued batches as they come.

    Args:
        relay_factory: makes the `msgrelay.relay.Relay` this worker uses (in its own thread).
        sweep_interval: seconds from the end of one sweep to the start of the next.
        clock: monotonic seconds; injected for tests.
    """

    def __init__(
        self,
        relay_factory: Callable[[], Any],
        *,
        sweep_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.relay_factory = relay_factory
        self.sweep_interval = sweep_interval
        self.clock = clock
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def problem(self) -> str | None:
        """Why the background relay is not running (None while it is): for ``/healthz``."""
        if self._thread is None:
            return "the background relay is not running"
        if not self._thread.is_alive():
            return "the background relay stopped"
        return None

    def submit(self, source: str, batch_id: str) -> None:
        """Queue a batch (never blocks)."""
        self._queue.put((source, batch_id))

    def start(self) -> RelayWorker:
        """Start the thread; returns self."""
        self._thread = threading.Thread(target=self._run, name="msgrelay-relay", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current batch and stop."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> RelayWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        relay = self.relay_factory()
        try:
            next_sweep = self._sweep(relay)
            while True:
                # A deadline, not an idle timeout: a webhook arriving more often than the interval
                # must not postpone the sweep for ever (retries and orphaned claims would starve).
                if self.clock() >= next_sweep:
                    next_sweep = self._sweep(relay)
                try:
                    item = self._queue.get(timeout=max(next_sweep - self.clock(), 0.0))
                except queue.Empty:
                    continue
                if item is None:
                    return
                self._safely(functools.partial(relay.process, *item))
        finally:
            relay.close()

    def _sweep(self, relay: Any) -> float:
        """Run the sweep (poll submissions without a webhook, then resume); returns when the next is due."""
        poll = getattr(relay, "poll_due", None)
        if poll is not None:  # a host's own relay object may not poll

            def poll_submissions() -> None:
                poll()  # it reports a count, not a RelayReport: nothing to log

            self._safely(poll_submissions)
        self._safely(relay.run_pending)
        # Counted from the end, so a sweep longer than the interval still leaves time for the queue.
        return self.clock() + self.sweep_interval

    @staticmethod
    def _safely(step: Callable[[], Any]) -> None:
        try:
            report = step()
            if report is not None and (report.errors or report.delivered):
                logger.info("relay: %s", orjson.dumps(report.to_json()).decode())
        except (Exception, SystemExit, GeneratorExit):
            # The ledger keeps the work; the next sweep picks it up. SystemExit too: on this thread it
            # can only come from a plugin, and must not end the relaying while webhooks are answered 200.
            logger.exception("relay step failed; it will be retried")
