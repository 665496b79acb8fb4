"""What only the PostgreSQL backend has: its schema table and migrations, its URL handling."""

from __future__ import annotations

import psycopg
import pytest

from msgrelay.errors import ConfigurationError
from msgrelay.ledger import NewerSchemaError, open_ledger
from msgrelay.ledger.postgres import PostgresLedger, safe_dsn
from msgrelay.ledger.postgres.schema import SCHEMA_VERSION, migrate


def _version(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT version FROM msgrelay_schema").fetchone()
    assert row is not None
    return int(row[0])


def test_a_new_database_gets_the_current_version(postgres_url: str) -> None:
    """Opening an empty database creates every table at the current version."""
    with PostgresLedger(postgres_url) as ledger:
        assert ledger.status()["batches"] == {}
    assert _version(postgres_url) == SCHEMA_VERSION


def test_an_older_ledger_upgrades_in_place(postgres_url: str) -> None:
    """A database left at an older version is brought up by the remaining steps, its rows kept."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        migrate(conn, "test", upto=SCHEMA_VERSION - 1)
        migrate(conn, "test", upto=1)
        conn.execute(
            "INSERT INTO batches (source, batch_id, state, next_attempt_at, created_at, updated_at)"
            " VALUES ('upscale', 'old', 'pending', 1, 1, 1)"
        )
        conn.execute("UPDATE msgrelay_schema SET version = 1")
    with PostgresLedger(postgres_url) as ledger:
        assert ledger.batch_state("upscale", "old") == "pending"
    assert _version(postgres_url) == SCHEMA_VERSION


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    """A database written by a newer msgrelay is not opened, and the message names no password."""
    PostgresLedger(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE msgrelay_schema SET version = 99")
    with pytest.raises(NewerSchemaError, match=r"newer msgrelay \(schema 99") as caught:
        open_ledger(postgres_url.replace("msgrelay@", "msgrelay:hunter2@"))
    assert "hunter2" not in str(caught.value)


def test_the_factory_follows_msgrelay_ledger_url(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """MSGRELAY_LEDGER_URL=postgresql://... opens the PostgreSQL ledger, with no password in its repr."""
    monkeypatch.setenv("MSGRELAY_LEDGER_URL", postgres_url.replace("msgrelay@", "msgrelay:hunter2@"))
    ledger = open_ledger()
    try:
        assert isinstance(ledger, PostgresLedger)
        assert "hunter2" not in repr(ledger)
        assert "hunter2" not in str(ledger.status()["ledger"])
    finally:
        ledger.close()


def test_an_unknown_scheme_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mistyped URL names its scheme and the two accepted forms, and never echoes the URL."""
    monkeypatch.setenv("MSGRELAY_LEDGER_URL", "mysql://root:hunter2@db/x")
    with pytest.raises(ConfigurationError, match="unknown scheme 'mysql'") as caught:
        open_ledger()
    assert "hunter2" not in str(caught.value)


def test_safe_dsn_drops_the_password() -> None:
    """The printable form of a URL keeps user, host, port and database, never the password."""
    assert safe_dsn("postgresql://u:secret@db.example:6543/relay") == "postgresql://u@db.example:6543/relay"
