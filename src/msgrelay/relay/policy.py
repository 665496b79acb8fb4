"""`DeliveryPolicy`: when the relay retries a failed batch or delivery, and when it gives up.

Fan-out (a retrieve that failed) and delivery (a destination that failed) follow one rule,
`DeliveryPolicy.next_attempt_at`: dead-letter it after the last attempt or when retrying cannot help
(`msgrelay.transport.is_permanent`: a 401, a 404, a wrong setting), else try again after the
jittered backoff, or later if the far side asked for longer (a 429's ``Retry-After``). The backoff is
`msgrelay.transport.jittered_backoff`, the one formula every retry in msgrelay uses.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from msgrelay.transport.retry import is_permanent, jittered_backoff, server_wait

__all__ = ["DeliveryPolicy"]


@attrs.frozen(kw_only=True)
class DeliveryPolicy:
    """When to retry a failed delivery or retrieval, and when to give up (dead-letter it).

    Attributes:
        max_attempts: attempts in total; the last failure dead-letters the row.
        backoff_base: the wait after the first failure, doubled after each later one.
        backoff_max: the longest wait.
        lease: seconds a worker holds a claimed delivery or batch before another worker may take it
            over (a dead worker on the same host is detected at once and needs no lease to end). A
            heartbeat thread renews it every third of the lease while the relay holds the rows, so a
            slow ``deliver`` call keeps its row.
        rng: a number in [0, 1) per wait (the jitter); injected for tests.
    """

    max_attempts: int = 8
    backoff_base: float = 2.0
    backoff_max: float = 900.0
    lease: float = 300.0
    rng: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)

    def delay(self, attempt: int) -> float:
        """The jittered wait after failed attempt number ``attempt`` (1-based)."""
        return jittered_backoff(attempt, base=self.backoff_base, ceiling=self.backoff_max, rng=self.rng)

    def next_attempt_at(self, attempts: int, error: BaseException, *, now: float) -> float | None:
        """When to try again after failed attempt number ``attempts``, or None to dead-letter it now.

        Args:
            attempts: the attempts made so far, the failed one included (1-based).
            error: why the last attempt failed.
            now: the time of the failure, in the relay's clock.
        """
        # A rejected key or an unknown id (401, 404...) is final: retrying would only fail again.
        if attempts >= self.max_attempts or is_permanent(error):
            return None
        # Never sooner than the far side asked for, even when our own backoff is shorter.
        return now + max(self.delay(attempts), server_wait(error) or 0.0)
