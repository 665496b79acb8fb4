"""The PostgreSQL ledger's outbox: one row per (destination, item), claimed, delivered, retried or dead.

A claim takes due rows (earliest first) with ``FOR UPDATE SKIP LOCKED`` and stamps them with the owner
and a lease in the same statement, so two workers never hold the same row and neither waits for the
other. The holder renews the lease while it works (`renew_claims`) and records outcomes only for rows it
still holds (`settle`). A row whose owner died on this host is released at once by `release_orphans`;
on another host when its lease ends.
"""

from __future__ import annotations

from collections.abc import Sequence

from msgrelay.ledger.base import DEAD, PENDING, DeliveryClaim, Failure
from msgrelay.ledger.owners import owner_is_dead
from msgrelay.ledger.postgres.base import PostgresBase, batch_filter, q

__all__ = ["PostgresOutbox"]


class PostgresOutbox(PostgresBase):
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
        where, args = batch_filter(source, batch_id, destination=destination)
        with self._tx() as c:
            rows = c.execute(
                q(
                    "WITH due AS (SELECT id FROM outbox WHERE state IN ('pending', 'claimed')"
                    f" AND next_attempt_at <= %s{where} ORDER BY next_attempt_at, id LIMIT %s"
                    " FOR UPDATE SKIP LOCKED),"
                    " claimed AS (UPDATE outbox o SET state = 'claimed', owner = %s,"
                    " attempts = o.attempts + 1, next_attempt_at = %s FROM due WHERE o.id = due.id"
                    " RETURNING o.id, o.destination, o.source, o.batch_id, o.item_id, o.key, o.attempts)"
                    " SELECT c.id, c.destination, c.source, c.batch_id, c.item_id, c.key, c.attempts,"
                    " i.payload, b.context FROM claimed c"
                    " JOIN items i ON i.source = c.source AND i.batch_id = c.batch_id"
                    " AND i.item_id = c.item_id"
                    " JOIN batches b ON b.source = c.source AND b.batch_id = c.batch_id ORDER BY c.id"
                ),
                (now, *args, limit, owner, now + lease),
            ).fetchall()
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
        """Extend the lease of the rows ``owner`` still holds among ``ids`` to ``now + lease``.

        Returns the ids still held; a missing one was taken over by another worker once its lease ended.
        """
        if not ids:
            return set()
        with self._tx() as c:
            rows = c.execute(
                "UPDATE outbox SET next_attempt_at = %s WHERE id = ANY(%s) AND state = 'claimed'"
                " AND owner = %s RETURNING id",
                (now + lease, list(ids), owner),
            ).fetchall()
        return {row[0] for row in rows}

    def release_claims(self, owner: str, ids: Sequence[int], *, now: float) -> int:
        """Hand back rows ``owner`` claimed but never delivered (it is stopping): pending and due at ``now``,
        the claim's attempt given back. Returns how many were released."""
        if not ids:
            return 0
        with self._tx() as c:
            return c.execute(
                "UPDATE outbox SET state = 'pending', owner = NULL, attempts = GREATEST(attempts - 1, 0),"
                " next_attempt_at = %s WHERE id = ANY(%s) AND state = 'claimed' AND owner = %s",
                (now, list(ids), owner),
            ).rowcount

    def settle(
        self, owner: str, *, delivered: Sequence[int], failed: Sequence[Failure], now: float
    ) -> list[int]:
        """Record the outcome of claimed deliveries, in one transaction; returns the ids no longer held."""
        lost: list[int] = []
        with self._tx() as c:
            settled = {
                row[0]
                for row in c.execute(
                    "UPDATE outbox SET state = 'delivered', delivered_at = %s, owner = NULL,"
                    " last_error = NULL"
                    " WHERE id = ANY(%s) AND state = 'claimed' AND owner = %s RETURNING id",
                    (now, list(delivered), owner),
                ).fetchall()
            }
            lost.extend(i for i in delivered if i not in settled)
            for f in failed:
                changed = c.execute(
                    "UPDATE outbox SET state = %s, next_attempt_at = %s, last_error = %s, owner = NULL"
                    " WHERE id = %s AND state = 'claimed' AND owner = %s",
                    (PENDING if f.next_attempt_at is not None else DEAD, f.next_attempt_at or now, f.error,
                     f.id, owner),
                ).rowcount  # fmt: skip
                if not changed:
                    lost.append(f.id)
        return lost

    def next_due(self, source: str | None = None, batch_id: str | None = None) -> float | None:
        """When the earliest pending or claimed batch or delivery is next due, or None when none is."""
        where, args = batch_filter(source, batch_id)
        with self._tx() as c:
            row = c.execute(
                q(
                    "SELECT least((SELECT min(next_attempt_at) FROM batches"
                    f" WHERE state IN ('pending', 'claimed'){where}),"
                    " (SELECT min(next_attempt_at) FROM outbox"
                    f" WHERE state IN ('pending', 'claimed'){where}))"
                ),
                (*args, *args),
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def due_destinations(self, *, now: float) -> list[str]:
        """The destinations with deliveries due at ``now`` (what a sweep nudges workers to deliver)."""
        with self._tx() as c:
            rows = c.execute(
                "SELECT DISTINCT destination FROM outbox"
                " WHERE state IN ('pending', 'claimed') AND next_attempt_at <= %s",
                (now,),
            ).fetchall()
        return sorted(row[0] for row in rows)

    def release_orphans(self, *, now: float) -> int:
        """Give back the claims of dead workers on this host at once; returns the rows released."""
        with self._tx() as c:
            owners = {
                row[0]
                for row in c.execute(
                    "SELECT DISTINCT owner FROM batches WHERE state = 'claimed'"
                    " UNION SELECT DISTINCT owner FROM outbox WHERE state = 'claimed'"
                ).fetchall()
                if row[0]
            }
        dead = [o for o in owners if owner_is_dead(o)]
        if not dead:
            return 0
        released = 0
        with self._tx() as c:
            for table in ("batches", "outbox"):
                released += c.execute(
                    q(
                        f"UPDATE {table} SET state = 'pending', next_attempt_at = %s, owner = NULL"
                        " WHERE owner = ANY(%s) AND state = 'claimed'"
                    ),
                    (now, dead),
                ).rowcount
        return released

    def retry_dead(
        self, *, now: float, destination: str | None = None, key: str | None = None
    ) -> tuple[int, int]:
        """Re-drive dead-lettered batches and deliveries; returns (batches, deliveries) revived.

        ``destination`` limits it to that destination's deliveries, ``key`` to the one delivery with
        that idempotency key; either leaves dead batches alone.
        """
        with self._tx() as c:
            batches = 0
            if destination is None and key is None:
                batches = c.execute(
                    "UPDATE batches SET state = 'pending', attempts = 0, next_attempt_at = %s"
                    " WHERE state = 'dead'",
                    (now,),
                ).rowcount
            where, args = batch_filter(None, None, destination=destination or None)
            if key is not None:
                where, args = where + " AND key = %s", (*args, key)
            deliveries = c.execute(
                q(
                    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = %s"
                    f" WHERE state = 'dead'{where}"
                ),
                (now, *args),
            ).rowcount
        return batches, deliveries
