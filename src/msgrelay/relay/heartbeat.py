"""`Heartbeat`: keeps the lease of the deliveries a worker holds alive while a destination works on them.

A claim's lease is what keeps other workers off a row; it must not run out while this worker may still
deliver the row, or a second worker takes it over and the destination gets the key twice. Renewing only
between calls cannot cover one slow call, so a thread renews every held row every third of the lease,
whatever the worker's own thread is doing. Rows it can no longer renew (the lease ran out anyway: the
process was frozen, the ledger unreachable for a whole lease) are reported `lost` and must be neither
delivered nor recorded by this worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from msgrelay.ledger.base import Ledger

__all__ = ["Heartbeat"]

logger = logging.getLogger(__name__)


class Heartbeat:
    """A thread renewing the lease of the rows `hold` was given, until they are dropped or `close`.

    One per worker, for its lifetime (started on the first `hold`): a thread per round would open a
    ledger connection per round.

    Args:
        ledger: where the leases are renewed.
        owner: the worker holding the rows.
        lease: the lease each renewal grants, in seconds.
        clock: the ledger's time (seconds since the epoch), as the claims were written.
        interval: real seconds between renewals (default: a third of the lease, so two renewals
            in a row may fail before the lease runs out).
    """

    def __init__(
        self,
        *,
        ledger: Ledger,
        owner: str,
        lease: float,
        clock: Callable[[], float],
        interval: float | None = None,
    ) -> None:
        self.ledger = ledger
        self.owner = owner
        self.lease = lease
        self.clock = clock
        self.interval = interval if interval is not None else lease / 3
        # One lock for the held set and the renewal: a row dropped (about to be settled) is never in a
        # renewal still running, so a settled row is never taken for a lost one.
        self._lock = threading.Lock()
        self._held: set[int] = set()
        self._lost: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, ids: Iterable[int]) -> None:
        """Keep these rows' leases alive from now on (forgetting the rows lost before)."""
        with self._lock:
            self._held.update(ids)
            self._lost.clear()
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="msgrelay-heartbeat", daemon=True)
                self._thread.start()

    def drop(self, ids: Iterable[int]) -> None:
        """Stop renewing these rows (they are about to be settled or released)."""
        with self._lock:
            self._held.difference_update(ids)

    def held(self) -> set[int]:
        """The rows still held (neither dropped nor lost)."""
        with self._lock:
            return set(self._held)

    def lost(self) -> set[int]:
        """The rows whose lease could not be renewed: another worker's now."""
        with self._lock:
            return set(self._lost)

    def renew(self) -> None:
        """Renew every held row once now (the thread calls this every `interval`)."""
        with self._lock:
            if not self._held:
                return
            ids = sorted(self._held)
            still = self.ledger.renew_claims(self.owner, ids, now=self.clock(), lease=self.lease)
            gone = self._held - still
            self._held -= gone
            self._lost |= gone

    def close(self) -> None:
        """Stop the thread (held rows keep the lease they have)."""
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.renew()
            except Exception:
                # A busy or failing ledger: try again next beat; the lease still has two beats to run.
                logger.warning("could not renew delivery leases; retrying", exc_info=True)
