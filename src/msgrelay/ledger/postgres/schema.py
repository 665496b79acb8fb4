"""The PostgreSQL ledger's tables, and the migrations that bring a database up to them.

The ``msgrelay_schema`` table holds the version. `STEPS` are the versions in order: ``STEPS[i]`` brings
a database from version ``i`` to ``i + 1`` (an empty one is version 0), so an older ledger upgrades in
place, one step at a time, in one transaction. A database written by a newer msgrelay is refused rather
than misread. Several processes may open the ledger at once: an advisory lock makes them migrate one
after the other, and the later ones find nothing left to do.
"""

from __future__ import annotations

from typing import Any

import psycopg

from msgrelay.ledger.versions import check_version

__all__ = ["MIGRATION_LOCK", "SCHEMA_VERSION", "STEPS", "migrate"]

#: Version 1: the tables of the SQLite ledger's version 1, in PostgreSQL's types.
_V1 = """
CREATE TABLE submissions (
    key TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    lead_count INTEGER NOT NULL,
    message_types TEXT NOT NULL,
    secure_request_id TEXT,
    owner TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE batches (
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    state TEXT NOT NULL,
    event TEXT,
    destinations TEXT,
    context TEXT,
    received INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    last_error TEXT,
    owner TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (source, batch_id)
);
CREATE INDEX batches_due ON batches (next_attempt_at) WHERE state IN ('pending', 'claimed');
CREATE TABLE items (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (source, batch_id, item_id)
);
CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    destination TEXT NOT NULL,
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    last_error TEXT,
    owner TEXT,
    delivered_at DOUBLE PRECISION,
    UNIQUE (source, batch_id, destination, item_id)
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state IN ('pending', 'claimed');
CREATE TABLE hook_errors (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    plugin TEXT NOT NULL,
    hook TEXT NOT NULL,
    subject TEXT NOT NULL,
    error TEXT NOT NULL,
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL
)
"""

#: Version 2 (issues 10 and 11), as SQLite's: the submission's account and request fields, every
#: submitted lead in full (joined back at fan-out), and the polling of submissions whose webhook never
#: came; rows from version 1 with an id and no batch yet are polled from now on.
_V2 = """
ALTER TABLE submissions ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN request TEXT;
ALTER TABLE submissions ADD COLUMN poll_state TEXT;
ALTER TABLE submissions ADD COLUMN next_poll_at DOUBLE PRECISION;
ALTER TABLE submissions ADD COLUMN polls INTEGER NOT NULL DEFAULT 0;
CREATE INDEX submissions_by_request_id ON submissions (secure_request_id);
CREATE INDEX submissions_polled ON submissions (next_poll_at) WHERE poll_state = 'waiting';
CREATE TABLE submitted_leads (
    submission TEXT NOT NULL,
    external_prospect_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (submission, external_prospect_id)
);
UPDATE submissions SET poll_state = 'waiting' WHERE secure_request_id IS NOT NULL AND NOT EXISTS
    (SELECT 1 FROM batches b WHERE b.source = 'upscale' AND b.batch_id = submissions.secure_request_id)
"""

#: ``STEPS[i]`` brings a database from version ``i`` to ``i + 1``.
STEPS: tuple[str, ...] = (_V1, _V2)
SCHEMA_VERSION = len(STEPS)

# Any fixed number: the key of the advisory lock migrations take, so two openers never both migrate.
MIGRATION_LOCK = 0x6D7367726C6179


def migrate(conn: psycopg.Connection[tuple[Any, ...]], where: str, *, upto: int = SCHEMA_VERSION) -> int:
    """Bring the database up to version ``upto`` in one transaction; returns the version found.

    Args:
        conn: a connection outside any transaction.
        where: names the database in the error for a newer schema (never with its password).
        upto: the version to stop at (tests build an older ledger with it).
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS msgrelay_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM msgrelay_schema").fetchone()
        found = 0 if row is None else int(row[0])
        check_version(found, SCHEMA_VERSION, where)
        for step in STEPS[found:upto]:
            for statement in step.split(";"):
                if statement.strip():
                    conn.execute(statement.encode())
        if row is None:
            conn.execute("INSERT INTO msgrelay_schema (version) VALUES (%s)", (max(found, upto),))
        else:
            conn.execute("UPDATE msgrelay_schema SET version = %s", (max(found, upto),))
    return found
