"""`RelayWorker`: runs the relay in the background for the webhook receiver.

The receiver answers the vendor as soon as an event is stored and hands the batch to this worker,
which relays it on its own thread. Each sweep also polls the submissions whose completion webhook
has not come (`msgrelay.relay.poll`), so no batch relies on the webhook alone. Anything the worker
does not finish (a crash, a failure) stays in the ledger and is picked up by its next sweep, which
runs every ``sweep_interval`` seconds however busy the queue is.
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from msgrelay.errors import LedgerError
from msgrelay.ledger.problem_log import LedgerProblemLog

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
        housekeeping: run with a sweep at start and then at most every ``housekeeping_interval``
            seconds (``serve`` passes the retention pruning when ``MSGRELAY_RETENTION_DAYS`` is set);
            a failure is logged and retried at the next interval, like any step.
        housekeeping_interval: seconds between two housekeeping runs.
    """

    def __init__(
        self,
        relay_factory: Callable[[], Any],
        *,
        sweep_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        housekeeping: Callable[[], object] | None = None,
        housekeeping_interval: float = 3600.0,
    ) -> None:
        self.relay_factory = relay_factory
        self.sweep_interval = sweep_interval
        self.clock = clock
        self.housekeeping = housekeeping
        self.housekeeping_interval = housekeeping_interval
        self._next_housekeeping: float | None = None
        # The queue, and whether the thread is waiting on it, under one lock: `wait_idle` must never
        # see the worker idle while a batch is queued, nor miss one queued while the thread is waking.
        self._cond = threading.Condition()
        self._queue: collections.deque[tuple[str, str]] = collections.deque()
        self._idle = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._relay: Any = None
        # A ledger it cannot use is logged once per problem, not at every step of every sweep.
        self._ledger = LedgerProblemLog(logger, "the background relay")
        self._ledger_failed = False

    def problem(self) -> str | None:
        """Why the background relay is not running, or cannot use the ledger (None while it relays):
        for ``/healthz``."""
        if self._thread is None:
            return "the background relay is not running"
        if not self._thread.is_alive():
            return "the background relay stopped"
        ledger = self._ledger.problem
        return f"the background relay cannot use the ledger: {ledger}" if ledger else None

    def submit(self, source: str, batch_id: str) -> None:
        """Queue a batch (never blocks)."""
        with self._cond:
            self._queue.append((source, batch_id))
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the thread has nothing queued and waits for the next batch or sweep; whether it does.

        The sweep's time is fixed by then, so a caller may move an injected clock without racing it.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self._idle and not self._queue, timeout)

    def start(self) -> RelayWorker:
        """Start the thread; returns self."""
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="msgrelay-relay", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the delivery in progress and stop: nothing more is claimed, the round's other deliveries
        are released (`Relay.stop`); batches still queued stay in the ledger for the next sweep."""
        if self._thread is not None:
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            stop = getattr(self._relay, "stop", None)
            if stop is not None:  # a host's own relay object may not stop early
                stop()
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> RelayWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        relay = self._relay = self.relay_factory()
        try:
            next_sweep = self._sweep(relay)
            while True:
                # A deadline, not an idle timeout: a webhook arriving more often than the interval
                # must not postpone the sweep for ever (retries and orphaned claims would starve).
                if self.clock() >= next_sweep:
                    next_sweep = self._sweep(relay)
                item = self._next(next_sweep)
                if self._stopping:
                    return
                if item is not None:
                    self._safely(functools.partial(relay.process, *item))
        finally:
            relay.close()

    def _next(self, next_sweep: float) -> tuple[str, str] | None:
        """The next queued batch, or None when the sweep is due (or the worker stops) first."""
        with self._cond:
            while not self._queue and not self._stopping:
                remaining = next_sweep - self.clock()
                if remaining <= 0:
                    return None
                self._idle = True
                self._cond.notify_all()
                try:
                    self._cond.wait(remaining)
                finally:
                    self._idle = False
            return self._queue.popleft() if self._queue and not self._stopping else None

    def _sweep(self, relay: Any) -> float:
        """Run the sweep (poll submissions without a webhook, then resume); returns when the next is due."""
        self._ledger_failed = False
        poll = getattr(relay, "poll_due", None)
        if poll is not None:  # a host's own relay object may not poll

            def poll_submissions() -> None:
                poll()  # it reports a count, not a RelayReport: nothing to log

            self._safely(poll_submissions)
        self._safely(relay.run_pending)
        housekeeping = self.housekeeping
        if housekeeping is not None and (
            self._next_housekeeping is None or self.clock() >= self._next_housekeeping
        ):
            self._next_housekeeping = self.clock() + self.housekeeping_interval

            def housekept() -> None:
                housekeeping()

            self._safely(housekept)
        if not self._ledger_failed:  # a whole sweep used the ledger: whatever was wrong is over
            self._ledger.cleared()
        # Counted from the end, so a sweep longer than the interval still leaves time for the queue.
        return self.clock() + self.sweep_interval

    def _safely(self, step: Callable[[], Any]) -> None:
        try:
            report = step()
            if report is not None and (report.errors or report.delivered):
                logger.info("relay: %s", orjson.dumps(report.to_json()).decode())
        except LedgerError as exc:
            # Its message is the whole story (what, which file, the fix): one line, once per problem;
            # nothing is lost, the ledger keeps the work for the sweep after it is fixed.
            self._ledger_failed = True
            self._ledger.failed(exc)
        except (Exception, SystemExit, GeneratorExit):
            # The ledger keeps the work; the next sweep picks it up. SystemExit too: on this thread it
            # can only come from a plugin, and must not end the relaying while webhooks are answered 200.
            logger.exception("relay step failed; it will be retried")
