"""The built-in ``store`` destination in the PostgreSQL ledger's database: one store for every worker.

Chosen by `msgrelay.destinations.store.open_store` when ``MSGRELAY_LEDGER_URL`` is ``postgresql://``.
It writes the rows the SQLite `Store` writes (`msgrelay.destinations.rows`) into ``store_deliveries``,
``store_messages`` and ``store_batches``; a delivery whose key is stored already is dropped, so a
retried or repeated delivery never doubles a row, whichever worker made it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from msgrelay.destinations.delivery import Delivery
from msgrelay.destinations.export import export_csv, export_jsonl, export_row
from msgrelay.destinations.registry import RegisterDestination
from msgrelay.destinations.rows import STORED_COLUMNS, batch_failures, loads, store_rows

__all__ = ["PostgresStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS store_deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    destination TEXT NOT NULL,
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    customer_id TEXT,
    campaign_id TEXT,
    linkedin TEXT,
    extra TEXT,
    delivered_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS store_batches (
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    failures TEXT NOT NULL,
    PRIMARY KEY (source, batch_id)
);
CREATE TABLE IF NOT EXISTS store_messages (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery BIGINT NOT NULL REFERENCES store_deliveries (id),
    message_type TEXT NOT NULL,
    text TEXT
)
"""


class PostgresStore:
    """Delivered messages in PostgreSQL; the pool opens on first use (registering costs nothing).

    Args:
        url: the ``postgresql://`` URL of the ledger.
        clock: seconds since the epoch (injected for tests).
    """

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.clock = clock
        self._pool: Any = None
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        """The database, without its password."""
        from msgrelay.ledger.postgres import safe_dsn

        return safe_dsn(self.url)

    def __repr__(self) -> str:
        return f"PostgresStore({self.where!r})"

    def _tx(self) -> Any:
        with self._lock:
            if self._pool is None:
                from msgrelay.ledger.postgres.base import open_pool

                self._pool = open_pool(self.url, name="msgrelay-store", schema=_SCHEMA)
        return self._pool.transaction()

    def close(self) -> None:
        """Close the pool (it opens again on the next use)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def deliver(self, delivery: Delivery) -> None:
        """Store one delivery (a repeat of a stored key is dropped)."""
        self.deliver_many([delivery])

    def deliver_many(self, deliveries: Sequence[Delivery]) -> Mapping[str, BaseException]:
        """Store many deliveries in one transaction; no per-delivery failures (a failure raises)."""
        rows, texts = store_rows(deliveries, self.clock())
        if not rows:
            return {}
        with self._tx() as conn:
            failures = batch_failures(deliveries)
            conn.execute(
                "INSERT INTO store_batches (source, batch_id, failures)"
                " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])"
                " ON CONFLICT (source, batch_id) DO UPDATE SET failures = EXCLUDED.failures",
                [list(column) for column in zip(*failures, strict=True)],
            )
            # One statement per chunk: columns as arrays, unnested; the new rows' ids come back by key.
            inserted = conn.execute(
                "INSERT INTO store_deliveries (key, destination, source, batch_id, item_id, customer_id,"
                " campaign_id, linkedin, extra, delivered_at) SELECT * FROM unnest(%s::text[],"
                " %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
                " %s::text[], %s::float8[]) ON CONFLICT (key) DO NOTHING RETURNING id, key",
                [list(column) for column in zip(*rows, strict=True)],
            ).fetchall()
            ids = {key: id_ for id_, key in inserted}
            messages = [(ids[key], kind, text) for key, kinds in texts if key in ids for kind, text in kinds]
            if messages:
                conn.execute(
                    "INSERT INTO store_messages (delivery, message_type, text)"
                    " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[])",
                    [list(column) for column in zip(*messages, strict=True)],
                )
        return {}

    def prune(self, *, before: float) -> int:
        """Retention: delete the deliveries stored before ``before`` (epoch seconds) with their messages;
        how many deliveries (the rule of `msgrelay.destinations.store.Store.prune`)."""
        with self._tx() as c:
            c.execute(
                "DELETE FROM store_messages WHERE delivery IN"
                " (SELECT id FROM store_deliveries WHERE delivered_at < %s)",
                (before,),
            )
            deleted: int = c.execute(
                "DELETE FROM store_deliveries WHERE delivered_at < %s", (before,)
            ).rowcount
            c.execute(
                "DELETE FROM store_batches sb WHERE NOT EXISTS (SELECT 1 FROM store_deliveries d"
                " WHERE d.source = sb.source AND d.batch_id = sb.batch_id)"
            )
        return deleted

    def register_as(self, register: RegisterDestination, name: str = "store") -> None:
        """Register this store as a destination under ``name``."""
        register(name, self.deliver, deliver_many=self.deliver_many)

    def summary(self) -> dict[str, Any]:
        """``{"path", "leads", "messages", "generated"}``: deliveries, message rows, non-null texts."""
        with self._tx() as conn:
            leads = conn.execute("SELECT count(*) FROM store_deliveries").fetchone()[0]
            messages, generated = conn.execute("SELECT count(*), count(text) FROM store_messages").fetchone()
        return {"path": self.where, "leads": leads, "messages": messages, "generated": generated}

    def rows(self) -> Iterator[dict[str, Any]]:
        """One dict per stored message, in delivery order (`EXPORT_COLUMNS`)."""
        with self._tx() as conn:
            cursor = conn.execute(
                "SELECT d.delivered_at, d.source, d.batch_id, d.customer_id, d.campaign_id, d.item_id,"
                " d.linkedin, m.message_type, m.text, d.key, d.extra, b.failures"
                " FROM store_messages m JOIN store_deliveries d ON d.id = m.delivery"
                " LEFT JOIN store_batches b ON b.source = d.source AND b.batch_id = d.batch_id ORDER BY m.seq"
            )
            for row in cursor:
                record = dict(zip(STORED_COLUMNS, row[:10], strict=True))
                record["delivered_at"] = (
                    datetime.fromtimestamp(row[0], UTC).isoformat().replace("+00:00", "Z")
                )
                yield export_row(record, lead=loads(row[10]), failures=loads(row[11]))

    def export_jsonl(self, out: TextIO) -> int:
        """Write one JSON object per message; returns how many."""
        return export_jsonl(self.rows(), out)

    def export_csv(self, out: TextIO) -> int:
        """Write a CSV file with a header row (`EXPORT_COLUMNS`); returns the data rows written."""
        return export_csv(self.rows(), out)
