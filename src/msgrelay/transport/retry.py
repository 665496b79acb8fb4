"""When to retry, and how long to wait first: the one backoff formula and the one permanent/retry rule.

A `RetryPolicy` is a small immutable object: the transport asks it `delay(...)` after each failed
attempt and gets back the seconds to sleep, or None for "stop and raise". `jittered_backoff` is the
wait every retry msgrelay makes uses (requests here, deliveries and batches in the relay; the sandbox's
webhook sender imitates the vendor's own schedule instead), and
`is_permanent` / `server_wait` decide whether a failure is worth retrying at all and how long the far
side asked for: the relay and destination plugins apply the same rule.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable

import attrs

from msgrelay import errors

#: Statuses that say "try again later". 500 is among them because both vendors document it as "a problem
#: with our server, try again later"; only idempotent methods are resent, so a POST answered 500 never is.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Methods that may be sent twice without doing the work twice.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})
#: 4xx statuses that describe a passing state rather than a wrong request.
TRANSIENT_CLIENT_STATUSES = frozenset({408, 409, 423, 425})


def jittered_backoff(attempt: int, *, base: float, ceiling: float, rng: Callable[[], float]) -> float:
    """The wait after failed attempt number ``attempt`` (1-based): ``base`` doubled per attempt, capped
    at ``ceiling``, half of it fixed and half random.

    Half fixed, half random: never a zero wait, yet workers and clients spread out.
    """
    top = min(ceiling, base * 2.0 ** (attempt - 1))
    return top / 2 + float(rng()) * top / 2


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Exponential backoff, half fixed and half random (`jittered_backoff`), honouring ``Retry-After``
    up to a cap.

    Attributes:
        max_attempts: attempts in total, the first included (1 disables retries).
        backoff_base: the wait before the second attempt, doubled for each later one.
        backoff_max: the longest computed wait.
        retry_after_max: the longest ``Retry-After`` honoured; a longer one ends the retries at once,
            so the caller gets the error (with ``retry_after``) instead of a silent hang.
        statuses: answers worth retrying.
        idempotent_methods: methods retried after an answer or a failure mid-request. Other methods
            (POST, PATCH) are retried only when the connection was never made, so a request that may
            have reached the server is never sent twice.
    """

    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_max: float = 60.0
    statuses: frozenset[int] = RETRYABLE_STATUSES
    idempotent_methods: frozenset[str] = IDEMPOTENT_METHODS
    rng: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)

    def backoff(self, attempt: int) -> float:
        """The jittered wait after failed attempt number ``attempt`` (1-based)."""
        return jittered_backoff(attempt, base=self.backoff_base, ceiling=self.backoff_max, rng=self.rng)

    def delay_after_status(
        self, *, method: str, attempt: int, status: int, retry_after: float | None
    ) -> float | None:
        """Seconds to wait before resending after an error status, or None to give up."""
        if attempt >= self.max_attempts or status not in self.statuses:
            return None
        if method.upper() not in self.idempotent_methods:
            return None
        if retry_after is not None:
            if retry_after > self.retry_after_max:
                return None
            return max(retry_after, 0.0)
        return self.backoff(attempt)

    def delay_after_failure(
        self, *, method: str, attempt: int, may_have_reached_server: bool
    ) -> float | None:
        """Seconds to wait before resending after a transport failure, or None to give up."""
        if attempt >= self.max_attempts:
            return None
        if may_have_reached_server and method.upper() not in self.idempotent_methods:
            return None
        return self.backoff(attempt)


NO_RETRIES = RetryPolicy(max_attempts=1)


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        # "nan" and "inf" parse as floats; neither is a wait anyone can honour.
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now(), 0.0)


def is_permanent(exc: BaseException) -> bool:
    """True when retrying the same request or delivery cannot succeed.

    Retrying cannot fix a wrong configuration, an input the far side rejects, or a missing object;
    anything else (timeouts, refused connections, 408/409/423/425, 429, 5xx, an unknown exception) is
    worth retrying. An exception may decide for itself with a boolean ``retryable`` attribute.
    """
    declared = getattr(exc, "retryable", None)
    if isinstance(declared, bool):
        return not declared
    if isinstance(exc, errors.ConfigurationError | errors.ValidationError):
        return True
    if isinstance(exc, errors.ClientError):
        return exc.status not in TRANSIENT_CLIENT_STATUSES
    return False


def server_wait(exc: BaseException) -> float | None:
    """The wait the far side asked for (a 429's ``Retry-After``), if any."""
    wait = getattr(exc, "retry_after", None)
    return float(wait) if isinstance(wait, int | float) and wait >= 0 else None
