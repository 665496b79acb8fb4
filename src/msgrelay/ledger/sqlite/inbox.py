"""The SQLite ledger's inbox: batches to relay, their fan-out into items and outbox rows.

A batch is one row per completed generation (or Collect request), deduplicated on its id and written
before the webhook is acknowledged. Claiming one is a ``BEGIN IMMEDIATE`` transaction that stamps it
with the owner and a lease (``next_attempt_at`` doubles as the lease's end). Fanning it out stores
each transformed lead once in ``items`` and one ``outbox`` row per (destination, item), in the same
transaction that marks the batch fanned out.
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
from msgrelay.ledger.sqlite.base import SQLiteBase, batch_filter

__all__ = ["SQLiteInbox"]

_INSERT_OUTBOX = (
    "INSERT OR IGNORE INTO outbox (destination, source, batch_id, item_id, key, state, next_attempt_at)"
    " VALUES (?, ?, ?, ?, ?, 'pending', ?)"
)

#: Why a skipped row was not delivered (``relay --status`` and the console show it).
_SKIP_REASON = "skipped: the lead has no generated message and its route says skip_empty"


class SQLiteInbox(SQLiteBase):
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

        ``lock_timeout`` bounds the wait for another writer (default: the ledger's busy timeout);
        past it, `msgrelay.errors.LedgerBusyError` is raised and nothing is stored.
        """
        dests = _join(destinations)
        with self._write(lock_timeout=lock_timeout) as c:
            created = c.execute(
                "INSERT OR IGNORE INTO batches (source, batch_id, state, event, destinations, received,"
                " next_attempt_at, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
                (source, batch_id, event, dests, 1 if event is not None else 0, now, now, now),
            ).rowcount
            if not created:
                c.execute(
                    "UPDATE batches SET received = received + ?, event = coalesce(event, ?), updated_at = ?"
                    " WHERE source = ? AND batch_id = ?",
                    (1 if event is not None else 0, event, now, source, batch_id),
                )
        return bool(created)

    def add_destinations(self, source: str, batch_id: str, destinations: Sequence[str], *, now: float) -> int:
        """Send a batch to more destinations; returns the outbox rows added (from stored items)."""
        with self._write() as c:
            row = c.execute(
                "SELECT state, destinations FROM batches WHERE source = ? AND batch_id = ?",
                (source, batch_id),
            ).fetchone()
            if row is None:
                return 0
            merged = list(dict.fromkeys([*_split(row[1]), *destinations]))
            c.execute(
                "UPDATE batches SET destinations = ?, updated_at = ? WHERE source = ? AND batch_id = ?",
                (_join(merged), now, source, batch_id),
            )
            if row[0] != FANNED_OUT:
                return 0
            items = c.execute(
                "SELECT item_id FROM items WHERE source = ? AND batch_id = ? ORDER BY rowid",
                (source, batch_id),
            ).fetchall()
            rows = [
                (dest, source, batch_id, item, delivery_key(dest, source, batch_id, item), now)
                for dest in destinations
                for (item,) in items
            ]
            before = c.total_changes
            c.executemany(_INSERT_OUTBOX, rows)
            return c.total_changes - before

    def reopen_batch(self, source: str, batch_id: str, *, now: float) -> bool:
        """Make a fanned-out (or dead) batch due again, to fetch it anew; False if it is pending or claimed.

        Its items and outbox rows stay: a new fan-out adds only what is new.
        """
        with self._write() as c:
            changed = c.execute(
                "UPDATE batches SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?"
                " WHERE source = ? AND batch_id = ? AND state IN ('fanned_out', 'dead')",
                (now, now, source, batch_id),
            ).rowcount
        return bool(changed)

    def claim_batch(
        self, owner: str, *, now: float, lease: float, source: str | None = None, batch_id: str | None = None
    ) -> BatchClaim | None:
        """Claim one due batch (pending, or claimed with an ended lease), or None."""
        where, args = batch_filter(source, batch_id)
        with self._write() as c:
            # A pending batch by its due time (the caller's clock), a claimed one by its lease's end
            # (the lease clock: `SQLiteBase.lease_now`).
            lease_now = self.lease_now(c, now)
            row = c.execute(
                "SELECT source, batch_id, event, destinations, attempts FROM batches"
                " WHERE state IN ('pending', 'claimed') AND next_attempt_at <= max(?, ?)"
                " AND CASE state WHEN 'pending' THEN next_attempt_at <= ? ELSE next_attempt_at <= ? END"
                f"{where} ORDER BY next_attempt_at LIMIT 1",
                (now, lease_now, now, lease_now, *args),
            ).fetchone()
            if row is None:
                return None
            c.execute(
                "UPDATE batches SET state = 'claimed', owner = ?, attempts = attempts + 1,"
                " next_attempt_at = ?,"
                " updated_at = ? WHERE source = ? AND batch_id = ?",
                (owner, lease_now + lease, now, row[0], row[1]),
            )
        return BatchClaim(
            source=row[0],
            batch_id=row[1],
            event=row[2],
            destinations=_split_or_none(row[3]),
            attempts=row[4] + 1,
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
        with self._write() as c:
            row = c.execute(
                "SELECT destinations FROM batches"
                " WHERE source = ? AND batch_id = ? AND state = 'claimed' AND owner = ?",
                (s, b, owner),
            ).fetchone()
            if row is None:
                return False
            # A destination added while this batch was being retrieved (add_destinations) is kept.
            destinations = list(dict.fromkeys([*destinations, *_split(row[0])]))
            for chunk in in_chunks(items, ITEMS_PER_WRITE):
                c.executemany(
                    "INSERT OR IGNORE INTO items (source, batch_id, item_id, payload) VALUES (?, ?, ?, ?)",
                    [(s, b, item, payload) for item, payload in chunk],
                )
                c.executemany(
                    _INSERT_OUTBOX,
                    [
                        (dest, s, b, item, delivery_key(dest, s, b, item), now)
                        for dest in destinations
                        for item, _ in chunk
                        if item not in skipped
                    ],
                )
                if skipped:
                    c.executemany(
                        "INSERT OR IGNORE INTO outbox (destination, source, batch_id, item_id, key, state,"
                        " next_attempt_at, last_error) VALUES (?, ?, ?, ?, ?, 'skipped', ?, ?)",
                        [
                            (dest, s, b, item, delivery_key(dest, s, b, item), now, _SKIP_REASON)
                            for dest in destinations
                            for item, _ in chunk
                            if item in skipped
                        ],
                    )
            c.execute(
                "UPDATE batches SET state = 'fanned_out', context = ?, destinations = ?, last_error = NULL,"
                " owner = NULL, updated_at = ? WHERE source = ? AND batch_id = ?",
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
        with self._write() as c:
            c.execute(
                "UPDATE batches SET state = ?, next_attempt_at = ?, last_error = ?, owner = NULL,"
                " updated_at = ?, attempts = attempts - ?"
                " WHERE source = ? AND batch_id = ? AND owner = ? AND state = 'claimed'",
                (state, when, error, now, 0 if counted else 1, claim.source, claim.batch_id, owner),
            )

    def dead_letter_batch(self, source: str, batch_id: str, *, error: str, now: float) -> None:
        """Record a batch as dead with ``error`` (new, or one still pending); ``--retry-dead`` reopens it."""
        with self._write() as c:
            c.execute(
                "INSERT INTO batches (source, batch_id, state, next_attempt_at, last_error, created_at,"
                " updated_at) VALUES (?, ?, 'dead', ?, ?, ?, ?) ON CONFLICT (source, batch_id) DO UPDATE"
                " SET state = 'dead', last_error = excluded.last_error, updated_at = excluded.updated_at"
                " WHERE state = 'pending'",
                (source, batch_id, now, error, now, now),
            )

    def stored_items(self, source: str, batch_id: str) -> set[str]:
        """The ids of the batch's items already stored by a fan-out (each has its outbox rows)."""
        rows = self._conn().execute(
            "SELECT item_id FROM items WHERE source = ? AND batch_id = ?", (source, batch_id)
        )
        return {row[0] for row in rows}

    def batch_state(self, source: str, batch_id: str) -> str | None:
        """The batch's state, or None when unknown."""
        row = (
            self._conn()
            .execute("SELECT state FROM batches WHERE source = ? AND batch_id = ?", (source, batch_id))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def get_batch(self, source: str, batch_id: str) -> dict[str, Any] | None:
        """The batch's row: state, destinations, webhook deliveries received, attempts, last error, and
        ``context``: the batch context as JSON (None before its fan-out)."""
        row = (
            self._conn()
            .execute(
                "SELECT state, destinations, received, attempts, last_error, created_at, updated_at, context"
                " FROM batches WHERE source = ? AND batch_id = ?",
                (source, batch_id),
            )
            .fetchone()
        )
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
