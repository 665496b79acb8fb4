"""How msgrelay opens SQLite files and writes to them; shared by the ledger and the built-in store.

One connection per thread in autocommit mode, WAL so readers never wait for the writer, and explicit
``BEGIN IMMEDIATE`` transactions that take the write lock up front, so two processes can never
deadlock half way through a transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path


def connect(path: Path, *, busy_timeout: float = 30.0, synchronous: str = "FULL") -> sqlite3.Connection:
    """A connection to ``path`` (its folder created, owner-only), in WAL mode and autocommit.

    Args:
        busy_timeout: seconds to wait for another writer's lock.
        synchronous: ``FULL`` (the default) makes a committed row survive a power loss too.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
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
