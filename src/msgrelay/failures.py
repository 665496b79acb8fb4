"""How the relay treats a failed delivery: retry later, or dead-letter at once.

Retrying cannot fix a wrong configuration, an input the destination rejects, or a missing object, so
those are dead-lettered on the first failure (``msgrelay relay --retry-dead`` re-drives them once the
cause is fixed). Anything else (timeouts, refused connections, 429, 5xx, an unknown exception) is
retried with backoff. An exception may decide for itself with a ``retryable`` attribute.
"""

from __future__ import annotations

from msgrelay import errors

#: 4xx statuses that describe a passing state rather than a wrong request.
TRANSIENT_CLIENT_STATUSES = frozenset({408, 409, 423, 425})


def is_permanent(exc: BaseException) -> bool:
    """True when retrying the same delivery cannot succeed."""
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
