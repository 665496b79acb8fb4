"""The SQLite ledger's outbox: one row per (destination, item), claimed, delivered, retried or dead.

A claim takes due rows (earliest first) in one ``BEGIN IMMEDIATE`` transaction and stamps them with
the owner and a lease, so two workers never hold the same row. The holder renews the lease while it
works through the rows (`renew_claims`), and records outcomes only for rows it still holds (`settle`).
A row whose owner died (same host, process gone) is released at once by `release_orphans`; on another
host when its lease ends.

``next_attempt_at`` is a pending row's due time (the caller's clock) and a claimed row's lease end
(`SQLiteBase.lease_now`: the database's clock), so each is compared with its own clock.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from msgrelay.ledger.base import DEAD, PENDING, DeliveryClaim, Failure
from msgrelay.ledger.owners import owner_is_dead
from msgrelay.ledger.sqlite.base import SQLiteBase, batch_filter

__all__ = ["SQLiteOutbox"]

#: A pending row due by the caller's ``now``, or a claimed one whose lease ended by the lease clock
#: (parameters: now, lease now); after ``next_attempt_at <= max(now, lease now)``, which the due index
#: answers.
_DUE_OR_ENDED = " AND CASE state WHEN 'pending' THEN next_attempt_at <= ? ELSE next_attempt_at <= ? END"


class SQLiteOutbox(SQLiteBase):
    """The ``outbox`` table, and the sweeps over both tables: the delivery methods of `Ledger`."""

    def claim_deliveries(
        self,
        owner: str,
        *,
        now: float,
        lease: float,
        limit: int,
        source: str | None = None,
        batch_id: str | None = None,
        destination: str | None = None,
    ) -> list[DeliveryClaim]:
        """Claim up to ``limit`` due outbox rows (earliest due first), with their payloads and contexts."""
        # "+column" keeps SQLite on the due index (in ORDER BY order) rather than the batch's unique index.
        where, args = batch_filter(source, batch_id, table="+")
        if destination is not None:
            where, args = where + " AND +destination = ?", (*args, destination)
        with self._write() as c:
            lease_now = self.lease_now(c, now)
            # Ids first, from the outbox alone: joining the payloads before the LIMIT would read them all.
            ids = [
                row[0]
                for row in c.execute(
                    "SELECT id FROM outbox WHERE state IN ('pending', 'claimed')"
                    # In the due index's own order, so the LIMIT stops the scan early.
                    f" AND next_attempt_at <= max(?, ?){_DUE_OR_ENDED}{where}"
                    " ORDER BY next_attempt_at, id LIMIT ?",
                    (now, lease_now, now, lease_now, *args, limit),
                )
            ]
            c.execute(
                "UPDATE outbox SET state = 'claimed', owner = ?, attempts = attempts + 1, next_attempt_at = ?"
                " WHERE id IN (SELECT value FROM json_each(?))",
                (owner, lease_now + lease, orjson.dumps(ids).decode()),
            )
        if not ids:
            return []
        # Read after the commit: the rows are ours now, and the write lock is free for other workers.
        rows = (
            self._conn()
            .execute(
                "SELECT o.id, o.destination, o.source, o.batch_id, o.item_id, o.key, o.attempts,"
                " i.payload, b.context FROM outbox o"
                " JOIN items i ON i.source = o.source AND i.batch_id = o.batch_id AND i.item_id = o.item_id"
                " JOIN batches b ON b.source = o.source AND b.batch_id = o.batch_id"
                " WHERE o.id IN (SELECT value FROM json_each(?)) ORDER BY o.id",
                (orjson.dumps(ids).decode(),),
            )
            .fetchall()
        )
        return [
            DeliveryClaim(
                id=r[0],
                destination=r[1],
                source=r[2],
                batch_id=r[3],
                item_id=r[4],
                key=r[5],
                attempts=r[6],
                payload=r[7],
                context=r[8],
            )
            for r in rows
        ]

    def renew_claims(self, owner: str, ids: Sequence[int], *, now: float, lease: float) -> set[int]:
        """Extend the lease of the rows ``owner`` still holds among ``ids`` by ``lease`` from now
        (`SQLiteBase.lease_now`).

        Returns the ids still held. A missing id was taken over by another worker once its lease ended
        (or settled otherwise): the caller must not deliver it.
        """
        if not ids:
            return set()
        with self._write() as c:
            rows = c.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE id IN (SELECT value FROM json_each(?))"
                " AND state = 'claimed' AND owner = ? RETURNING id",
                (self.lease_now(c, now) + lease, orjson.dumps(list(ids)).decode(), owner),
            ).fetchall()
        return {row[0] for row in rows}

    def release_claims(self, owner: str, ids: Sequence[int], *, now: float) -> int:
        """Hand back rows ``owner`` claimed but never delivered (it is stopping): pending and due at ``now``.

        The claim's attempt is given back too, since no attempt was made. Returns how many were released.
        """
        if not ids:
            return 0
        with self._write() as c:
            return c.execute(
                "UPDATE outbox SET state = 'pending', owner = NULL, attempts = max(attempts - 1, 0),"
                " next_attempt_at = ? WHERE id IN (SELECT value FROM json_each(?))"
                " AND state = 'claimed' AND owner = ?",
                (now, orjson.dumps(list(ids)).decode(), owner),
            ).rowcount

    def note_claims(self, owner: str, ids: Sequence[int], *, error: str) -> int:
        """Set ``last_error`` on rows ``owner`` still holds, which stay claimed; returns how many."""
        if not ids:
            return 0
        with self._write() as c:
            return c.execute(
                "UPDATE outbox SET last_error = ? WHERE id IN (SELECT value FROM json_each(?))"
                " AND state = 'claimed' AND owner = ?",
                (error, orjson.dumps(list(ids)).decode(), owner),
            ).rowcount

    def settle(
        self, owner: str, *, delivered: Sequence[int], failed: Sequence[Failure], now: float
    ) -> list[int]:
        """Record the outcome of claimed deliveries, in one transaction.

        Only rows ``owner`` still holds are touched. Returns the ids it no longer held (its claim was
        lost to another worker after its lease ended): they are that worker's to record, not this one's.
        """
        lost: list[int] = []
        with self._write() as c:
            ids = orjson.dumps(list(delivered)).decode()
            settled = {
                row[0]
                for row in c.execute(
                    "UPDATE outbox SET state = 'delivered', delivered_at = ?, owner = NULL, last_error = NULL"
                    " WHERE id IN (SELECT value FROM json_each(?)) AND state = 'claimed' AND owner = ?"
                    " RETURNING id",
                    (now, ids, owner),
                )
            }
            if len(settled) < len(delivered):
                lost.extend(i for i in delivered if i not in settled)
            for f in failed:
                changed = c.execute(
                    "UPDATE outbox SET state = ?, next_attempt_at = ?, last_error = ?, owner = NULL"
                    " WHERE id = ? AND state = 'claimed' AND owner = ?",
                    (
                        PENDING if f.next_attempt_at is not None else DEAD,
                        f.next_attempt_at or now,
                        f.error,
                        f.id,
                        owner,
                    ),
                ).rowcount
                if not changed:
                    lost.append(f.id)
        return lost

    def next_due(
        self, source: str | None = None, batch_id: str | None = None, *, now: float | None = None
    ) -> float | None:
        """When the earliest pending or claimed batch or delivery is next due, or None when none is.

        Given the caller's ``now``, a claim's lease end is told in the caller's clock too (it is kept
        in the database's), so a caller whose clock runs apart waits as long as the lease really has.
        """
        conn = self._conn()
        shift = 0.0 if now is None else now - self.lease_now(conn, now)
        times = []
        for table in ("batches", "outbox"):
            where, args = batch_filter(source, batch_id)
            for state, shifted in (("pending", 0.0), ("claimed", shift)):
                row = conn.execute(
                    f"SELECT min(next_attempt_at) FROM {table} WHERE state = ?{where}", (state, *args)
                ).fetchone()
                if row[0] is not None:
                    times.append(float(row[0]) + shifted)
        return min(times) if times else None

    def due_destinations(self, *, now: float) -> list[str]:
        """The destinations with deliveries due at ``now`` (what a sweep nudges workers to deliver)."""
        conn = self._conn()
        lease_now = self.lease_now(conn, now)
        rows = conn.execute(
            "SELECT DISTINCT destination FROM outbox WHERE state IN ('pending', 'claimed')"
            f" AND next_attempt_at <= max(?, ?){_DUE_OR_ENDED}",
            (now, lease_now, now, lease_now),
        )
        return sorted(row[0] for row in rows)

    def release_orphans(self, *, now: float) -> int:
        """Give back the claims of dead workers on this host at once; returns the rows released."""
        conn = self._conn()
        owners = {
            row[0]
            for table in ("batches", "outbox")
            for row in conn.execute(f"SELECT DISTINCT owner FROM {table} WHERE state = 'claimed'")
            if row[0]
        }
        dead = [o for o in owners if owner_is_dead(o)]
        if not dead:
            return 0
        with self._write() as c:
            before = c.total_changes
            for table in ("batches", "outbox"):
                c.executemany(
                    f"UPDATE {table} SET state = 'pending', next_attempt_at = ?, owner = NULL"
                    " WHERE owner = ? AND state = 'claimed'",
                    [(now, o) for o in dead],
                )
            return c.total_changes - before

    def retry_dead(
        self, *, now: float, destination: str | None = None, key: str | None = None
    ) -> tuple[int, int]:
        """Re-drive dead-lettered batches and deliveries; returns (batches, deliveries) revived.

        ``destination`` limits it to that destination's deliveries, ``key`` to the one delivery with
        that idempotency key; either leaves dead batches alone.
        """
        with self._write() as c:
            batches = 0
            if destination is None and key is None:
                batches = c.execute(
                    "UPDATE batches SET state = 'pending', attempts = 0, next_attempt_at = ?"
                    " WHERE state = 'dead'",
                    (now,),
                ).rowcount
            where, args = "", tuple[str, ...]()
            if destination:
                where, args = " AND destination = ?", (destination,)
            if key is not None:
                where, args = where + " AND key = ?", (*args, key)
            deliveries = c.execute(
                "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?"
                f" WHERE state = 'dead'{where}",
                (now, *args),
            ).rowcount
        return batches, deliveries
