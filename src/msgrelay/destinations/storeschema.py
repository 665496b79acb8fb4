"""The built-in SQLite store's tables, and the migration that brings a store file up to them.

Versioned as the ledger is (`msgrelay.ledger.sqlite.schema`): ``PRAGMA user_version`` holds the
version, each later version is one step in `STEPS`, and a file written by a newer msgrelay is refused
rather than misread. Stores written before the version was kept say 0 and hold version 1's tables.

Version 2 (issue 14) keeps a delivery's key unique within its batch, ``UNIQUE (source, batch_id, key)``,
instead of ``UNIQUE (key)``. A delivery key is a SHA-256 digest, so an index on the key alone takes
each insert to a random page: a 10,000-lead batch dirtied pages all over an index that grows with
every batch, and ten batches in a row into one store ran 0.57-0.81 times as fast at the end as at the start.
Led by the batch, the index takes a batch's keys in one place, and inserts stay local however large
the store grows. No relayed delivery is stored twice either way: its key is derived from its
destination, source, batch and item (`msgrelay.ledger.delivery_key`), so one key never names two batches.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from msgrelay.ledger.versions import NewerSchemaError

__all__ = ["STEPS", "STORE_SCHEMA_VERSION", "migrate_store"]

_DELIVERIES = """
CREATE TABLE {name} (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    destination TEXT NOT NULL,
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    customer_id TEXT,
    campaign_id TEXT,
    linkedin TEXT,
    extra TEXT,
    delivered_at REAL NOT NULL,
    -- A repeated delivery is dropped on this index (ON CONFLICT): led by the batch, so it stays local.
    UNIQUE (source, batch_id, key)
)"""

#: The tables beside ``deliveries``, as they have been since version 1 (``IF NOT EXISTS``: a store
#: from before the ``batches`` table gets it when it is migrated).
_OTHER_TABLES = (
    # The vendor's status and failure fields of each batch delivered here (`RelayContext.failures`).
    """CREATE TABLE IF NOT EXISTS batches (
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    failures TEXT NOT NULL,
    PRIMARY KEY (source, batch_id)
)""",
    # Appended in delivery order, so an export reads it in rowid order with no index of its own.
    """CREATE TABLE IF NOT EXISTS messages (
    delivery INTEGER NOT NULL REFERENCES deliveries (id),
    message_type TEXT NOT NULL,
    text TEXT
)""",
)

#: Version 1 → 2: ``deliveries`` rebuilt with its key unique within its batch (see the module's
#: docstring). Every row is copied with its id, which ``messages`` refers to; a large store takes
#: one pass over its deliveries, once.
_V2 = (
    _DELIVERIES.format(name="deliveries_v2"),
    "INSERT INTO deliveries_v2 (id, key, destination, source, batch_id, item_id, customer_id, campaign_id,"
    " linkedin, extra, delivered_at) SELECT id, key, destination, source, batch_id, item_id, customer_id,"
    " campaign_id, linkedin, extra, delivered_at FROM deliveries ORDER BY id",
    "DROP TABLE deliveries",
    "ALTER TABLE deliveries_v2 RENAME TO deliveries",
)

#: The steps after version 1: ``STEPS[i]`` brings a store from version ``i + 1`` to ``i + 2``.
STEPS: tuple[tuple[str, ...], ...] = (_V2,)
STORE_SCHEMA_VERSION = 1 + len(STEPS)


def migrate_store(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables of a new store, or bring an older one up to them, inside the caller's write
    transaction on ``path``; a store from a newer msgrelay raises `NewerSchemaError`."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == STORE_SCHEMA_VERSION:
        return
    if version > STORE_SCHEMA_VERSION:
        raise NewerSchemaError(
            f"{path} was written by a newer msgrelay (store schema {version}; this one knows up to "
            f"{STORE_SCHEMA_VERSION}): upgrade msgrelay, or point MSGRELAY_HOME at another folder"
        )
    if version == 0 and _has_table(conn, "deliveries"):
        version = 1  # written before the version was kept
    if version == 0:
        conn.execute(_DELIVERIES.format(name="deliveries"))
    else:
        for step in STEPS[version - 1 :]:
            for statement in step:
                conn.execute(statement)
    for statement in _OTHER_TABLES:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version={STORE_SCHEMA_VERSION}")


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
    return found is not None
