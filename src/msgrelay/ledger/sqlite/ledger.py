"""`SQLiteLedger`: the ledger in one SQLite file.

The file is ``$MSGRELAY_HOME/ledger.sqlite3`` in WAL mode, safe for several processes on one
machine. The class is assembled from one part per group of tables (`msgrelay.ledger.sqlite.submissions`,
`msgrelay.ledger.sqlite.inbox`, `msgrelay.ledger.sqlite.outbox`) and retention
(`msgrelay.ledger.sqlite.retention`), all on `msgrelay.ledger.sqlite.base`,
and adds the reports that span them. These modules are the only ones with SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from msgrelay.ledger.base import HookErrorRow
from msgrelay.ledger.sqlite.failures import damaged
from msgrelay.ledger.sqlite.inbox import SQLiteInbox
from msgrelay.ledger.sqlite.outbox import SQLiteOutbox
from msgrelay.ledger.sqlite.retention import SQLiteRetention
from msgrelay.ledger.sqlite.submissions import SQLiteSubmissions

__all__ = ["SQLiteLedger"]


class SQLiteLedger(SQLiteSubmissions, SQLiteInbox, SQLiteOutbox, SQLiteRetention):
    """The SQLite ledger.

    Args:
        path: the database file (default ``$MSGRELAY_HOME/ledger.sqlite3``); created with its folder.
        busy_timeout: seconds to wait for another process's write lock (SQLite retries meanwhile,
            backing off) before raising `LedgerBusyError`; `open_ledger` reads it from
            ``MSGRELAY_LEDGER_BUSY_TIMEOUT``.
        synchronous: SQLite's ``synchronous`` pragma. ``FULL`` (the default) makes every commit
            durable across a power loss, not only a crash; writes are batched, so it costs little.
        lease_clock: whose time claims' leases are written and compared in: ``"database"`` (the
            default: SQLite's, one clock for every worker) or ``"caller"`` (each method's ``now``, for
            tests that move time by hand).

    Every failure of the file (busy, full, read-only, not a database, damaged) is raised as a
    `msgrelay.errors.LedgerError` naming the file and the fix.
    """

    def __repr__(self) -> str:
        return f"SQLiteLedger({str(self.path)!r})"

    def check_integrity(self) -> None:
        """Raise `LedgerCorruptError` when the file has damaged pages (``PRAGMA quick_check(1)``).

        It reads every page: about 0.2 s for a 100 MB ledger in the page cache, 3 s from a cold disk,
        so ``serve`` and ``check`` run it once at start, never per request.
        """
        found = self._conn().execute("PRAGMA quick_check(1)").fetchone()
        if found is None or found[0] != "ok":
            detail = " ".join(str(found[0] if found else "no answer").split())
            raise damaged(self.path, f"quick_check: {detail}")

    def check_writable(self) -> None:
        """Take the write lock and let it go, writing nothing: a `LedgerError` says why it cannot be had
        (read-only, busy past the busy timeout). Opening a ledger already at the current schema only
        reads it, so this is what proves a relay could write."""
        with self._write():
            pass

    # --- reporting -------------------------------------------------------------------------------
    def record_hook_errors(self, rows: Sequence[HookErrorRow], *, now: float) -> None:
        """Store hook implementations that raised."""
        if not rows:
            return
        with self._write() as c:
            c.executemany(
                "INSERT INTO hook_errors (at, plugin, hook, subject, error, source, batch_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(now, r.plugin, r.hook, r.subject, r.error, r.source, r.batch_id) for r in rows],
            )

    def batch_counts(self, source: str, batch_id: str) -> dict[str, int]:
        """One batch's deliveries by state (``{"delivered": 40, "pending": 2}``)."""
        rows = self._conn().execute(
            "SELECT state, count(*) FROM outbox WHERE source = ? AND batch_id = ? GROUP BY state",
            (source, batch_id),
        )
        return {str(state): int(count) for state, count in rows}

    def waiting(self, *, limit: int = 20) -> list[dict[str, Any]]:
        """Work not yet fanned out: submissions whose webhook has not come, and batches due or claimed.

        Each row has ``kind`` (``awaiting_webhook`` or the batch's state), ``source``, ``batch_id``,
        ``attempts``, ``since`` (epoch seconds) and ``last_error``; oldest first.
        """
        conn = self._conn()
        submitted = conn.execute(
            "SELECT s.secure_request_id, s.created_at FROM submissions s WHERE s.secure_request_id IS NOT"
            " NULL AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.source = 'upscale' AND b.batch_id ="
            " s.secure_request_id) ORDER BY s.created_at LIMIT ?",
            (limit,),
        ).fetchall()
        batches = conn.execute(
            "SELECT state, source, batch_id, attempts, created_at, last_error FROM batches"
            " WHERE state IN ('pending', 'claimed') ORDER BY created_at LIMIT ?",
            (limit,),
        ).fetchall()
        rows = [
            {"kind": "awaiting_webhook", "source": "upscale", "batch_id": sid, "attempts": 0, "since": at,
             "last_error": None}
            for sid, at in submitted
        ]  # fmt: skip
        rows += [
            {
                "kind": r[0],
                "source": r[1],
                "batch_id": r[2],
                "attempts": r[3],
                "since": r[4],
                "last_error": r[5],
            }
            for r in batches
        ]
        return sorted(rows, key=lambda row: row["since"])[:limit]

    def status(self, *, dead_sample: int = 20) -> dict[str, Any]:
        """Counts by state (batches; deliveries overall and by destination), dead letters, hook errors."""
        conn = self._conn()
        batches = dict(conn.execute("SELECT state, count(*) FROM batches GROUP BY state").fetchall())
        by_dest: dict[str, dict[str, int]] = {}
        totals: dict[str, int] = {}
        for dest, state, count in conn.execute(
            "SELECT destination, state, count(*) FROM outbox GROUP BY 1, 2"
        ):
            by_dest.setdefault(dest, {})[state] = count
            totals[state] = totals.get(state, 0) + count
        dead = [
            {
                "destination": r[0],
                "source": r[1],
                "batch_id": r[2],
                "item_id": r[3],
                "key": r[4],
                "attempts": r[5],
                "last_error": r[6],
            }
            for r in conn.execute(
                "SELECT destination, source, batch_id, item_id, key, attempts, last_error FROM outbox"
                " WHERE state = 'dead' ORDER BY id LIMIT ?",
                (dead_sample,),
            )
        ]
        dead_batches = [
            {"source": r[0], "batch_id": r[1], "attempts": r[2], "last_error": r[3]}
            for r in conn.execute(
                "SELECT source, batch_id, attempts, last_error FROM batches WHERE state = 'dead'"
                " ORDER BY updated_at LIMIT ?",
                (dead_sample,),
            )
        ]
        hook_errors = conn.execute("SELECT count(*) FROM hook_errors").fetchone()[0]
        recent = [
            {"plugin": r[0], "hook": r[1], "subject": r[2], "error": r[3], "batch_id": r[4]}
            for r in conn.execute(
                "SELECT plugin, hook, subject, error, batch_id FROM hook_errors ORDER BY id DESC LIMIT ?",
                (dead_sample,),
            )
        ]
        return {
            "ledger": str(self.path),
            "batches": batches,
            "deliveries": totals,
            "by_destination": by_dest,
            "dead_batches": dead_batches,
            "dead_letters": dead,
            "hook_errors": {"count": hook_errors, "recent": recent},
        }
