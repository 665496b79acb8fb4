"""What only the SQLite backend has: one file in WAL mode, its schema version in ``user_version``.

Everything else a ledger promises is in the contract suite (``test_contract.py``), run on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from msgrelay.ledger import NewerSchemaError, SQLiteLedger, open_ledger
from msgrelay.ledger.sqlite.schema import SCHEMA_VERSION


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SQLiteLedger]:
    with SQLiteLedger(tmp_path / "ledger.sqlite3") as opened:
        yield opened


def test_the_file_is_in_wal_mode(ledger: SQLiteLedger) -> None:
    """WAL lets readers and one writer share the file across processes."""
    assert ledger._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_new_file_gets_the_current_version(ledger: SQLiteLedger) -> None:
    """A new ledger is written at the current schema version."""
    assert ledger._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A file written by a newer msgrelay is not silently misread."""
    path = tmp_path / "ledger.sqlite3"
    with SQLiteLedger(path) as ledger:
        ledger._conn().execute("PRAGMA user_version=99")
    with pytest.raises(NewerSchemaError, match=r"newer msgrelay \(schema 99; this one knows up to"):
        SQLiteLedger(path)


def test_the_default_url_is_the_file_under_msgrelay_home(msgrelay_home: Path) -> None:
    """With no MSGRELAY_LEDGER_URL the factory opens $MSGRELAY_HOME/ledger.sqlite3."""
    ledger = open_ledger()
    try:
        assert isinstance(ledger, SQLiteLedger)
        assert ledger.path == msgrelay_home / "ledger.sqlite3"
    finally:
        ledger.close()
