"""The built-in ``store`` destination: delivered messages in SQLite, exported as JSON Lines or CSV.

It lets a new user see results with no third-party account: ``msgrelay relay ID`` delivers to it by
default, and ``msgrelay relay --export jsonl`` prints what it holds. A delivery whose key is already
stored is dropped, so a retried or repeated delivery never doubles a row.

The file is ``$MSGRELAY_HOME/store.sqlite3``; a host can register a `Store` at another path under
another name with `Store.register_as`.
"""

from __future__ import annotations

import contextlib
import csv
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from msgrelay.config import msgrelay_home
from msgrelay.delivery import Delivery
from msgrelay.hookspecs import hookimpl
from msgrelay.upscale.convert import unstructure_lead

__all__ = ["EXPORT_COLUMNS", "STORE_FILE", "Store", "register_destinations"]

STORE_FILE = "store.sqlite3"
#: One exported row per message, in this column order.
EXPORT_COLUMNS = (
    "delivered_at",
    "source",
    "batch_id",
    "customer_id",
    "campaign_id",
    "external_prospect_id",
    "linkedin",
    "message_type",
    "text",
    "key",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    key TEXT PRIMARY KEY,
    destination TEXT NOT NULL,
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    customer_id TEXT,
    campaign_id TEXT,
    linkedin TEXT,
    payload TEXT NOT NULL,
    delivered_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    key TEXT NOT NULL,
    message_type TEXT NOT NULL,
    text TEXT,
    PRIMARY KEY (key, message_type)
) WITHOUT ROWID;
"""


class Store:
    """Delivered messages in a SQLite file.

    A connection is opened per batch and closed after it, so one `Store` serves any number of threads
    and processes (WAL mode) and holds nothing open between deliveries.

    Args:
        path: the file; default ``$MSGRELAY_HOME/store.sqlite3``, resolved at each use.
        clock: seconds since the epoch (injected for tests).
    """

    def __init__(self, path: str | Path | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self._path = Path(path) if path is not None else None
        self.clock = clock

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path if self._path is not None else msgrelay_home() / STORE_FILE

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @contextlib.contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            if write:
                conn.execute("BEGIN IMMEDIATE")
            yield conn
            if write:
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    # --- the destination -------------------------------------------------------------------------
    def deliver(self, delivery: Delivery) -> None:
        """Store one delivery (a repeat of a stored key is dropped)."""
        self.deliver_many([delivery])

    def deliver_many(self, deliveries: Sequence[Delivery]) -> Mapping[str, BaseException]:
        """Store many deliveries in one transaction; no per-delivery failures (a failure raises)."""
        now = self.clock()
        rows, messages = [], []
        for d in deliveries:
            ctx = d.context
            if d.lead is not None:
                payload = orjson.dumps(unstructure_lead(d.lead), default=str).decode()
                linkedin = d.lead.linkedin
                messages += [(d.key, kind, text) for kind, text in d.lead.messages.items()]
            else:
                body = d.message or {}
                payload = orjson.dumps(body, default=str).decode()
                linkedin = None
                text = body.get("body") or body.get("text") or body.get("message")
                messages.append(
                    (d.key, str(body.get("channel") or "message"), None if text is None else str(text))
                )
            rows.append(
                (
                    d.key,
                    d.destination,
                    ctx.source,
                    ctx.batch_id,
                    d.item_id,
                    ctx.customer_id,
                    ctx.campaign_id,
                    linkedin,
                    payload,
                    now,
                )
            )
        with self._connect(write=True) as conn:
            conn.executemany("INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.executemany("INSERT OR IGNORE INTO messages VALUES (?, ?, ?)", messages)
        return {}

    def register_as(self, register: Callable[..., None], name: str = "store") -> None:
        """Register this store as a destination under ``name``."""
        register(name, self.deliver, deliver_many=self.deliver_many)

    # --- reading ---------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """``{"path", "leads", "messages", "generated"}``: deliveries, message rows, non-null texts."""
        if not self.path.exists():
            return {"path": str(self.path), "leads": 0, "messages": 0, "generated": 0}
        with self._connect(write=False) as conn:
            leads = conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]
            messages, generated = conn.execute("SELECT count(*), count(text) FROM messages").fetchone()
        return {"path": str(self.path), "leads": leads, "messages": messages, "generated": generated}

    def rows(self) -> Iterator[dict[str, Any]]:
        """One dict per stored message, in delivery order (`EXPORT_COLUMNS`)."""
        if not self.path.exists():
            return
        with self._connect(write=False) as conn:
            cursor = conn.execute(
                "SELECT d.delivered_at, d.source, d.batch_id, d.customer_id, d.campaign_id, d.item_id,"
                " d.linkedin,"
                " m.message_type, m.text, d.key FROM deliveries d JOIN messages m ON m.key = d.key"
                " ORDER BY d.rowid, m.rowid"
            )
            for row in cursor:
                record = dict(zip(EXPORT_COLUMNS, row, strict=True))
                record["delivered_at"] = (
                    datetime.fromtimestamp(row[0], UTC).isoformat().replace("+00:00", "Z")
                )
                yield record

    def export_jsonl(self, out: TextIO) -> int:
        """Write one JSON object per message; returns how many."""
        count = 0
        for count, row in enumerate(self.rows(), start=1):  # noqa: B007 - the count is the result
            out.write(orjson.dumps(row).decode() + "\n")
        return count

    def export_csv(self, out: TextIO) -> int:
        """Write a CSV file with a header row (`EXPORT_COLUMNS`); returns the data rows written."""
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        count = 0
        for count, row in enumerate(self.rows(), start=1):  # noqa: B007 - the count is the result
            writer.writerow(row)
        return count


@hookimpl
def register_destinations(register: Callable[..., None]) -> None:
    """The built-in ``store`` destination, at ``$MSGRELAY_HOME/store.sqlite3``."""
    Store().register_as(register, "store")
