"""Every ledger failure is one typed line naming the file (or the DSN without its password) and the fix.

Real causes only: another connection holding the write lock, SQLite's own page limit (a real
SQLITE_FULL), garbage and damaged pages in real files, a PostgreSQL port nobody listens on and a role
the real server refuses. The command line's side (exit 1, no traceback) is in tests/cli.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from msgrelay.destinations.store import Store
from msgrelay.errors import (
    LedgerBusyError,
    LedgerCorruptError,
    LedgerFullError,
    LedgerUnavailableError,
)
from msgrelay.ledger import SQLiteLedger, open_ledger

NOW = 1_000_000.0


def test_a_write_while_another_connection_holds_the_lock_is_busy_naming_the_file(tmp_path: Path) -> None:
    """Past the busy timeout the write is a `LedgerBusyError` saying how long it waited and which file;
    nothing was written, and the same call succeeds once the lock is free."""
    path = tmp_path / "ledger.sqlite3"
    with SQLiteLedger(path, busy_timeout=0.2) as ledger:
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            with pytest.raises(LedgerBusyError) as caught:
                ledger.record_event("upscale", "b1", event="{}", destinations=None, now=NOW)
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        message = str(caught.value)
        assert str(path) in message
        assert "for more than 0.2 s" in message
        assert "MSGRELAY_LEDGER_BUSY_TIMEOUT" in message
        assert ledger.batch_state("upscale", "b1") is None
        assert ledger.record_event("upscale", "b1", event="{}", destinations=None, now=NOW)


def test_a_full_ledger_is_one_line_and_loses_nothing_accepted(tmp_path: Path) -> None:
    """SQLite's page limit, reached, is a real SQLITE_FULL: the fan-out that needed the room fails as
    `LedgerFullError` (free space, which file) and rolls back whole; the batch is still claimable, and
    with room again the same fan-out succeeds."""
    path = tmp_path / "ledger.sqlite3"
    with SQLiteLedger(path, lease_clock="caller") as ledger:
        ledger.record_event("upscale", "b1", event="{}", destinations=None, now=NOW)
        claim = ledger.claim_batch("w", now=NOW, lease=60)
        assert claim is not None
        conn = ledger._conn()  # the page limit is per connection: this thread's is the ledger's
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        items = [(f"lead-{i}", orjson.dumps({"text": "x" * 2000, "i": i}).decode()) for i in range(50)]
        with pytest.raises(LedgerFullError, match=rf"{path}.*full.*Free space") as caught:
            ledger.fan_out(claim, "w", context="{}", items=items, destinations=["store"], now=NOW)
        assert "\n" not in str(caught.value)
        assert ledger.stored_items("upscale", "b1") == set()
        assert ledger.batch_state("upscale", "b1") == "claimed"
        conn.execute("PRAGMA max_page_count = 1073741823")
        assert ledger.fan_out(claim, "w", context="{}", items=items, destinations=["store"], now=NOW)
        assert ledger.batch_counts("upscale", "b1") == {"pending": 50}


@contextlib.contextmanager
def small_disk(folder: Path) -> Iterator[Path]:
    """A real 200 KB tmpfs mounted on ``folder`` (root only: the CI runs as root and must not skip)."""
    mount = shutil.which("mount")
    if os.geteuid() != 0 or mount is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the CI must run as root with mount(8): a full disk needs a real small tmpfs")
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    folder.mkdir()
    subprocess.run([mount, "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_genuinely_full_disk_is_reported_full_not_as_an_io_error(tmp_path: Path) -> None:
    """The reviewer's case: a ledger on a disk then filled to 100 %. SQLite fails growing its -shm file
    (SQLITE_IOERR_SHMSIZE, an I/O error); the disk has no space left, so it is `LedgerFullError` naming
    the folder; once space is freed, the same write succeeds and the earlier batch is still there."""
    with small_disk(tmp_path / "disk") as disk:
        path = disk / "ledger.sqlite3"
        with SQLiteLedger(path) as ledger:
            ledger.record_event("upscale", "b1", event=None, destinations=None, now=NOW)
        filler = disk / "filler"
        with filler.open("wb", buffering=0) as file, contextlib.suppress(OSError):
            while True:  # until ENOSPC: every last block taken
                file.write(b"\0" * 4096)
        with pytest.raises(LedgerFullError) as caught, SQLiteLedger(path) as ledger:
            ledger.record_event("upscale", "b2", event="x" * 10_000, destinations=None, now=NOW)
        message = str(caught.value)
        assert f"ledger {path} cannot grow: the disk holding {disk} is full" in message
        assert "Free space" in message
        filler.unlink()
        with SQLiteLedger(path) as ledger:
            assert ledger.batch_state("upscale", "b1") == "pending"
            assert ledger.record_event("upscale", "b2", event="x" * 10_000, destinations=None, now=NOW)


def test_a_file_that_is_not_a_database_is_one_line_saying_to_move_it_aside(tmp_path: Path) -> None:
    """Garbage where the ledger should be: `LedgerCorruptError` naming the file, not SQLite's bare words."""
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"these are not the rows you are looking for\n" * 200)
    with pytest.raises(LedgerCorruptError, match=rf"{path} is not a SQLite database.*move it aside"):
        SQLiteLedger(path)


