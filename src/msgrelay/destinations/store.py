"""The built-in ``store`` destination: delivered messages in SQLite, exported as JSON Lines or CSV.

It lets a new user see results with no third-party account: ``msgrelay relay ID`` delivers to it by
default, and ``msgrelay relay --export jsonl`` prints what it holds. A delivery whose key is already
stored is dropped, so a retried or repeated delivery never doubles a row.

The file is ``$MSGRELAY_HOME/store.sqlite3``; a host can register a `Store` at another path under
another name with `Store.register_as`. When the ledger is PostgreSQL (``MSGRELAY_LEDGER_URL``), the
store is `PostgresStore`, in the same database, so every worker on every machine writes one store
(`open_store` chooses).
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

import orjson

from msgrelay.config import msgrelay_home
from msgrelay.destinations.delivery import Delivery
from msgrelay.destinations.export import EXPORT_COLUMNS, export_csv, export_jsonl
from msgrelay.destinations.registry import RegisterDestination
from msgrelay.ledger.sqlite.connection import connect, write_transaction
from msgrelay.ledger.url import is_postgres_url, ledger_url
from msgrelay.plugins.hookspecs import hookimpl
from msgrelay.upscale.models import Lead

__all__ = ["STORE_FILE", "PostgresStore", "Store", "open_store", "register_destinations"]

STORE_FILE = "store.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    destination TEXT NOT NULL,
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    customer_id TEXT,
    campaign_id TEXT,
    linkedin TEXT,
    extra TEXT,
    delivered_at REAL NOT NULL
);
-- Appended in delivery order, so an export reads it in rowid order with no index of its own.
CREATE TABLE IF NOT EXISTS messages (
    delivery INTEGER NOT NULL REFERENCES deliveries (id),
    message_type TEXT NOT NULL,
    text TEXT
);
"""


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
            conn = connect(path, synchronous="FULL")
            conn.executescript(_SCHEMA)
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
        """Store one delivery (a repeat of a stored key is dropped)."""
        self.deliver_many([delivery])

    def deliver_many(self, deliveries: Sequence[Delivery]) -> Mapping[str, BaseException]:
        """Store many deliveries in one transaction; no per-delivery failures (a failure raises)."""
        rows, texts = _store_rows(deliveries, self.clock())
        with self._connect(write=True) as conn:
            ids = _insert_deliveries(conn, rows)
            messages = [(ids[key], kind, text) for key, kinds in texts if key in ids for kind, text in kinds]
            conn.executemany("INSERT INTO messages (delivery, message_type, text) VALUES (?, ?, ?)", messages)
        return {}

    def register_as(self, register: RegisterDestination, name: str = "store") -> None:
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
                " d.linkedin, m.message_type, m.text, d.key"
                " FROM messages m JOIN deliveries d ON d.id = m.delivery ORDER BY m.rowid"
            )
            for row in cursor:
                record = dict(zip(EXPORT_COLUMNS, row, strict=True))
                record["delivered_at"] = (
                    datetime.fromtimestamp(row[0], UTC).isoformat().replace("+00:00", "Z")
                )
                yield record

    def export_jsonl(self, out: TextIO) -> int:
        """Write one JSON object per message; returns how many."""
        return export_jsonl(self.rows(), out)

    def export_csv(self, out: TextIO) -> int:
        """Write a CSV file with a header row (`EXPORT_COLUMNS`); returns the data rows written."""
        return export_csv(self.rows(), out)


_Texts = list[tuple[str, list[tuple[str, str | None]]]]


def _store_rows(deliveries: Sequence[Delivery], now: float) -> tuple[list[tuple[Any, ...]], _Texts]:
    """The ``deliveries`` rows (distinct keys, in order) and each key's (message type, text) pairs."""
    rows: list[tuple[Any, ...]] = []
    texts: _Texts = []
    seen: set[str] = set()
    for d in deliveries:
        if d.key in seen:
            continue  # a repeat within the batch: dropped, as the first one's row holds the key
        seen.add(d.key)
        ctx, lead = d.context, d.lead
        if lead is not None:
            linkedin, extra = lead.linkedin, _lead_extra(lead)
            kinds: list[tuple[str, str | None]] = list(lead.messages.items())
        else:
            body = d.message or {}
            text = body.get("body") or body.get("text") or body.get("message")
            linkedin, extra = None, orjson.dumps(body, default=str).decode()
            kinds = [(str(body.get("channel") or "message"), None if text is None else str(text))]
        rows.append(
            (d.key, d.destination, ctx.source, ctx.batch_id, d.item_id, ctx.customer_id,
             ctx.campaign_id, linkedin, extra, now)
        )  # fmt: skip
        texts.append((d.key, kinds))
    return rows, texts


