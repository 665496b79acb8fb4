"""The ledger: every step of the relay is a row, and a worker claims rows atomically.

Three parts, one SQLite file (``$MSGRELAY_HOME/ledger.sqlite3``, WAL mode, safe for several processes
on one machine):

* **submissions**: a generation request, keyed by (customer, campaign, lead ids, message types),
  written *before* the POST, so a re-run returns the stored ``secure_request_id`` instead of paying
  twice (`msgrelay.submissions`);
* **batches** (the inbox): one row per completed generation to relay, deduplicated on its id and
  written before the webhook is acknowledged; ``items`` holds each transformed lead once retrieved;
* **outbox**: one row per (destination, item) with attempts, next attempt time, last error and a
  dead-letter state.

A claim is one ``BEGIN IMMEDIATE`` transaction that selects due rows and stamps them with the owner and
a lease (``next_attempt_at`` doubles as the lease's end), so two workers never hold the same row. A row
whose owner died (same host, process gone) is released at once by `Ledger.release_orphans`; on
another host it is released when its lease ends.

`Ledger` is the interface the relay uses; `SQLiteLedger` is the implementation, and the only place
with SQL. A PostgreSQL backend is a second implementation (``SELECT ... FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs
import orjson

from msgrelay.config import msgrelay_home
from msgrelay.delivery import delivery_key

__all__ = [
    "BatchClaim",
    "DeliveryClaim",
    "Failure",
    "Ledger",
    "SQLiteLedger",
    "Submission",
    "new_owner",
    "owner_is_dead",
    "owner_state",
]

LEDGER_FILE = "ledger.sqlite3"

# Row states.
PENDING = "pending"
CLAIMED = "claimed"
FANNED_OUT = "fanned_out"
DELIVERED = "delivered"
DEAD = "dead"


# --- owners --------------------------------------------------------------------------------------
def new_owner() -> str:
    """A worker identity: ``host:pid:random``; the host and pid tell whether it is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_state(owner: str) -> str:
    """``"self"`` (this process), ``"alive"`` or ``"dead"`` (another process on this host), or
    ``"unknown"`` (another host: only its lease tells)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return "unknown"
    pid = int(pid_text)
    if pid == os.getpid():
        return "self"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "dead"
    except PermissionError:  # alive, another user's
        return "alive"
    return "alive"


def owner_is_dead(owner: str) -> bool:
    """True only when the owner ran on this host and its process is gone."""
    return owner_state(owner) == "dead"


# --- rows ----------------------------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class Submission:
    """A generation request as recorded before it was sent.

    ``secure_request_id`` is None while the POST is in flight, or when its outcome is unknown.
    """

    key: str
    customer_id: str
    campaign_id: str
    lead_count: int
    message_types: str
    secure_request_id: str | None
    owner: str
    created_at: float
    updated_at: float


@attrs.frozen(kw_only=True)
class BatchClaim:
    """A batch (inbox row) claimed for retrieval and fan-out."""

    source: str
    batch_id: str
    event: str | None
    destinations: tuple[str, ...] | None
    attempts: int


@attrs.frozen(kw_only=True)
class DeliveryClaim:
    """An outbox row claimed for delivery, with its item's stored payload and batch context."""

    id: int
    destination: str
    source: str
    batch_id: str
    item_id: str
    key: str
    attempts: int
    payload: str
    context: str | None


@attrs.frozen
class Failure:
    """A failed delivery: retry at ``next_attempt_at``, or dead-letter when it is None."""

    id: int
    error: str
    next_attempt_at: float | None


@attrs.frozen(kw_only=True)
class HookErrorRow:
    """A hook implementation that raised, as stored."""

    plugin: str
    hook: str
    subject: str
    error: str
    source: str = ""
    batch_id: str = ""


