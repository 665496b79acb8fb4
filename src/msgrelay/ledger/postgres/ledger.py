"""`PostgresLedger`: the ledger in a PostgreSQL database, shared by workers on any number of machines.

Assembled from one part per group of tables (`msgrelay.ledger.postgres.submissions`, `.inbox`,
`.outbox`, all on `msgrelay.ledger.postgres.base`), as `SQLiteLedger` is, and adds the reports that
span them. These modules are the only ones with PostgreSQL's SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from msgrelay.ledger.base import HookErrorRow
from msgrelay.ledger.postgres.inbox import PostgresInbox
from msgrelay.ledger.postgres.outbox import PostgresOutbox
from msgrelay.ledger.postgres.retention import PostgresRetention
from msgrelay.ledger.postgres.submissions import PostgresSubmissions

__all__ = ["PostgresLedger"]


class PostgresLedger(PostgresSubmissions, PostgresInbox, PostgresOutbox, PostgresRetention):
    """The PostgreSQL ledger.

    Args:
        url: ``postgresql://user:password@host:port/dbname`` (any libpq connection string).
        min_size: connections the pool keeps open.
        max_size: connections the pool opens at most (threads beyond it wait for one).
        timeout: seconds to wait for a free connection before failing; reaching the server at all is
            bounded by `CONNECT_TIMEOUT` (or the URL's own ``connect_timeout``).
        lease_clock: whose time claims' leases are written and compared in: ``"database"`` (the
            default: the server's clock, one for every worker) or ``"caller"`` (each method's ``now``,
            for tests that move time by hand).

    Every failure of the database (unreachable, refused, full, read-only) is raised as a
    `msgrelay.errors.LedgerError` naming the DSN without its password.
    """

    def __repr__(self) -> str:
        return f"PostgresLedger({self.where!r})"

    def record_hook_errors(self, rows: Sequence[HookErrorRow], *, now: float) -> None:
        """Store hook implementations that raised."""
        if not rows:
            return
        with self._tx() as c, c.cursor() as cur:
            cur.executemany(
                "INSERT INTO hook_errors (at, plugin, hook, subject, error, source, batch_id)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(now, r.plugin, r.hook, r.subject, r.error, r.source, r.batch_id) for r in rows],
            )

    def batch_counts(self, source: str, batch_id: str) -> dict[str, int]:
        """One batch's deliveries by state (``{"delivered": 40, "pending": 2}``)."""
        with self._tx() as c:
            rows = c.execute(
                "SELECT state, count(*) FROM outbox WHERE source = %s AND batch_id = %s GROUP BY state",
                (source, batch_id),
            ).fetchall()
        return {str(state): int(count) for state, count in rows}

    def waiting(self, *, limit: int = 20) -> list[dict[str, Any]]:
        """Work not yet fanned out: submissions whose webhook has not come, and batches due or claimed.

        Each row has ``kind`` (``awaiting_webhook`` or the batch's state), ``source``, ``batch_id``,
        ``attempts``, ``since`` (epoch seconds) and ``last_error``; oldest first.
        """
        with self._tx() as c:
            submitted = c.execute(
                "SELECT s.secure_request_id, s.created_at FROM submissions s WHERE s.secure_request_id IS NOT"
                " NULL AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.source = 'upscale' AND b.batch_id ="
                " s.secure_request_id) ORDER BY s.created_at LIMIT %s",
                (limit,),
            ).fetchall()
            batches = c.execute(
                "SELECT state, source, batch_id, attempts, created_at, last_error FROM batches"
                " WHERE state IN ('pending', 'claimed') ORDER BY created_at LIMIT %s",
                (limit,),
            ).fetchall()
        rows: list[dict[str, Any]] = [
            {"kind": "awaiting_webhook", "source": "upscale", "batch_id": sid, "attempts": 0, "since": at,
             "last_error": None}
            for sid, at in submitted
        ]  # fmt: skip
        names = ("kind", "source", "batch_id", "attempts", "since", "last_error")
        rows += [dict(zip(names, r, strict=True)) for r in batches]
        return sorted(rows, key=lambda row: row["since"])[:limit]

    def status(self, *, dead_sample: int = 20) -> dict[str, Any]:
        """Counts by state (batches; deliveries overall and by destination), dead letters, hook errors."""
        with self._tx() as c:
            batches = {s: int(n) for s, n in c.execute("SELECT state, count(*) FROM batches GROUP BY state")}
            by_dest: dict[str, dict[str, int]] = {}
            totals: dict[str, int] = {}
            for dest, state, count in c.execute(
                "SELECT destination, state, count(*) FROM outbox GROUP BY 1, 2"
            ):
                by_dest.setdefault(dest, {})[state] = int(count)
                totals[state] = totals.get(state, 0) + int(count)
            names = ("destination", "source", "batch_id", "item_id", "key", "attempts", "last_error")
            dead = [
                dict(zip(names, r, strict=True))
                for r in c.execute(
                    "SELECT destination, source, batch_id, item_id, key, attempts, last_error FROM outbox"
                    " WHERE state = 'dead' ORDER BY id LIMIT %s",
                    (dead_sample,),
                )
            ]
            dead_batches = [
                {"source": r[0], "batch_id": r[1], "attempts": r[2], "last_error": r[3]}
                for r in c.execute(
                    "SELECT source, batch_id, attempts, last_error FROM batches WHERE state = 'dead'"
                    " ORDER BY updated_at LIMIT %s",
                    (dead_sample,),
                )
            ]
            count_row = c.execute("SELECT count(*) FROM hook_errors").fetchone()
            recent = [
                {"plugin": r[0], "hook": r[1], "subject": r[2], "error": r[3], "batch_id": r[4]}
                for r in c.execute(
                    "SELECT plugin, hook, subject, error, batch_id FROM hook_errors"
                    " ORDER BY id DESC LIMIT %s",
                    (dead_sample,),
                )
            ]
        return {
            "ledger": self.where,
            "batches": batches,
            "deliveries": totals,
            "by_destination": by_dest,
            "dead_batches": dead_batches,
            "dead_letters": dead,
            "hook_errors": {"count": int(count_row[0]) if count_row else 0, "recent": recent},
        }
