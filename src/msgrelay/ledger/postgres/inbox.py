"""The PostgreSQL ledger's inbox: batches to relay, their fan-out into items and outbox rows.

As in SQLite (`msgrelay.ledger.sqlite.inbox`): a batch is one row per completed generation,
deduplicated on its id and committed before the webhook is acknowledged. Claiming one takes the earliest
due row with ``FOR UPDATE SKIP LOCKED`` (a row another worker is claiming is skipped, not waited for)
and stamps it with the owner and a lease (``next_attempt_at`` doubles as the lease's end). Fanning out
writes the items and one outbox row per (destination, item) in the transaction that marks the batch
fanned out, and only while the batch is still this owner's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from msgrelay.ledger.base import (
    DEAD,
    FANNED_OUT,
    ITEMS_PER_WRITE,
    PENDING,
    BatchClaim,
    delivery_key,
    in_chunks,
)
from msgrelay.ledger.postgres.base import DUE_OR_ENDED, LEASE_NOW, PostgresBase, batch_filter, q

__all__ = ["PostgresInbox"]

_INSERT_OUTBOX = (
    "INSERT INTO outbox (destination, source, batch_id, item_id, key, state, next_attempt_at)"
    " VALUES (%s, %s, %s, %s, %s, 'pending', %s) ON CONFLICT DO NOTHING"
)


#: Why a skipped row was not delivered (``relay --status`` and the console show it).
_SKIP_REASON = "skipped: the lead has no generated message and its route says skip_empty"


class PostgresInbox(PostgresBase):
    """The ``batches`` and ``items`` tables: the batch methods of `msgrelay.ledger.Ledger`."""

    def record_event(
        self,
        source: str,
        batch_id: str,
        *,
        event: str | None,
        destinations: Sequence[str] | None,
        now: float,
        lock_timeout: float | None = None,
    ) -> bool:
        """Store a batch to relay; True when new. A repeat only counts the delivery (``received``).

        ``lock_timeout`` bounds the wait for a connection and for locks; past it an exception is raised
        and nothing is stored.
        """
        received = 1 if event is not None else 0
        with self._tx(lock_timeout=lock_timeout) as c:
            # xmax = 0 only on a row this statement inserted: one round trip tells new from repeat.
            row = c.execute(
                "INSERT INTO batches (source, batch_id, state, event, destinations, received,"
                " next_attempt_at, created_at, updated_at) VALUES (%s, %s, 'pending', %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (source, batch_id) DO UPDATE SET"
                " received = batches.received + EXCLUDED.received,"
                " event = coalesce(batches.event, EXCLUDED.event), updated_at = EXCLUDED.updated_at"
                " RETURNING (xmax = 0)",
                (source, batch_id, event, _join(destinations), received, now, now, now),
            ).fetchone()
        return bool(row and row[0])

    def add_destinations(self, source: str, batch_id: str, destinations: Sequence[str], *, now: float) -> int:
        """Send a batch to more destinations; returns the outbox rows added (from stored items)."""
        with self._tx() as c:
            row = c.execute(
                "SELECT state, destinations FROM batches WHERE source = %s AND batch_id = %s FOR UPDATE",
                (source, batch_id),
            ).fetchone()
            if row is None:
                return 0
            merged = list(dict.fromkeys([*_split(row[1]), *destinations]))
            c.execute(
                "UPDATE batches SET destinations = %s, updated_at = %s WHERE source = %s AND batch_id = %s",
                (_join(merged), now, source, batch_id),
            )
            if row[0] != FANNED_OUT:
                return 0
            items = c.execute(
                "SELECT item_id FROM items WHERE source = %s AND batch_id = %s ORDER BY seq",
                (source, batch_id),
            ).fetchall()
            added = 0
            with c.cursor() as cur:
                for dest in destinations:
                    cur.executemany(
                        _INSERT_OUTBOX,
                        [
                            (dest, source, batch_id, i, delivery_key(dest, source, batch_id, i), now)
                            for (i,) in items
                        ],
                    )
                    added += max(cur.rowcount, 0)
            return added

    def reopen_batch(self, source: str, batch_id: str, *, now: float) -> bool:
        """Make a fanned-out (or dead) batch due again, to fetch it anew; False if pending or claimed."""
        with self._tx() as c:
            changed = c.execute(
                "UPDATE batches SET state = 'pending', attempts = 0, next_attempt_at = %s, updated_at = %s"
                " WHERE source = %s AND batch_id = %s AND state IN ('fanned_out', 'dead')",
                (now, now, source, batch_id),
            ).rowcount
        return changed > 0

    def claim_batch(
        self, owner: str, *, now: float, lease: float, source: str | None = None, batch_id: str | None = None
    ) -> BatchClaim | None:
        """Claim one due batch (pending, or claimed with an ended lease), or None."""
        where, args = batch_filter(source, batch_id)
        # A pending batch by its due time (the caller's clock), a claimed one by its lease's end
        # (`LEASE_NOW`: the database's clock).
        lease_now = self._lease_now(now)
        with self._tx() as c:
            row = c.execute(
                q(
                    "UPDATE batches b SET state = 'claimed', owner = %s, attempts = b.attempts + 1,"
                    f" next_attempt_at = {LEASE_NOW} + %s, updated_at = %s FROM (SELECT source, batch_id"
                    f" FROM batches WHERE state IN ('pending', 'claimed') AND {DUE_OR_ENDED}{where}"
                    " ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED) due"
                    " WHERE b.source = due.source AND b.batch_id = due.batch_id"
                    " RETURNING b.source, b.batch_id, b.event, b.destinations, b.attempts"
                ),
                (owner, lease_now, lease, now, now, lease_now, now, lease_now, *args),
            ).fetchone()
        if row is None:
            return None
        return BatchClaim(
            source=row[0], batch_id=row[1], event=row[2], destinations=_split_or_none(row[3]), attempts=row[4]
        )

    def fan_out(
        self,
        claim: BatchClaim,
        owner: str,
        *,
        context: str,
        items: Iterable[tuple[str, str]],
        destinations: Sequence[str],
        now: float,
        skipped: Collection[str] = (),
    ) -> bool:
        """Store the items and one outbox row per (destination, item), and mark the batch fanned out.

        Args:
            claim: the batch, still claimed by ``owner`` (False, and nothing written, otherwise).
            context: the batch context as JSON.
            items: ``(item_id, payload JSON)`` in delivery order, read once, a chunk at a time,
                inside the transaction (a 100,000-lead batch need not be in memory at once).
            destinations: the destination names; each gets one outbox row per item.
            skipped: item ids whose rows are written ``skipped`` (recorded, never delivered).
        """
        s, b = claim.source, claim.batch_id
        with self._tx() as c:
            # The row lock holds off a second worker taking the batch over until this commits.
            row = c.execute(
                "SELECT destinations FROM batches WHERE source = %s AND batch_id = %s"
                " AND state = 'claimed' AND owner = %s FOR UPDATE",
                (s, b, owner),
            ).fetchone()
            if row is None:
                return False
            destinations = list(dict.fromkeys([*destinations, *_split(row[0])]))
            with c.cursor() as cur:
                for chunk in in_chunks(items, ITEMS_PER_WRITE):
                    cur.executemany(
                        "INSERT INTO items (source, batch_id, item_id, payload) VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT DO NOTHING",
                        [(s, b, item, payload) for item, payload in chunk],
                    )
                    cur.executemany(
                        _INSERT_OUTBOX,
                        [
                            (dest, s, b, item, delivery_key(dest, s, b, item), now)
                            for dest in destinations
                            for item, _ in chunk
                            if item not in skipped
                        ],
                    )
                    if skipped:
                        cur.executemany(
                            "INSERT INTO outbox (destination, source, batch_id, item_id, key, state,"
                            " next_attempt_at, last_error) VALUES (%s, %s, %s, %s, %s, 'skipped', %s, %s)"
                            " ON CONFLICT DO NOTHING",
                            [
                                (dest, s, b, item, delivery_key(dest, s, b, item), now, _SKIP_REASON)
                                for dest in destinations
                                for item, _ in chunk
                                if item in skipped
                            ],
                        )
            c.execute(
                "UPDATE batches SET state = 'fanned_out', context = %s, destinations = %s, last_error = NULL,"
                " owner = NULL, updated_at = %s WHERE source = %s AND batch_id = %s",
                (context, _join(destinations), now, s, b),
            )
        return True

    def fail_batch(
        self,
        claim: BatchClaim,
        owner: str,
        *,
        error: str,
        next_attempt_at: float | None,
        now: float,
        counted: bool = True,
    ) -> None:
        """Give the batch back for a retry at ``next_attempt_at``, or dead-letter it (None); ``counted=False``
        gives back the attempt its claim added (`Ledger.fail_batch`)."""
        state, when = (PENDING, next_attempt_at) if next_attempt_at is not None else (DEAD, now)
        with self._tx() as c:
            c.execute(
                "UPDATE batches SET state = %s, next_attempt_at = %s, last_error = %s, owner = NULL,"
                " updated_at = %s, attempts = attempts - %s"
                " WHERE source = %s AND batch_id = %s AND owner = %s AND state = 'claimed'",
                (state, when, error, now, 0 if counted else 1, claim.source, claim.batch_id, owner),
            )

    def dead_letter_batch(self, source: str, batch_id: str, *, error: str, now: float) -> None:
        """Record a batch as dead with ``error`` (new, or one still pending); ``--retry-dead`` reopens it."""
        with self._tx() as c:
            c.execute(
                "INSERT INTO batches (source, batch_id, state, next_attempt_at, last_error, created_at,"
                " updated_at) VALUES (%s, %s, 'dead', %s, %s, %s, %s)"
                " ON CONFLICT (source, batch_id) DO UPDATE"
                " SET state = 'dead', last_error = EXCLUDED.last_error, updated_at = EXCLUDED.updated_at"
                " WHERE batches.state = 'pending'",
                (source, batch_id, now, error, now, now),
            )

    def stored_items(self, source: str, batch_id: str) -> set[str]:
        """The ids of the batch's items already stored by a fan-out (each has its outbox rows)."""
        with self._tx() as c:
            rows = c.execute(
                "SELECT item_id FROM items WHERE source = %s AND batch_id = %s", (source, batch_id)
            ).fetchall()
        return {row[0] for row in rows}

    def batch_state(self, source: str, batch_id: str) -> str | None:
        """The batch's state, or None when unknown."""
        with self._tx() as c:
            row = c.execute(
                "SELECT state FROM batches WHERE source = %s AND batch_id = %s", (source, batch_id)
            ).fetchone()
        return None if row is None else str(row[0])

    def get_batch(self, source: str, batch_id: str) -> dict[str, Any] | None:
        """The batch's row: state, destinations, webhook deliveries received, attempts, last error, and
        ``context``: the batch context as JSON (None before its fan-out)."""
        with self._tx() as c:
            row = c.execute(
                "SELECT state, destinations, received, attempts, last_error, created_at, updated_at,"
                " context FROM batches WHERE source = %s AND batch_id = %s",
                (source, batch_id),
            ).fetchone()
        if row is None:
            return None
        names = (
            "state",
            "destinations",
            "received",
            "attempts",
            "last_error",
            "created_at",
            "updated_at",
            "context",
        )
        batch = dict(zip(names, row, strict=True))
        batch["destinations"] = _split_or_none(batch["destinations"])
        return batch


def _join(names: Sequence[str] | None) -> str | None:
    return None if names is None else ",".join(names)


def _split(text: str | None) -> list[str]:
    return [n for n in (text or "").split(",") if n]


def _split_or_none(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(_split(text))
