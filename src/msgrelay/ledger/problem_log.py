"""`LedgerProblemLog`: a long-running part logs a ledger it cannot use once, not at every try.

``serve`` retries the ledger every few seconds (the background relay's sweep) and at every webhook; a
ledger locked for a minute or damaged would otherwise fill the log with the same failure. A
`msgrelay.errors.LedgerError` already is the whole story in one line (what, which file, the fix), so
it is logged as that line, with no traceback, when the problem starts or changes, and one line
more when the ledger can be used again.
"""

from __future__ import annotations

import logging
import threading

from msgrelay.errors import LedgerError

__all__ = ["LedgerProblemLog"]


class LedgerProblemLog:
    """The current ledger problem of one part of a process, logged once per distinct problem.

    Args:
        logger: where the lines go.
        who: what cannot use the ledger, starting each line (``the background relay``).
    """

    def __init__(self, logger: logging.Logger, who: str) -> None:
        self.logger = logger
        self.who = who
        self._lock = threading.Lock()  # the receiver's request threads share one
        self._current: str | None = None

    @property
    def problem(self) -> str | None:
        """The message of the current problem, None while the ledger can be used."""
        return self._current

    def failed(self, exc: LedgerError, *, message: str | None = None) -> None:
        """Record ``exc`` (or ``message`` in its place); log it unless it is the problem already logged."""
        line = " ".join((message or str(exc)).split())
        with self._lock:
            if line == self._current:
                return
            self._current = line
        self.logger.error("%s cannot use the ledger: %s", self.who, line)

    def cleared(self) -> None:
        """The ledger could be used: log that the problem is over, if there was one."""
        with self._lock:
            if self._current is None:
                return
            self._current = None
        self.logger.warning("%s can use the ledger again", self.who)
