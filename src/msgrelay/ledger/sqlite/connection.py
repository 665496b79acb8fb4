"""How msgrelay opens SQLite files and writes to them; shared by the ledger and the built-in store.

One connection per thread in autocommit mode, WAL so readers never wait for the writer, and explicit
``BEGIN IMMEDIATE`` transactions that take the write lock up front, so two processes can never
deadlock half way through a transaction.

Every failure that is about the file (busy, full, read-only, not a database, damaged, unopenable) is
raised as the matching `msgrelay.errors.LedgerError` (`msgrelay.ledger.sqlite.failures`), here at the
connection: a `Connection` and its `Cursor` translate what each statement and each fetch raises, so
the ledger's and the store's methods never catch anything themselves.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn, cast

from msgrelay.ledger.sqlite.failures import os_failure, sqlite_failure

__all__ = ["Connection", "Cursor", "connect", "write_transaction"]


class Connection(sqlite3.Connection):
    """A `sqlite3.Connection` whose statements raise a `LedgerError` for a failure of its file.

    Attributes:
        path: the database file.
        role: what the file is, for messages (``ledger``, ``store``).
        busy_timeout: seconds a statement waits for another writer's lock (`set_busy_timeout`).
    """

    path: Path
    role: str
    busy_timeout: float

    def set_busy_timeout(self, seconds: float) -> None:
        """Wait up to ``seconds`` for another writer's lock, SQLite backing off between tries."""
        self.busy_timeout = max(seconds, 0.0)
        self.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")

    def fail(self, exc: sqlite3.Error) -> NoReturn:
        """Raise ``exc`` as the `LedgerError` it means, or as it is when it is not about the file."""
        failure = sqlite_failure(exc, self.path, role=self.role, busy_timeout=self.busy_timeout)
        if failure is None:
            raise exc
        raise failure from exc

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        return Cursor(self).execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor:
        return Cursor(self).executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> Cursor:
        return Cursor(self).executescript(sql_script)


class Cursor(sqlite3.Cursor):
    """A `sqlite3.Cursor` of a `Connection`: a failure while stepping (a damaged page read late
    included) is raised as its `LedgerError`."""

    def _fail(self, exc: sqlite3.Error) -> NoReturn:
        cast(Connection, self.connection).fail(exc)

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        try:
            super().execute(sql, parameters)
        except sqlite3.Error as exc:
            self._fail(exc)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> Cursor:
        try:
            super().executemany(sql, seq_of_parameters)
        except sqlite3.Error as exc:
            self._fail(exc)
        return self

    def executescript(self, sql_script: str, /) -> Cursor:
        try:
            super().executescript(sql_script)
        except sqlite3.Error as exc:
            self._fail(exc)
        return self

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as exc:
            self._fail(exc)

    def fetchmany(self, size: int | None = 1) -> list[Any]:
        try:
            return super().fetchmany(size)
        except sqlite3.Error as exc:
            self._fail(exc)

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as exc:
            self._fail(exc)

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.Error as exc:
            self._fail(exc)


def connect(
    path: Path, *, busy_timeout: float = 30.0, synchronous: str = "FULL", role: str = "ledger"
) -> Connection:
    """A connection to ``path`` (its folder created, owner-only), in WAL mode and autocommit.

    Args:
        busy_timeout: seconds to wait for another writer's lock; SQLite retries meanwhile, backing off
            from 1 ms to 100 ms between tries. Past it, `LedgerBusyError`.
        synchronous: ``FULL`` (the default) makes a committed row survive a power loss too.
        role: what the file is, for messages (``ledger``, ``store``).

    Raises:
        LedgerError: the folder cannot be created, or the file cannot be opened as a database
            (`msgrelay.ledger.sqlite.failures` says which, and how to fix it).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise os_failure(exc, path, role=role) from exc
    try:
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False, factory=Connection
        )
    except sqlite3.Error as exc:
        failure = sqlite_failure(exc, path, role=role, busy_timeout=busy_timeout)
        if failure is None:
            raise
        raise failure from exc
    conn.path, conn.role, conn.busy_timeout = path, role, busy_timeout
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (disk full, I/O error) leaves the transaction open: end it, or this
        # thread's connection stays stuck inside it.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
