"""Cyclic garbage collection paused around one unit of relay work (a batch's fan-out, a delivery round).

A 10,000-lead batch allocates some million objects that live until the end of the batch (leads,
payloads, rows), and CPython's collector counts them as long-lived: it ran three or four full
collections of the whole heap per batch, 13-25 % of the batch's time (bench/relay_run.py, measured
with ``gc.callbacks``), and found next to nothing, since those objects are freed by their reference
counts when the batch ends. `paused_collection` switches the collector off for one such unit and back
on after it, so what little cyclic garbage the unit made is collected at the next normal threshold.

The pause is process-wide (``gc.disable``), so it is counted: with several threads relaying, the
collector comes back on when the last of them leaves, and a host that disabled it itself keeps it
off. A unit is bounded (one batch, one round of claimed rows), so memory held by cycles while paused
is bounded too.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["paused_collection"]

_lock = threading.Lock()
_paused = 0  # units running with the collector paused by us
_we_disabled = False  # whether the first of them switched it off (it was on)


@contextlib.contextmanager
def paused_collection() -> Iterator[None]:
    """Run the body with cyclic garbage collection off (reference counting still frees memory)."""
    global _paused, _we_disabled
    with _lock:
        if _paused == 0:
            _we_disabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _lock:
            _paused -= 1
            if _paused == 0 and _we_disabled:
                gc.enable()