_DELIVERY_COLUMNS = 10
_INSERT_DELIVERIES = (
    "INSERT INTO deliveries (key, destination, source, batch_id, item_id, customer_id, campaign_id, linkedin,"
    " extra, delivered_at) VALUES {values} ON CONFLICT (key) DO NOTHING RETURNING id, key"
)
_DELIVERY_VALUES = "(" + ", ".join("?" * _DELIVERY_COLUMNS) + ")"


def _insert_deliveries(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> dict[str, int]:
    """Insert delivery rows (distinct keys, in order); the new rows' ids by key.

    A key stored already is dropped by ``ON CONFLICT`` and gets no id. One multi-row ``INSERT`` per
    chunk rather than one per row: a 10,000-lead batch made 10,000 ``execute`` calls. ``RETURNING``
    promises no order, so ids are matched by key.
    """
    ids: dict[str, int] = {}
    chunk = max(1, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _DELIVERY_COLUMNS)
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        sql = _INSERT_DELIVERIES.format(values=", ".join([_DELIVERY_VALUES] * len(part)))
        ids.update((key, id_) for id_, key in conn.execute(sql, [value for row in part for value in row]))
    return ids


def _lead_extra(lead: Lead) -> str | None:
    """The lead's keys beyond id, LinkedIn URL and messages (as JSON), or None when it has none."""
    if not lead.extra and lead.no_job_posts is None:
        return None
    data = dict(lead.extra)
    if lead.no_job_posts is not None:
        data["no_job_posts"] = lead.no_job_posts
    return orjson.dumps(data, default=str).decode()


_PG_SCHEMA = """
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
CREATE TABLE IF NOT EXISTS store_messages (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery BIGINT NOT NULL REFERENCES store_deliveries (id),
    message_type TEXT NOT NULL,
    text TEXT
)
"""


class PostgresStore(Store):
    """The built-in store in the PostgreSQL ledger's database (tables ``store_deliveries`` and
    ``store_messages``): one store for every worker on every machine. The pool opens on first use.

    Args:
        url: the ``postgresql://`` URL of the ledger.
        clock: seconds since the epoch (injected for tests).
    """

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self.url = url
        self._pool: Any = None
        self._pool_lock = threading.Lock()

    @property
    def where(self) -> str:
        """The database, without its password."""
        from msgrelay.ledger.postgres import safe_dsn

        return safe_dsn(self.url)

    def __repr__(self) -> str:
        return f"PostgresStore({self.where!r})"

    def _tx(self) -> Any:
        with self._pool_lock:
            if self._pool is None:
                from msgrelay.ledger.postgres.base import open_pool

                self._pool = open_pool(self.url, name="msgrelay-store", schema=_PG_SCHEMA)
        return self._pool.transaction()

    def close(self) -> None:
        """Close the pool."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def deliver_many(self, deliveries: Sequence[Delivery]) -> Mapping[str, BaseException]:
        """Store many deliveries in one transaction; a key stored already is dropped."""
        rows, texts = _store_rows(deliveries, self.clock())
        if not rows:
            return {}
        columns = list(zip(*rows, strict=True))
        with self._tx() as conn:
            # One statement for the whole chunk: arrays in, unnest, and the new rows' ids back by key.
            ids = {
                key: id_
                for id_, key in conn.execute(
                    "INSERT INTO store_deliveries (key, destination, source, batch_id, item_id, customer_id,"
                    " campaign_id, linkedin, extra, delivered_at) SELECT * FROM unnest(%s::text[],"
                    " %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
                    " %s::text[], %s::float8[]) ON CONFLICT (key) DO NOTHING RETURNING id, key",
                    [list(c) for c in columns],
                ).fetchall()
            }
            messages = [(ids[key], kind, text) for key, kinds in texts if key in ids for kind, text in kinds]
            if messages:
                conn.execute(
                    "INSERT INTO store_messages (delivery, message_type, text)"
                    " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[])",
                    [list(c) for c in zip(*messages, strict=True)],
                )
        return {}

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
                " d.linkedin, m.message_type, m.text, d.key"
                " FROM store_messages m JOIN store_deliveries d ON d.id = m.delivery ORDER BY m.seq"
            )
            for row in cursor:
                record = dict(zip(EXPORT_COLUMNS, row, strict=True))
                record["delivered_at"] = (
                    datetime.fromtimestamp(row[0], UTC).isoformat().replace("+00:00", "Z")
                )
                yield record


def open_store() -> Store:
    """The built-in store where the ledger is: `PostgresStore` beside a PostgreSQL ledger, else `Store`."""
    url = ledger_url()
    return PostgresStore(url) if is_postgres_url(url) else Store()


@hookimpl
def register_destinations(register: RegisterDestination) -> None:
    """The built-in ``store`` destination: ``$MSGRELAY_HOME/store.sqlite3``, or the PostgreSQL ledger's."""
    open_store().register_as(register, "store")
