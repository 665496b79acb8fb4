"""A ledger that cannot be used is one line on stderr and exit 1, never a traceback (issue 10, items 6
and 14): ``msgrelay`` runs as a real process on real files that another process locks, that hold
garbage or damaged pages, that refuse writes, and on a PostgreSQL port nobody listens on.

Read-only files for root too (the CI runs as root, where permissions do not stop writes): the file or
folder is made immutable (``chattr +i``), else mounted read-only in a private mount namespace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from msgrelay.ledger import SQLiteLedger

NOW = 1_000_000.0

#: Holds the ledger's write lock until its stdin closes, as another msgrelay (or a sqlite3 shell) would.
HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.read()
"""


def msgrelay(
    *argv: str, env: dict[str, str] | None = None, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "msgrelay", *argv],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single ``msgrelay: error:`` line of a command that exited 1, with no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("msgrelay: error: ")
    assert result.returncode == 1, result.stderr
    return lines[0]


@pytest.fixture
def ledger_file(msgrelay_home: Path) -> Path:
    """``$MSGRELAY_HOME/ledger.sqlite3`` with one pending batch, closed (its WAL folded in)."""
    path = msgrelay_home / "ledger.sqlite3"
    with SQLiteLedger(path) as ledger:
        ledger.record_event("upscale", "b-accepted", event=None, destinations=["store"], now=NOW)
    return path


def test_relay_pending_on_a_ledger_another_process_holds_is_one_line_then_runs(ledger_file: Path) -> None:
    """The reviewer's case, with a short busy setting: another process holds the write lock, so
    ``relay --pending`` waits the bounded time, then exits 1 naming the file; the accepted batch is
    still there, and once the lock is free the same command runs."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(ledger_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        busy = msgrelay("relay", "--pending", env={"MSGRELAY_LEDGER_BUSY_TIMEOUT": "0.3"})
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)
    line = one_line_error(busy)
    assert f"ledger {ledger_file} is busy" in line
    assert "for more than 0.3 s" in line
    assert "MSGRELAY_LEDGER_BUSY_TIMEOUT" in line
    with SQLiteLedger(ledger_file) as ledger:
        assert ledger.batch_state("upscale", "b-accepted") == "pending"


def test_a_bad_busy_setting_is_a_usage_error(ledger_file: Path) -> None:
    """A busy timeout that is not a number of seconds is the setup's fault: exit 2, naming the variable."""
    result = msgrelay("relay", "--status", env={"MSGRELAY_LEDGER_BUSY_TIMEOUT": "soon"})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "msgrelay: error: MSGRELAY_LEDGER_BUSY_TIMEOUT: expected a number of seconds, 0 or more, got 'soon'"
    )


@pytest.mark.parametrize("command", [["relay", "--pending"], ["relay", "--status"]])
def test_a_file_that_is_not_a_database_is_one_line(msgrelay_home: Path, command: list[str]) -> None:
    """Garbage where the ledger is: what is wrong, the file, and to move it aside."""
    msgrelay_home.mkdir(parents=True)
    path = msgrelay_home / "ledger.sqlite3"
    path.write_bytes(b"#!/bin/sh\necho this is a shell script, not a ledger\n" * 100)
    line = one_line_error(msgrelay(*command))
    assert f"ledger {path} is not a SQLite database" in line
    assert "move it aside" in line


