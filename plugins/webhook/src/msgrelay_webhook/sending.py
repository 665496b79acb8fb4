"""Sending a batch several requests at a time: lanes on a bounded pool of threads, stopped by the endpoint.

`LanePool.send` takes a batch split into lanes (`msgrelay_webhook.lanes`) and a function that sends
one delivery. Each lane is sent in order, one request at a time; up to ``concurrency`` lanes are sent
at once, on threads of a pool that lives as long as the destination (started on first use, ended by
`LanePool.close`). With a concurrency of 1, or a single lane, everything is sent on the caller's own
thread, one after the other, and no thread is started.

The rules of a sequential batch hold:

- every failure is returned by delivery key, for the relay to record (retry or dead letter);
- after a failure that concerns the endpoint (`ends_batch`: it is down, refuses us, rate-limits us),
  no further request is started: the deliveries not yet sent fail with `NotSentError` (which carries
  the cause's ``Retry-After``). Requests already in flight finish, so a dead endpoint sees at most
  ``concurrency`` requests of a batch, and those time out together, not one after the other;
- a failure of one payload (a 400, 413, an oversized body) fails that delivery only; the rest of its
  lane is still sent, since nothing will be retried before it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from concurrent.futures.thread import _threads_queues
from typing import cast

from msgrelay import Delivery
from msgrelay_webhook.errors import NotSentError, ends_batch

__all__ = ["LanePool"]


class _Batch:
    """One `LanePool.send` call's shared state: the lanes still to take, the failures, the stop."""

    def __init__(self, lanes: Sequence[Sequence[Delivery]], send: Callable[[Delivery], None]) -> None:
        self.send = send
        self.failures: dict[str, BaseException] = {}
        #: The failure that ended the batch; read without the lock (a reference read is atomic).
        self.stop: BaseException | None = None
        self._lanes: Iterator[Sequence[Delivery]] = iter(lanes)
        self._lock = threading.Lock()

    def run(self) -> None:
        """Take lanes and send them until none is left (one worker's loop)."""
        while True:
            with self._lock:
                lane = next(self._lanes, None)
            if lane is None:
                return
            for delivery in lane:
                self._one(delivery)

    def halt(self, cause: BaseException) -> None:
        """Start no further request; what is not sent yet fails with ``NotSentError(cause)``."""
        with self._lock:
            if self.stop is None:
                self.stop = cause

    def _one(self, delivery: Delivery) -> None:
        stop = self.stop
        if stop is not None:
            self._failed(delivery, NotSentError(stop))
            return
        try:
            self.send(delivery)
        except Exception as exc:  # any failure asks the relay for a retry (or a dead letter)
            self._failed(delivery, exc)
            if ends_batch(exc):
                self.halt(exc)

    def _failed(self, delivery: Delivery, exc: BaseException) -> None:
        with self._lock:
            self.failures[delivery.key] = exc


class LanePool:
    """Sends lanes of deliveries, up to ``concurrency`` at once, on threads it starts when first needed.

    Args:
        concurrency: lanes sent at once (at least 1; 1 sends everything on the caller's thread).
        name: the prefix of its threads' names (they show in thread dumps).
    """

    def __init__(self, concurrency: int, *, name: str = "msgrelay-webhook") -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.concurrency = concurrency
        self.name = name
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def send(
        self, lanes: Sequence[Sequence[Delivery]], send: Callable[[Delivery], None]
    ) -> dict[str, BaseException]:
        """Send every delivery of ``lanes`` with ``send``; the failures by delivery key.

        Returns when every delivery was sent or failed. If the calling thread is interrupted while
        it waits, no further request is started, and the interruption is raised once the requests
        in flight have finished.
        """
        batch = _Batch(lanes, send)
        workers = min(self.concurrency, len(lanes))
        if workers <= 1:
            batch.run()
            return batch.failures
        executor = self._pool()
        futures: list[Future[None]] = [executor.submit(batch.run) for _ in range(workers)]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()  # a worker's own bug (not a delivery's failure) is raised here
        except BaseException as exc:
            batch.halt(exc)
            wait(futures)
            raise
        return batch.failures

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix=self.name)
            return self._executor

    def close(self) -> None:
        """End the pool's threads once the batches in progress end, without waiting for them (a request
        to an endpoint that never answers must not hold the caller); a later `send` starts new ones."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            # Not cancelling: a batch in progress on another thread finishes and reports every outcome
            # (a cancelled worker would fail deliveries that were already sent, and they would go twice).
            executor.shutdown(wait=False)
            # Nor joined at interpreter exit (concurrent.futures joins every pool thread then): the
            # relay has released what a hung request was sending, and the process must be able to end.
            exit_joins = cast("MutableMapping[threading.Thread, object]", _threads_queues)
            for thread in list(getattr(executor, "_threads", ())):
                exit_joins.pop(thread, None)