class Ledger(Protocol):
    """What the relay, the receiver and `submit_once` need from a ledger."""

    def reserve_submission(
        self,
        key: str,
        *,
        customer_id: str,
        campaign_id: str,
        lead_count: int,
        message_types: str,
        owner: str,
        now: float,
    ) -> tuple[Submission, bool]: ...
    def complete_submission(self, key: str, secure_request_id: str, *, now: float) -> None: ...
    def release_submission(self, key: str) -> None: ...
    def get_submission(self, key: str) -> Submission | None: ...

    def record_event(
        self, source: str, batch_id: str, *, event: str | None, destinations: Sequence[str] | None, now: float
    ) -> bool: ...
    def add_destinations(
        self, source: str, batch_id: str, destinations: Sequence[str], *, now: float
    ) -> int: ...
    def reopen_batch(self, source: str, batch_id: str, *, now: float) -> bool: ...
    def claim_batch(
        self, owner: str, *, now: float, lease: float, source: str | None = None, batch_id: str | None = None
    ) -> BatchClaim | None: ...
    def fan_out(
        self,
        claim: BatchClaim,
        owner: str,
        *,
        context: str,
        items: Sequence[tuple[str, str]],
        destinations: Sequence[str],
        now: float,
    ) -> bool: ...
    def fail_batch(
        self, claim: BatchClaim, owner: str, *, error: str, next_attempt_at: float | None, now: float
    ) -> None: ...
    def batch_state(self, source: str, batch_id: str) -> str | None: ...
    def get_batch(self, source: str, batch_id: str) -> dict[str, Any] | None: ...

    def claim_deliveries(
        self,
        owner: str,
        *,
        now: float,
        lease: float,
        limit: int,
        source: str | None = None,
        batch_id: str | None = None,
    ) -> list[DeliveryClaim]: ...
    def settle(
        self, owner: str, *, delivered: Sequence[int], failed: Sequence[Failure], now: float
    ) -> None: ...
    def next_due(self, source: str | None = None, batch_id: str | None = None) -> float | None: ...
    def release_orphans(self, *, now: float) -> int: ...
    def retry_dead(self, *, now: float, destination: str | None = None) -> tuple[int, int]: ...

    def record_hook_errors(self, rows: Sequence[HookErrorRow], *, now: float) -> None: ...
    def batch_counts(self, source: str, batch_id: str) -> dict[str, int]: ...
    def status(self, *, dead_sample: int = 20) -> dict[str, Any]: ...
    def close(self) -> None: ...


# --- SQLite --------------------------------------------------------------------------------------
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    key TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    lead_count INTEGER NOT NULL,
    message_types TEXT NOT NULL,
    secure_request_id TEXT,
    owner TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    state TEXT NOT NULL,
    event TEXT,
    destinations TEXT,
    context TEXT,
    received INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    owner TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (source, batch_id)
);
CREATE INDEX IF NOT EXISTS batches_due ON batches (next_attempt_at) WHERE state IN ('pending', 'claimed');
CREATE TABLE IF NOT EXISTS items (
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (source, batch_id, item_id)
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    destination TEXT NOT NULL,
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    owner TEXT,
    delivered_at REAL,
    -- One row per destination and item (dedup), and the index of a batch's rows
    UNIQUE (source, batch_id, destination, item_id)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt_at) WHERE state IN ('pending', 'claimed');
