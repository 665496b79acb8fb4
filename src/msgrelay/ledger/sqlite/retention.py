"""Retention for the SQLite ledger: delivered rows and finished batches' items, removed when old.

Only finished work goes: outbox rows in state ``delivered``, the stored leads (``items``) of batches
that are fanned out with no outbox row left, and old hook errors. Pending, claimed and dead rows are
never touched, nor the items they would be retried or re-driven from. Each batch keeps its inbox row
(a few hundred bytes), so a completion webhook repeated after pruning is still recognised as already
relayed, never relayed again.
"""

from __future__ import annotations

from msgrelay.ledger.base import Pruned
from msgrelay.ledger.sqlite.base import SQLiteBase

__all__ = ["SQLiteRetention"]


class SQLiteRetention(SQLiteBase):
    """`Ledger.prune_delivered` for SQLite: one write transaction."""

    def prune_delivered(self, *, before: float) -> Pruned:
        """Delete what was finished before ``before`` (epoch seconds); how many rows of each kind.

        Args:
            before: delivered rows whose ``delivered_at`` is earlier, and items of batches fanned out
                (last changed) earlier with no outbox row left, are deleted; hook errors recorded
                earlier too.
        """
        with self._write() as c:
            outbox = c.execute(
                "DELETE FROM outbox WHERE state = 'delivered' AND delivered_at < ?", (before,)
            ).rowcount
            items = c.execute(
                "DELETE FROM items WHERE (source, batch_id) IN (SELECT b.source, b.batch_id FROM batches b"
                " WHERE b.state = 'fanned_out' AND b.updated_at < ? AND NOT EXISTS (SELECT 1 FROM outbox o"
                " WHERE o.source = b.source AND o.batch_id = b.batch_id))",
                (before,),
            ).rowcount
            hook_errors = c.execute("DELETE FROM hook_errors WHERE at < ?", (before,)).rowcount
        return Pruned(outbox=outbox, items=items, hook_errors=hook_errors)
