"""Retention: what ``msgrelay relay --prune`` and ``serve`` (with ``MSGRELAY_RETENTION_DAYS``) delete.

The ledger's finished rows (`msgrelay.ledger.Ledger.prune_delivered`: never pending, claimed or dead
ones) and the built-in store's old deliveries, both older than a number of days.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from msgrelay.config import MSGRELAY_RETENTION_DAYS, read_env
from msgrelay.destinations.pgstore import PostgresStore
from msgrelay.destinations.store import Store
from msgrelay.errors import ConfigurationError
from msgrelay.ledger import Ledger

__all__ = ["SECONDS_PER_DAY", "prune", "retention_days"]

SECONDS_PER_DAY = 86_400.0


def retention_days(environ: Mapping[str, str] | None = None) -> float | None:
    """``MSGRELAY_RETENTION_DAYS`` as days (more than 0), or None when unset (nothing is pruned)."""
    raw = read_env(MSGRELAY_RETENTION_DAYS, environ)
    if raw is None or not raw.strip():
        return None
    try:
        days = float(raw)
    except ValueError:
        raise ConfigurationError(f"{MSGRELAY_RETENTION_DAYS} must be a number of days, got {raw!r}") from None
    if not days > 0:  # NaN too
        raise ConfigurationError(f"{MSGRELAY_RETENTION_DAYS} must be more than 0 days, got {raw!r}")
    return days


def prune(ledger: Ledger, store: Store | PostgresStore, *, days: float, now: float) -> dict[str, Any]:
    """Delete the ledger's finished rows and the store's deliveries older than ``days``; the counts."""
    before = now - days * SECONDS_PER_DAY
    pruned = ledger.prune_delivered(before=before)
    return {
        "older_than_days": days,
        "ledger": pruned.to_json(),
        "store": {"deliveries": store.prune(before=before)},
    }


def pruner(
    ledger: Ledger, store: Store | PostgresStore, *, days: float, clock: Callable[[], float]
) -> Callable[[], None]:
    """A housekeeping step for `msgrelay.relay.RelayWorker`: `prune` with the clock's time."""

    def step() -> None:
        prune(ledger, store, days=days, now=clock())

    return step