def test_damaged_pages_are_one_line_saying_how_to_recover(tmp_path: Path) -> None:
    """A real ledger whose table pages were overwritten opens (its first page is intact), then the first
    read of a damaged page is `LedgerCorruptError` naming the file and ``.recover``."""
    path = tmp_path / "ledger.sqlite3"
    with SQLiteLedger(path) as ledger:
        for i in range(40):
            ledger.record_event("upscale", f"b{i}", event="x" * 3000, destinations=None, now=NOW)
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(4096)  # keep page 1 (the header and the schema), wreck every other page
        file.write(b"\xde\xad" * ((size - 4096) // 2))
    with SQLiteLedger(path) as ledger, pytest.raises(LedgerCorruptError) as caught:
        ledger.status()
    assert f"{path} is damaged" in str(caught.value)
    assert f"sqlite3 {path} .recover" in str(caught.value)


def test_the_store_names_its_own_file(tmp_path: Path) -> None:
    """The built-in store opens its file through the same connection: a garbage file there is a
    `LedgerCorruptError` that says ``store`` and its path (a delivery records it as its error)."""
    path = tmp_path / "store.sqlite3"
    path.write_bytes(b"\x00not sqlite\x00" * 500)
    with pytest.raises(LedgerCorruptError, match=rf"^store {path} is not a SQLite database"):
        Store(path).summary()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_postgres_ledger_fails_at_once_naming_the_safe_dsn() -> None:
    """Nothing listens on the port: the first connection is refused, and that is the error (not the
    pool's timeout after 30 s), with the DSN but never its password."""
    port = _free_port()
    url = f"postgresql://msgrelay:hunter2@127.0.0.1:{port}/msgrelay"
    with pytest.raises(LedgerUnavailableError) as caught:
        open_ledger(url)
    message = str(caught.value)
    assert message.startswith(
        f"cannot use PostgreSQL ledger postgresql://msgrelay@127.0.0.1:{port}/msgrelay:"
    )
    assert "refused" in message.lower()
    assert "hunter2" not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_postgres_ledger_refusing_the_user_is_one_line_without_the_password(postgres_url: str) -> None:
    """The real server refuses a role that does not exist: the server's reason, the safe DSN, no password."""
    url = postgres_url.replace("msgrelay@", "no_such_role:hunter2@")
    with pytest.raises(LedgerUnavailableError, match='role "no_such_role" does not exist') as caught:
        open_ledger(url)
    assert "postgresql://no_such_role@" in str(caught.value)
    assert "hunter2" not in str(caught.value)
