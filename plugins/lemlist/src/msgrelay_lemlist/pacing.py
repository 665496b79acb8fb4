"""Pacing: at most 20 requests per 2 seconds per API key, lemlist's documented limit on every route.

https://developer.lemlist.com/api-reference/getting-started/rate-limits

A `RateLimiter` is a sliding window: a request may go when fewer than ``limit`` went in the last
``period`` seconds; otherwise the caller sleeps until the oldest of them leaves the window. Requests
for one key are serialised (the lock is held while waiting), so two destinations sharing a key in one
process share one window (`limiter_for`). A 429 that arrives anyway (another process uses the key)
`hold`s the whole window until the vendor's ``Retry-After`` has passed.

The clock and the sleep are injected, so the schedule is tested without sleeping.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["PERIOD", "REQUESTS_PER_PERIOD", "RateLimiter", "limiter_for"]

#: lemlist's limit: this many requests ...
REQUESTS_PER_PERIOD = 20
#: ... per this many seconds, per API key.
PERIOD = 2.0


class RateLimiter:
    """A sliding-window limiter for one API key.

    Args:
        limit: requests allowed per ``period``.
        period: the window, in seconds.
        clock: monotonic seconds.
        sleep: waits that many seconds.
    """

    def __init__(
        self,
        limit: int = REQUESTS_PER_PERIOD,
        period: float = PERIOD,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("a rate limit needs at least 1 request per positive period")
        self.limit = limit
        self.period = period
        self.clock = clock
        self.sleep = sleep
        self._sent: deque[float] = deque()
        self._hold_until = float("-inf")
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait until one more request may go, count it, and return the time it goes."""
        with self._lock:
            while True:
                now = self.clock()
                while self._sent and self._sent[0] <= now - self.period:
                    self._sent.popleft()
                if now < self._hold_until:
                    wait = self._hold_until - now
                elif len(self._sent) >= self.limit:
                    wait = self._sent[0] + self.period - now
                else:
                    self._sent.append(now)
                    return now
                self.sleep(wait)

    def hold(self, seconds: float) -> None:
        """Send nothing more for ``seconds`` (the vendor's ``Retry-After`` after a 429)."""
        with self._lock:
            self._hold_until = max(self._hold_until, self.clock() + max(seconds, 0.0))


_LIMITERS: dict[str, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(api_key: str) -> RateLimiter:
    """The process-wide limiter of one API key (found by the key's digest, which is all it keeps)."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(digest)
        if limiter is None:
            limiter = _LIMITERS[digest] = RateLimiter()
        return limiter
