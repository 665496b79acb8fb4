"""The built-in ``store`` destination: delivered messages in SQLite, exported as JSON Lines or CSV.

It lets a new user see results with no third-party account: ``msgrelay relay ID`` delivers to it by
default, and ``msgrelay relay --export jsonl`` prints what it holds. A delivery whose key is already
stored for its batch is dropped, so a retried or repeated delivery never doubles a row (a key names
its batch: `msgrelay.destinations.storeschema`, which also holds the tables and their migration).

The file is ``$MSGRELAY_HOME/store.sqlite3``; a host can register a `Store` at another path under
another name with `Store.register_as`. When the ledger is PostgreSQL (``MSGRELAY_LEDGER_URL``), the
built-in store is `msgrelay.destinations.pgstore.PostgresStore` in the same database instead, so every
worker on every machine writes one store (`open_store` chooses).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from msgrelay.config import MSGRELAY_HOME, msgrelay_home
from msgrelay.destinations.checks import CheckResult
from msgrelay.destinations.delivery import Delivery
from msgrelay.destinations.export import export_csv, export_jsonl, export_row
from msgrelay.destinations.pgstore import PostgresStore
from msgrelay.destinations.registry import RegisterDestination
from msgrelay.destinations.rows import STORED_COLUMNS, batch_failures, loads, store_rows
from msgrelay.destinations.storeschema import migrate_store
from msgrelay.ledger.sqlite.connection import connect, write_transaction
from msgrelay.ledger.url import is_postgres_url, ledger_url
from msgrelay.plugins.hookspecs import hookimpl

__all__ = ["STORE_FILE", "Store", "open_store", "register_destinations"]

STORE_FILE = "store.sqlite3"


class Store:
    """Delivered messages in a SQLite file.

    Each thread keeps one connection per file (closing a WAL database's last connection checkpoints
    it, which would cost more than the writes); several processes may write the same file.

    Args:
        path: the file; default ``$MSGRELAY_HOME/store.sqlite3``, resolved at each use.
        clock: seconds since the epoch (injected for tests).
    """

    def __init__(self, path: str | Path | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self._path = Path(path) if path is not None else None
        self.clock = clock
        self._local = threading.local()

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path if self._path is not None else msgrelay_home() / STORE_FILE

    @property
    def where(self) -> str:
        """Where the store is, for messages: its file."""
        return str(self.path)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @contextlib.contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        path = self.path
        conns: dict[Path, sqlite3.Connection] = self._local.__dict__.setdefault("conns", {})
        conn = conns.get(path)
        if conn is None:
            # synchronous=FULL: a delivery the ledger records as made must survive a power loss too.
            conn = connect(path, synchronous="FULL", role="store")
            try:
                with write_transaction(conn):
                    migrate_store(conn, path)
            except BaseException:
                conn.close()
                raise
            conns[path] = conn
        if not write:
            yield conn
            return
        with write_transaction(conn):
            yield conn

    def close(self) -> None:
        """Close this thread's connections."""
        conns: dict[Path, sqlite3.Connection] = self._local.__dict__.pop("conns", {})
        for conn in conns.values():
            conn.close()

    # --- the destination -------------------------------------------------------------------------
    def deliver(self, delivery: Delivery) -> None:
        """Store one delivery (a repeat of a key stored for its batch is dropped)."""
        self.deliver_many([delivery])

    def deliver_many(self, deliveries: Sequence[Delivery]) -> Mapping[str, BaseException]:
        """Store many deliveries in one transaction; no per-delivery failures (a failure raises)."""
        rows, texts = store_rows(deliveries, self.clock())
        with self._connect(write=True) as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO batches (source, batch_id, failures) VALUES (?, ?, ?)",
                batch_failures(deliveries),
            )
            ids = _insert_deliveries(conn, rows)
            messages = [(ids[key], kind, text) for key, kinds in texts if key in ids for kind, text in kinds]
            conn.executemany("INSERT INTO messages (delivery, message_type, text) VALUES (?, ?, ?)", messages)
        return {}

    def prune(self, *, before: float) -> int:
        """Retention: delete the deliveries stored before ``before`` (epoch seconds) with their messages;
        how many deliveries.

        The ledger's outbox, not this table, is what keeps a delivery from being made twice, so an
        old row can go; a batch's status row goes with its last delivery.
        """
        if not self.path.exists():
            return 0
        with self._connect(write=True) as conn:
            conn.execute(
                "DELETE FROM messages WHERE delivery IN (SELECT id FROM deliveries WHERE delivered_at < ?)",
                (before,),
            )
            deleted = conn.execute("DELETE FROM deliveries WHERE delivered_at < ?", (before,)).rowcount
            conn.execute(
                "DELETE FROM batches WHERE (source, batch_id) NOT IN"
                " (SELECT source, batch_id FROM deliveries)"
            )
        return deleted

    def register_as(self, register: RegisterDestination, name: str = "store") -> None:
        """Register this store as a destination under ``name``."""
        register(name, self.deliver, deliver_many=self.deliver_many, check=self.check)

    def check(self) -> CheckResult:
        """For ``msgrelay check``: the file opens and takes a (empty) write transaction."""
        try:
            with self._connect(write=True):
                pass
        except Exception as exc:  # any failure to open or write is the finding
            return CheckResult(
                "store: writable",
                False,
                f"{self.path}: {type(exc).__name__}: {exc}",
                f"make {MSGRELAY_HOME} (default ~/.msgrelay) a writable directory, or point it at one",
            )
        return CheckResult("store: writable", True, str(self.path))

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
                " d.linkedin, m.message_type, m.text, d.key, d.extra, b.failures"
                " FROM messages m JOIN deliveries d ON d.id = m.delivery"
                " LEFT JOIN batches b ON b.source = d.source AND b.batch_id = d.batch_id ORDER BY m.rowid"
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


_DELIVERY_COLUMNS = 10
_INSERT_DELIVERIES = (
    "INSERT INTO deliveries (key, destination, source, batch_id, item_id, customer_id, campaign_id, linkedin,"
    " extra, delivered_at) VALUES {values} ON CONFLICT (source, batch_id, key) DO NOTHING RETURNING id, key"
)
_DELIVERY_VALUES = "(" + ", ".join("?" * _DELIVERY_COLUMNS) + ")"


def _insert_deliveries(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> dict[str, int]:
    """Insert delivery rows (distinct keys, in order); the new rows' ids by key.

    A key stored already for its batch is dropped by ``ON CONFLICT`` and gets no id. One multi-row
    ``INSERT`` per chunk rather than one per row: a 10,000-lead batch made 10,000 ``execute`` calls.
    ``RETURNING`` promises no order, so ids are matched by key.
    """
    ids: dict[str, int] = {}
    chunk = max(1, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _DELIVERY_COLUMNS)
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        sql = _INSERT_DELIVERIES.format(values=", ".join([_DELIVERY_VALUES] * len(part)))
        ids.update((key, id_) for id_, key in conn.execute(sql, [value for row in part for value in row]))
    return ids


def open_store() -> Store | PostgresStore:
    """The built-in store where the ledger is: `PostgresStore` beside a PostgreSQL ledger, else `Store`."""
    url = ledger_url()
    return PostgresStore(url) if is_postgres_url(url) else Store()


@hookimpl
def register_destinations(register: RegisterDestination) -> None:
    """The built-in ``store`` destination: ``$MSGRELAY_HOME/store.sqlite3``, or the PostgreSQL ledger's."""
    open_store().register_as(register, "store")
