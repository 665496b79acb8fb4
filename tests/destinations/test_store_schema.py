"""The built-in store's schema versions: an older store is migrated in place, a newer one refused."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import orjson
import pytest

from msgrelay.destinations.delivery import Delivery, RelayContext
from msgrelay.destinations.store import Store
from msgrelay.destinations.storeschema import STORE_SCHEMA_VERSION
from msgrelay.ledger.versions import NewerSchemaError
from msgrelay.upscale.models import Lead

DATA = Path(__file__).parent / "data"


def old_store(path: Path) -> Path:
    """A store file as msgrelay wrote it before the schema was versioned (`data/store_v1.sql`)."""
    conn = sqlite3.connect(path)
    conn.executescript((DATA / "store_v1.sql").read_text())
    conn.close()
    return path


def key_indexes(path: Path) -> list[list[str]]:
    """The columns of each unique index on ``deliveries``."""
    conn = sqlite3.connect(path)
    try:
        names = [row[1] for row in conn.execute("PRAGMA index_list(deliveries)") if row[2]]
        return [[row[2] for row in conn.execute(f"PRAGMA index_info('{name}')")] for name in names]
    finally:
        conn.close()


def test_a_store_from_the_previous_schema_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    """An unversioned store (key unique on its own) opens, is rebuilt with the key unique per batch,
    exports the rows it held as before, still drops a repeat of a stored key, and takes new ones."""
    path = old_store(tmp_path / "store.sqlite3")
    assert key_indexes(path) == [["key"]]
    store = Store(path, clock=lambda: 1_768_473_600.0)
    out = io.StringIO()
    assert store.export_jsonl(out) == 3
    expected = (DATA / "store_v1_export.jsonl").read_text().splitlines()
    assert [orjson.loads(line) for line in out.getvalue().splitlines()] == [orjson.loads(x) for x in expected]
    assert key_indexes(path) == [["source", "batch_id", "key"]]
    context = RelayContext(source="upscale", batch_id="sid-1")
    lead = Lead(external_prospect_id="crm-3", linkedin=None, messages={"connection_request": "Hi Edsger"})
    repeat = Delivery(destination="store", key="d_" + "1" * 32, context=context, lead=lead)
    new = Delivery(destination="store", key="d_" + "3" * 32, context=context, lead=lead)
    store.deliver_many([repeat, new])
    assert store.summary()["leads"] == 3
    assert [row["key"] for row in store.rows()][-1] == "d_" + "3" * 32
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == STORE_SCHEMA_VERSION
    conn.close()


def test_a_new_store_is_made_at_the_current_version(tmp_path: Path) -> None:
    """A store made now has the current version and the key unique within its batch."""
    store = Store(tmp_path / "store.sqlite3")
    assert store.check().ok
    store.close()
    conn = sqlite3.connect(tmp_path / "store.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == STORE_SCHEMA_VERSION
    conn.close()
    assert key_indexes(tmp_path / "store.sqlite3") == [["source", "batch_id", "key"]]


def test_a_store_from_a_newer_msgrelay_is_refused_in_one_line(tmp_path: Path) -> None:
    """A store whose version is above this msgrelay's is not opened (its tables would be misread)."""
    path = tmp_path / "store.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={STORE_SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(NewerSchemaError) as caught:
        Store(path).summary()
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)
