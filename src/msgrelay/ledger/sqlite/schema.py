"""The SQLite ledger's tables, and the migration that brings a file up to them.

``PRAGMA user_version`` holds the schema version. `SCHEMA` is version 1, created when missing; each
later version is one step in `STEPS`, applied in order to a file at an older version, so an older
ledger upgrades in place. Opening a file written by a newer msgrelay fails rather than guess at its
tables. A file already at the current version is only read (`upgrade`): no write lock is taken, so
opening a ledger to read it never waits for another process's writer.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from msgrelay.ledger.sqlite.connection import write_transaction
from msgrelay.ledger.versions import check_version

__all__ = ["SCHEMA", "SCHEMA_VERSION", "STEPS", "migrate", "upgrade"]

SCHEMA = """
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


#: Version 2 (issues 10 and 11): the submission's account and request fields (a re-run is compared
#: with them), every submitted lead in full (joined with the retrieved leads at fan-out), and the
#: polling of submissions whose webhook never came. Rows from version 1 have no account ('') and no
#: leads; those with an id and no batch yet are polled from now on.
_V2 = """
ALTER TABLE submissions ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN request TEXT;
ALTER TABLE submissions ADD COLUMN poll_state TEXT;
ALTER TABLE submissions ADD COLUMN next_poll_at REAL;
ALTER TABLE submissions ADD COLUMN polls INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS submissions_by_request_id ON submissions (secure_request_id);
CREATE INDEX IF NOT EXISTS submissions_polled ON submissions (next_poll_at) WHERE poll_state = 'waiting';
CREATE TABLE IF NOT EXISTS submitted_leads (
    submission TEXT NOT NULL,
    external_prospect_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (submission, external_prospect_id)
);
UPDATE submissions SET poll_state = 'waiting' WHERE secure_request_id IS NOT NULL AND NOT EXISTS
    (SELECT 1 FROM batches b WHERE b.source = 'upscale' AND b.batch_id = submissions.secure_request_id)
"""

#: The steps after version 1: ``STEPS[i]`` brings a file from version ``i + 1`` to ``i + 2``.
STEPS: tuple[str, ...] = (_V2,)
SCHEMA_VERSION = 1 + len(STEPS)


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Create what is missing of the schema, inside the caller's write transaction on ``path``."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    check_version(version, SCHEMA_VERSION, str(path))
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    # A new file is version 0: it has just been given the version 1 tables, and takes every step.
    for step in STEPS[max(version, 1) - 1 :]:
        for statement in step.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def upgrade(conn: sqlite3.Connection, path: Path) -> None:
    """Bring ``path`` to the current schema; a file already there is only read, without the write lock.

    A file written by a newer msgrelay fails here too, before any lock is taken.
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    check_version(version, SCHEMA_VERSION, str(path))
    if version == SCHEMA_VERSION:
        return
    # Read again under the lock (`migrate`): another process may have upgraded it meanwhile.
    with write_transaction(conn):
        migrate(conn, path)
