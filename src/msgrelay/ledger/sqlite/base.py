"""What every part of the SQLite ledger stands on: its file, per-thread connections, write transactions.

`SQLiteLedger` is assembled from parts (`SQLiteSubmissions`, `SQLiteInbox`, `SQLiteOutbox`), each a
subclass of `SQLiteBase`, so each part reads and writes through the same connection and transaction
rules: one connection per thread in autocommit mode, and explicit ``BEGIN IMMEDIATE`` transactions.
A failure of the file is raised as a `msgrelay.errors.LedgerError` by the connection itself
(`msgrelay.ledger.sqlite.connection`).

Leases are written and compared in one clock for every worker (`SQLiteBase.lease_now`): the
database's, unless a test hands the ledger its own.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Self

from msgrelay.config import msgrelay_home
from msgrelay.ledger.base import LeaseClock
from msgrelay.ledger.sqlite.connection import Connection, connect, write_transaction
from msgrelay.ledger.sqlite.schema import upgrade

__all__ = ["DATABASE_NOW", "LEDGER_FILE", "SQLiteBase", "batch_filter"]

LEDGER_FILE = "ledger.sqlite3"

#: SQLite's own time in seconds since the epoch (``unixepoch('subsec')`` needs SQLite 3.42).
DATABASE_NOW = "(julianday('now') - 2440587.5) * 86400.0"


class SQLiteBase:
    """The ledger's SQLite file and connections; the arguments are `SQLiteLedger`'s.

    Opening migrates the file to the current schema (`msgrelay.ledger.sqlite.schema`).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        busy_timeout: float = 30.0,
        synchronous: str = "FULL",
        lease_clock: LeaseClock = "database",
    ) -> None:
        self.path = Path(path) if path is not None else msgrelay_home() / LEDGER_FILE
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous
        self.lease_clock: LeaseClock = lease_clock
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            upgrade(self._conn(), self.path)
        except BaseException:
            self.close()
            raise

    def _conn(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, busy_timeout=self.busy_timeout, synchronous=self.synchronous)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def _write(self, *, lock_timeout: float | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction on this thread's connection (`connection.write_transaction`).

        Args:
            lock_timeout: seconds to wait for another writer's lock this time, instead of
                `busy_timeout` (the receiver must answer the vendor within its own deadline).
        """
        conn = self._conn()
        if lock_timeout is None:
            with write_transaction(conn) as c:
                yield c
            return
        # The connection is this thread's alone, so changing its busy timeout affects only this call.
        conn.set_busy_timeout(lock_timeout)
        try:
            with write_transaction(conn) as c:
                yield c
        finally:
            conn.set_busy_timeout(self.busy_timeout)

    def lease_now(self, conn: sqlite3.Connection, now: float) -> float:
        """The time leases are written and compared in: the database's (``now`` when the ledger was
        opened with ``lease_clock="caller"``).

        One clock for every worker, so a worker whose own clock runs ahead cannot see a live claim as
        ended and take it over. Due times (a retry's next attempt) stay in the caller's ``now``: a
        skewed clock only makes its own retries early or late, never a row held twice.
        """
        if self.lease_clock == "caller":
            return now
        return float(conn.execute(f"SELECT {DATABASE_NOW}").fetchone()[0])

    def close(self) -> None:
        """Close every connection this object opened (from any thread)."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def batch_filter(source: str | None, batch_id: str | None, *, table: str = "") -> tuple[str, tuple[str, ...]]:
    """The ``AND ...`` clause and arguments that limit a query to one source and batch, if given."""
    where, args = "", tuple[str, ...]()
    if source is not None:
        where, args = f" AND {table}source = ?", (source,)
    if batch_id is not None:
        where, args = where + f" AND {table}batch_id = ?", (*args, batch_id)
    return where, args