def test_a_damaged_ledger_is_one_line(ledger_file: Path) -> None:
    """A real ledger with every page but the first overwritten: damaged, the file, how to recover."""
    with SQLiteLedger(ledger_file) as ledger:
        for i in range(40):
            ledger.record_event("upscale", f"b{i}", event="x" * 3000, destinations=None, now=NOW)
    size = ledger_file.stat().st_size
    with ledger_file.open("r+b") as file:
        file.seek(4096)
        file.write(b"\xde\xad" * ((size - 4096) // 2))
    line = one_line_error(msgrelay("relay", "--pending"))
    assert f"ledger {ledger_file} is damaged (SQLITE_CORRUPT" in line
    assert ".recover" in line


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[list[str]]:
    """Make ``path`` (a file or folder) refuse writes, root included; yields the prefix to run a command with.

    Not root: take away the write permission. Root: ``chattr +i``, else a read-only bind mount in a
    private mount namespace (``unshare``), which the command then runs inside.
    """
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        try:
            yield []
        finally:
            path.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr and subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode == 0:
        try:
            yield []
        finally:
            subprocess.run([chattr, "-i", str(path)], check=True)
        return
    unshare = shutil.which("unshare")
    mount = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    if unshare and subprocess.run([unshare, "-rm", "true"], capture_output=True).returncode == 0:
        yield [unshare, "-rm", "sh", "-c", mount, str(path)]
        return
    if os.environ.get("CI") == "true":
        pytest.fail("as root, neither chattr +i nor unshare -rm works here: cannot make a file read-only")
    pytest.skip("as root, neither chattr +i nor unshare -rm works here: cannot make a file read-only")


def test_a_read_only_ledger_is_one_line(ledger_file: Path) -> None:
    """The ledger file refuses writes (another user's file, a read-only mount): read-only, the file,
    what to check; the batch it holds is untouched."""
    with read_only(ledger_file) as prefix:
        result = msgrelay("relay", "--pending", prefix=prefix)
    line = one_line_error(result)
    assert f"ledger {ledger_file} is read-only (SQLITE_READONLY" in line
    assert "MSGRELAY_HOME" in line
    with SQLiteLedger(ledger_file) as ledger:
        assert ledger.batch_state("upscale", "b-accepted") == "pending"


def test_a_read_only_home_is_one_line(tmp_path: Path) -> None:
    """MSGRELAY_HOME cannot be created (its parent refuses writes): the folder, the file, the fix."""
    parent = tmp_path / "locked"
    parent.mkdir()
    home = parent / "home"
    with read_only(parent) as prefix:
        result = msgrelay("relay", "--pending", env={"MSGRELAY_HOME": str(home)}, prefix=prefix)
    line = one_line_error(result)
    assert f"cannot create the folder {home} for ledger {home / 'ledger.sqlite3'}" in line
    assert "set MSGRELAY_HOME to a writable folder" in line


def test_an_unreachable_postgres_ledger_is_one_line_with_the_safe_dsn() -> None:
    """Nothing listens on the PostgreSQL port: the connection's own error at once, the DSN without
    its password, exit 1, no traceback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://relay:hunter2@127.0.0.1:{port}/msgrelay"
    line = one_line_error(msgrelay("relay", "--pending", env={"MSGRELAY_LEDGER_URL": url}))
    assert f"cannot use PostgreSQL ledger postgresql://relay@127.0.0.1:{port}/msgrelay" in line
    assert "refused" in line.lower()
    assert "hunter2" not in line


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("sslmode=bogus", "sslmode='bogus' is not one of"),
        ("bogusopt=1", 'invalid URI query parameter: "bogusopt"'),
    ],
)
def test_a_postgres_url_libpq_refuses_is_a_usage_error(query: str, said: str) -> None:
    """A setting libpq refuses is the user's to fix, not the server's: exit 2, one line naming the
    variable and the DSN without its password, before any connection is tried."""
    url = f"postgresql://relay:hunter2@127.0.0.1:1/msgrelay?{query}"
    result = msgrelay("relay", "--pending", env={"MSGRELAY_LEDGER_URL": url})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "MSGRELAY_LEDGER_URL postgresql://relay@127.0.0.1:1/msgrelay" in line
    assert said in line
    assert "hunter2" not in result.stderr


def damage(path: Path) -> None:
    """Give the ledger at ``path`` more pages, then overwrite every page but the first."""
    with SQLiteLedger(path) as ledger:
        for i in range(40):
            ledger.record_event("upscale", f"b{i}", event="x" * 3000, destinations=None, now=NOW)
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(4096)
        file.write(b"\xde\xad" * ((size - 4096) // 2))


def test_relay_status_reads_a_ledger_another_process_holds(ledger_file: Path) -> None:
    """``relay --status`` only reads: while another process holds the write lock it still answers (WAL
    readers never wait), since opening a ledger already at the current schema takes no write lock."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(ledger_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        result = msgrelay("relay", "--status", env={"MSGRELAY_LEDGER_BUSY_TIMEOUT": "0.3"})
    finally:
        holder.communicate("")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert str(ledger_file) in result.stdout


def test_serve_refuses_a_damaged_ledger_at_start(ledger_file: Path) -> None:
    """Damaged pages: ``serve`` exits 1 with the one line (damaged, the file, .recover) before it
    listens, rather than starting and failing every sweep and webhook."""
    damage(ledger_file)
    result = msgrelay("serve", "--port", "0", "--insecure")
    line = one_line_error(result)
    assert f"ledger {ledger_file} is damaged" in line
    assert ".recover" in line


def test_serve_refuses_a_file_that_is_not_a_database(msgrelay_home: Path) -> None:
    msgrelay_home.mkdir(parents=True)
    path = msgrelay_home / "ledger.sqlite3"
    path.write_bytes(b"not a ledger at all\n" * 500)
    line = one_line_error(msgrelay("serve", "--port", "0", "--insecure"))
    assert f"ledger {path} is not a SQLite database" in line
