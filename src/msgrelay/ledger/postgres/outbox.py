"""The PostgreSQL ledger's outbox: one row per (destination, item), claimed, delivered, retried or dead.

A claim takes due rows (earliest first) with ``FOR UPDATE SKIP LOCKED`` and stamps them with the owner
and a lease in the same statement, so two workers never hold the same row and neither waits for the
other. The holder renews the lease while it works (`renew_claims`) and records outcomes only for rows it
still holds (`settle`). A row whose owner died on this host is released at once by `release_orphans`;
on another host when its lease ends.

``next_attempt_at`` is a pending row's due time (the caller's clock) and a claimed row's lease end
(`LEASE_NOW`: the database's clock), so each is compared with its own clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from msgrelay.ledger.base import DEAD, PENDING, DeliveryClaim, Failure
from msgrelay.ledger.owners import owner_is_dead
from msgrelay.ledger.postgres.base import DUE_OR_ENDED, LEASE_NOW, PostgresBase, batch_filter, q

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
        lease_now = self._lease_now(now)
        with self._tx() as c:
            rows = c.execute(
                q(
                    "WITH due AS (SELECT id FROM outbox WHERE state IN ('pending', 'claimed')"
                    f" AND {DUE_OR_ENDED}{where} ORDER BY next_attempt_at, id LIMIT %s"
                    " FOR UPDATE SKIP LOCKED),"
                    " claimed AS (UPDATE outbox o SET state = 'claimed', owner = %s,"
                    f" attempts = o.attempts + 1, next_attempt_at = {LEASE_NOW} + %s FROM due"
                    " WHERE o.id = due.id"
                    " RETURNING o.id, o.destination, o.source, o.batch_id, o.item_id, o.key, o.attempts)"
                    " SELECT c.id, c.destination, c.source, c.batch_id, c.item_id, c.key, c.attempts,"
                    " i.payload, b.context FROM claimed c"
                    " JOIN items i ON i.source = c.source AND i.batch_id = c.batch_id"
                    " AND i.item_id = c.item_id"
                    " JOIN batches b ON b.source = c.source AND b.batch_id = c.batch_id ORDER BY c.id"
                ),
                (now, lease_now, now, lease_now, *args, limit, owner, lease_now, lease),
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
        """Extend the lease of the rows ``owner`` still holds among ``ids`` by ``lease`` from now
        (`LEASE_NOW`).

        Returns the ids still held; a missing one was taken over by another worker once its lease ended.
        """
        if not ids:
            return set()
        with self._tx() as c:
            rows = c.execute(
                q(
                    f"UPDATE outbox SET next_attempt_at = {LEASE_NOW} + %s WHERE id = ANY(%s)"
                    " AND state = 'claimed' AND owner = %s RETURNING id"
                ),
                (self._lease_now(now), lease, list(ids), owner),
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

    def note_claims(self, owner: str, ids: Sequence[int], *, error: str) -> int:
        """Set ``last_error`` on rows ``owner`` still holds, which stay claimed; returns how many."""
        if not ids:
            return 0
        with self._tx() as c:
            return c.execute(
                "UPDATE outbox SET last_error = %s WHERE id = ANY(%s) AND state = 'claimed' AND owner = %s",
                (error, list(ids), owner),
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

    def next_due(
        self, source: str | None = None, batch_id: str | None = None, *, now: float | None = None
    ) -> float | None:
        """When the earliest pending or claimed batch or delivery is next due, or None when none is.

        Given the caller's ``now``, a claim's lease end is told in the caller's clock too (it is kept
        in the database's), so a caller whose clock runs apart waits as long as the lease really has.
        """
        where, args = batch_filter(source, batch_id)
        earliest = " ".join(
            f"least((SELECT min(next_attempt_at) FROM batches WHERE state = '{state}'{where}),"
            f" (SELECT min(next_attempt_at) FROM outbox WHERE state = '{state}'{where})),"
            for state in ("pending", "claimed")
        )
        lease_now = self._lease_now(now if now is not None else 0.0)
        with self._tx() as c:
            row = c.execute(q(f"SELECT {earliest} {LEASE_NOW}"), (*args, *args, *args, *args, lease_now))
            pending, claimed, clock = row.fetchone() or (None, None, None)
        shift = 0.0 if now is None or clock is None else now - float(clock)
        times = [float(pending)] if pending is not None else []
        if claimed is not None:
            times.append(float(claimed) + shift)
        return min(times) if times else None

    def due_destinations(self, *, now: float) -> list[str]:
        """The destinations with deliveries due at ``now`` (what a sweep nudges workers to deliver)."""
        lease_now = self._lease_now(now)
        with self._tx() as c:
            rows = c.execute(
                q(
                    "SELECT DISTINCT destination FROM outbox"
                    f" WHERE state IN ('pending', 'claimed') AND {DUE_OR_ENDED}"
                ),
                (now, lease_now, now, lease_now),
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