CREATE TABLE IF NOT EXISTS hook_errors (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    plugin TEXT NOT NULL,
    hook TEXT NOT NULL,
    subject TEXT NOT NULL,
    error TEXT NOT NULL,
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL
);
"""


class SQLiteLedger:
    """The SQLite ledger.

    Args:
        path: the database file (default ``$MSGRELAY_HOME/ledger.sqlite3``); created with its folder.
        busy_timeout: seconds to wait for another process's write lock before failing.
        synchronous: SQLite's ``synchronous`` pragma. ``FULL`` (the default) makes every commit
            durable across a power loss, not only a crash; writes are batched, so it costs little.
    """

    def __init__(
        self, path: str | Path | None = None, *, busy_timeout: float = 30.0, synchronous: str = "FULL"
    ) -> None:
        self.path = Path(path) if path is not None else msgrelay_home() / LEDGER_FILE
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._migrate(self._conn())

    def __repr__(self) -> str:
        return f"SQLiteLedger({str(self.path)!r})"

    # --- connections -----------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # One connection per thread; autocommit mode so transactions are explicit (BEGIN IMMEDIATE).
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock up front so it cannot deadlock half way."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with self._write() as c:
            version = c.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise RuntimeError(f"{self.path} was written by a newer msgrelay (schema {version})")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)
            c.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    def close(self) -> None:
        """Close every connection this object opened (from any thread)."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> SQLiteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- submissions -----------------------------------------------------------------------------
    def reserve_submission(
        self,
        key: str,
        *,
        customer_id: str,
        campaign_id: str,
        lead_count: int,
        message_types: str,
        owner: str,
        now: float,
    ) -> tuple[Submission, bool]:
        """Insert the submission unless its key exists; the row, and whether this call created it."""
        with self._write() as c:
            created = c.execute(
                "INSERT OR IGNORE INTO submissions VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                (key, customer_id, campaign_id, lead_count, message_types, owner, now, now),
            ).rowcount
        found = self.get_submission(key)
        assert found is not None
        return found, bool(created)

    def complete_submission(self, key: str, secure_request_id: str, *, now: float) -> None:
        """Store the id the vendor answered with."""
        with self._write() as c:
            c.execute(
                "UPDATE submissions SET secure_request_id = ?, updated_at = ? WHERE key = ?",
                (secure_request_id, now, key),
            )

    def release_submission(self, key: str) -> None:
        """Forget a submission that has no id (the POST certainly did not go through, or forced)."""
        with self._write() as c:
            c.execute("DELETE FROM submissions WHERE key = ?", (key,))

    def get_submission(self, key: str) -> Submission | None:
        """The submission with this key, if any."""
        row = (
            self._conn()
            .execute(
                "SELECT key, customer_id, campaign_id, lead_count, message_types, secure_request_id, owner,"
                " created_at, updated_at FROM submissions WHERE key = ?",
                (key,),
            )
            .fetchone()
        )
        if row is None:
            return None
        names = (
            "key",
            "customer_id",
            "campaign_id",
            "lead_count",
            "message_types",
            "secure_request_id",
            "owner",
            "created_at",
            "updated_at",
        )
        return Submission(**dict(zip(names, row, strict=True)))

    # --- batches (the inbox) ---------------------------------------------------------------------
    def record_event(
        self, source: str, batch_id: str, *, event: str | None, destinations: Sequence[str] | None, now: float
    ) -> bool:
        """Store a batch to relay; True when new. A repeat only counts the delivery (``received``)."""
        dests = _join(destinations)
        with self._write() as c:
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
        where, args = _filter(source, batch_id)
        with self._write() as c:
            row = c.execute(
                "SELECT source, batch_id, event, destinations, attempts FROM batches"
                f" WHERE state IN ('pending', 'claimed') AND next_attempt_at <= ?{where}"
                " ORDER BY next_attempt_at LIMIT 1",
                (now, *args),
            ).fetchone()
            if row is None:
                return None
            c.execute(
                "UPDATE batches SET state = 'claimed', owner = ?, attempts = attempts + 1,"
                " next_attempt_at = ?,"
                " updated_at = ? WHERE source = ? AND batch_id = ?",
                (owner, now + lease, now, row[0], row[1]),
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
        items: Sequence[tuple[str, str]],
        destinations: Sequence[str],
        now: float,
    ) -> bool:
        """Store the items and one outbox row per (destination, item), and mark the batch fanned out.

        Args:
            claim: the batch, still claimed by ``owner`` (False, and nothing written, otherwise).
            context: the batch context as JSON.
            items: ``(item_id, payload JSON)`` in delivery order.
            destinations: the destination names; each gets one outbox row per item.
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
            c.executemany(
                "INSERT OR IGNORE INTO items (source, batch_id, item_id, payload) VALUES (?, ?, ?, ?)",
                [(s, b, item, payload) for item, payload in items],
            )
            c.executemany(
                _INSERT_OUTBOX,
                [
                    (dest, s, b, item, delivery_key(dest, s, b, item), now)
                    for dest in destinations
                    for item, _ in items
                ],
            )
            c.execute(
                "UPDATE batches SET state = 'fanned_out', context = ?, destinations = ?, last_error = NULL,"
                " owner = NULL, updated_at = ? WHERE source = ? AND batch_id = ?",
                (context, _join(destinations), now, s, b),
            )
        return True

    def fail_batch(
        self, claim: BatchClaim, owner: str, *, error: str, next_attempt_at: float | None, now: float
    ) -> None:
        """Give the batch back for a retry at ``next_attempt_at``, or dead-letter it (None)."""
        state, when = (PENDING, next_attempt_at) if next_attempt_at is not None else (DEAD, now)
        with self._write() as c:
            c.execute(
                "UPDATE batches SET state = ?, next_attempt_at = ?, last_error = ?, owner = NULL,"
                " updated_at = ?"
                " WHERE source = ? AND batch_id = ? AND owner = ? AND state = 'claimed'",
                (state, when, error, now, claim.source, claim.batch_id, owner),
            )

    def batch_state(self, source: str, batch_id: str) -> str | None:
        """The batch's state, or None when unknown."""
        row = (
            self._conn()
            .execute("SELECT state FROM batches WHERE source = ? AND batch_id = ?", (source, batch_id))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def get_batch(self, source: str, batch_id: str) -> dict[str, Any] | None:
        """The batch's row: state, destinations, webhook deliveries received, attempts, last error."""
        row = (
            self._conn()
            .execute(
                "SELECT state, destinations, received, attempts, last_error, created_at, updated_at"
                " FROM batches WHERE source = ? AND batch_id = ?",
                (source, batch_id),
            )
            .fetchone()
        )
        if row is None:
            return None
        names = ("state", "destinations", "received", "attempts", "last_error", "created_at", "updated_at")
        batch = dict(zip(names, row, strict=True))
        batch["destinations"] = _split_or_none(batch["destinations"])
        return batch

    # --- outbox ----------------------------------------------------------------------------------
    def claim_deliveries(
        self,
        owner: str,
        *,
        now: float,
        lease: float,
        limit: int,
        source: str | None = None,
        batch_id: str | None = None,
    ) -> list[DeliveryClaim]:
        """Claim up to ``limit`` due outbox rows (earliest due first), with their payloads and contexts."""
        # "+column" keeps SQLite on the due index (in ORDER BY order) rather than the batch's unique index.
        where, args = _filter(source, batch_id, table="+")
        with self._write() as c:
            # Ids first, from the outbox alone: joining the payloads before the LIMIT would read them all.
            ids = [
                row[0]
                for row in c.execute(
                    "SELECT id FROM outbox WHERE state IN ('pending', 'claimed')"
                    # In the due index's own order, so the LIMIT stops the scan early.
                    f" AND next_attempt_at <= ?{where} ORDER BY next_attempt_at, id LIMIT ?",
                    (now, *args, limit),
                )
            ]
            c.execute(
                "UPDATE outbox SET state = 'claimed', owner = ?, attempts = attempts + 1, next_attempt_at = ?"
                " WHERE id IN (SELECT value FROM json_each(?))",
                (owner, now + lease, orjson.dumps(ids).decode()),
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

    def settle(self, owner: str, *, delivered: Sequence[int], failed: Sequence[Failure], now: float) -> None:
        """Record the outcome of claimed deliveries, in one transaction."""
        with self._write() as c:
            c.execute(
                "UPDATE outbox SET state = 'delivered', delivered_at = ?, owner = NULL, last_error = NULL"
                " WHERE id IN (SELECT value FROM json_each(?)) AND state = 'claimed'",
                (now, orjson.dumps(list(delivered)).decode()),
            )
            c.executemany(
                "UPDATE outbox SET state = ?, next_attempt_at = ?, last_error = ?, owner = NULL"
                " WHERE id = ? AND state = 'claimed' AND owner = ?",
                [
                    (
                        PENDING if f.next_attempt_at is not None else DEAD,
                        f.next_attempt_at or now,
                        f.error,
                        f.id,
                        owner,
                    )
                    for f in failed
                ],
            )

    def next_due(self, source: str | None = None, batch_id: str | None = None) -> float | None:
        """When the earliest pending or claimed batch or delivery is next due, or None when none is."""
        times = []
        for table in ("batches", "outbox"):
            where, args = _filter(source, batch_id)
            row = (
                self._conn()
                .execute(
                    f"SELECT min(next_attempt_at) FROM {table} WHERE state IN ('pending', 'claimed'){where}",
                    args,
                )
                .fetchone()
            )
            if row[0] is not None:
                times.append(float(row[0]))
        return min(times) if times else None

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

    def retry_dead(self, *, now: float, destination: str | None = None) -> tuple[int, int]:
        """Re-drive dead-lettered batches and deliveries; returns (batches, deliveries) revived."""
        with self._write() as c:
            batches = 0
            if destination is None:
                batches = c.execute(
                    "UPDATE batches SET state = 'pending', attempts = 0, next_attempt_at = ?"
                    " WHERE state = 'dead'",
                    (now,),
                ).rowcount
            where, args = (" AND destination = ?", (destination,)) if destination else ("", ())
            deliveries = c.execute(
                "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?"
                f" WHERE state = 'dead'{where}",
                (now, *args),
            ).rowcount
        return batches, deliveries

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


_INSERT_OUTBOX = (
    "INSERT OR IGNORE INTO outbox (destination, source, batch_id, item_id, key, state, next_attempt_at)"
    " VALUES (?, ?, ?, ?, ?, 'pending', ?)"
)


def _filter(source: str | None, batch_id: str | None, *, table: str = "") -> tuple[str, tuple[str, ...]]:
    where, args = "", tuple[str, ...]()
    if source is not None:
        where, args = f" AND {table}source = ?", (source,)
    if batch_id is not None:
        where, args = where + f" AND {table}batch_id = ?", (*args, batch_id)
    return where, args


def _join(names: Sequence[str] | None) -> str | None:
    return None if names is None else ",".join(names)


def _split(text: str | None) -> list[str]:
    return [n for n in (text or "").split(",") if n]


def _split_or_none(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(_split(text))
