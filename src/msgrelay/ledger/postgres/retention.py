"""Retention for the PostgreSQL ledger: the rule of `msgrelay.ledger.sqlite.retention`, in one transaction.

Only finished work goes: delivered outbox rows, the items of batches fanned out with no outbox row
left, old hook errors. Pending, claimed and dead rows, and every batch's inbox row, stay.
"""

from __future__ import annotations

from msgrelay.ledger.base import Pruned
from msgrelay.ledger.postgres.base import PostgresBase

__all__ = ["PostgresRetention"]


class PostgresRetention(PostgresBase):
    """`Ledger.prune_delivered` for PostgreSQL."""

    def prune_delivered(self, *, before: float) -> Pruned:
        """Delete what was finished before ``before`` (epoch seconds); how many rows of each kind."""
        with self._tx() as c:
            outbox = c.execute(
                "DELETE FROM outbox WHERE state = 'delivered' AND delivered_at < %s", (before,)
            ).rowcount
            items = c.execute(
                "DELETE FROM items i USING batches b WHERE i.source = b.source AND i.batch_id = b.batch_id"
                " AND b.state = 'fanned_out' AND b.updated_at < %s AND NOT EXISTS (SELECT 1 FROM outbox o"
                " WHERE o.source = b.source AND o.batch_id = b.batch_id)",
                (before,),
            ).rowcount
            hook_errors = c.execute("DELETE FROM hook_errors WHERE at < %s", (before,)).rowcount
        return Pruned(outbox=outbox, items=items, hook_errors=hook_errors)
