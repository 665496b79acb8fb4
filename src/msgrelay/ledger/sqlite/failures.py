"""What a SQLite failure means for the person running msgrelay: one `LedgerError` line per cause.

`sqlite3` raises ``OperationalError`` or ``DatabaseError`` whatever the cause; the cause is in the
error's SQLite result code (``sqlite_errorcode``, whose low byte is the primary code). `sqlite_failure`
turns each code a person can act on into the matching `LedgerError`, naming the file and the fix;
`os_failure` does the same for the folder msgrelay creates before SQLite opens the file.
`msgrelay.ledger.sqlite.connection` applies them to every statement, so no method of the ledger or
the store catches anything itself. Any other code (a constraint, a bug in a statement) is not a
property of the file and is left as it is.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from msgrelay.config import MSGRELAY_HOME, MSGRELAY_LEDGER_BUSY_TIMEOUT, MSGRELAY_LEDGER_URL
from msgrelay.errors import (
    LedgerBusyError,
    LedgerCorruptError,
    LedgerError,
    LedgerFullError,
    LedgerReadOnlyError,
    LedgerUnavailableError,
)

__all__ = ["damaged", "os_failure", "sqlite_failure"]

# SQLite's primary result codes (https://sqlite.org/rescode.html); sqlite3 exports them from 3.11 on,
# but not all of them under these names.
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _AUTH, _NOTADB = (
    3, 5, 6, 8, 10, 11, 13, 14, 23, 26
)  # fmt: skip


def sqlite_failure(
    exc: sqlite3.Error, path: Path, *, role: str = "ledger", busy_timeout: float | None = None
) -> LedgerError | None:
    """The `LedgerError` that says what ``exc`` means for ``path``, or None when it is not about the file.

    Args:
        exc: what `sqlite3` raised.
        path: the database file.
        role: what the file is, for the message (``ledger``, ``store``).
        busy_timeout: seconds waited for the write lock, for the busy message.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    name = getattr(exc, "sqlite_errorname", None) or "unknown SQLite error"
    if code is None:
        return None
    primary = code & 0xFF
    what = f"{role} {path}"
    reason = " ".join(str(exc).split())
    if primary in (_BUSY, _LOCKED):
        waited = f" for more than {busy_timeout:g} s" if busy_timeout is not None else ""
        knob = f", or set {MSGRELAY_LEDGER_BUSY_TIMEOUT} to wait longer" if role == "ledger" else ""
        return LedgerBusyError(
            f"{what} is busy: another process (another msgrelay, a sqlite3 shell, a backup) held its "
            f"write lock{waited}; nothing was written. Run again once it is done{knob}",
            where=str(path),
        )
    if primary == _FULL:
        return LedgerFullError(
            f"{what} cannot grow: the disk (or the database's size limit) is full ({name}); nothing was "
            f"written. Free space on the disk holding {path.parent}, then run again",
            where=str(path),
        )
    if primary in (_READONLY, _PERM, _AUTH):
        return LedgerReadOnlyError(
            f"{what} is read-only ({name}: {reason}); nothing was written. Check that this user may "
            f"write the file, its -wal and -shm files and their folder, and that the disk is not "
            f"mounted read-only, or set {MSGRELAY_HOME} to a writable folder",
            where=str(path),
        )
    if primary == _NOTADB:
        return LedgerCorruptError(
            f"{what} is not a SQLite database ({name}: {reason}). If it is the wrong file, point "
            f"{MSGRELAY_HOME} (or {MSGRELAY_LEDGER_URL}) elsewhere; otherwise move it aside "
            "(msgrelay starts a new, empty one) or restore it from a backup",
            where=str(path),
        )
    if primary == _CORRUPT:
        return damaged(path, f"{name}: {reason}", role=role)
    if primary == _CANTOPEN:
        return LedgerUnavailableError(
            f"cannot open {what} ({name}: {reason}). Check that its folder exists and this user may "
            f"read and write it, or set {MSGRELAY_HOME} to a folder that does",
            where=str(path),
        )
    if primary == _IOERR and _disk_full(path.parent):
        # A full disk often surfaces as an I/O error (growing the -shm or -wal file fails with
        # SQLITE_IOERR_SHMSIZE or _WRITE, not SQLITE_FULL): say what the person must do about it.
        return LedgerFullError(
            f"{what} cannot grow: the disk holding {path.parent} is full ({name}); nothing was "
            f"written. Free space on that disk, then run again",
            where=str(path),
        )
    if primary == _IOERR:
        return LedgerUnavailableError(
            f"{what}: the disk failed to read or write it ({name}: {reason}); nothing was written. "
            f"Check the disk (and free space) holding {path.parent}, then run again",
            where=str(path),
        )
    return None


#: Free bytes below which a disk counts as full: less than SQLite needs to grow a WAL by a few pages.
FULL_BELOW = 64 * 1024


def _disk_full(folder: Path) -> bool:
    """Whether the disk holding ``folder`` has (nearly) no space left for this user."""
    try:
        stats = os.statvfs(folder)
    except OSError:  # the folder is gone too: not a question of space
        return False
    return stats.f_bavail * stats.f_frsize < FULL_BELOW


def damaged(path: Path, detail: str, *, role: str = "ledger") -> LedgerCorruptError:
    """The `LedgerCorruptError` for ``path`` with damaged pages (``detail``: what SQLite found)."""
    return LedgerCorruptError(
        f"{role} {path} is damaged ({detail}). Stop every msgrelay using it, then restore it from "
        f"a backup, or move it aside and salvage its rows with: sqlite3 {path} .recover",
        where=str(path),
    )


def os_failure(exc: OSError, path: Path, *, role: str = "ledger") -> LedgerError:
    """The `LedgerError` for failing to create the folder of ``path`` (msgrelay creates it on first use)."""
    folder = path.parent
    reason = exc.strerror or type(exc).__name__
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return LedgerReadOnlyError(
            f"cannot create the folder {folder} for {role} {path} ({reason}). Check that this user may "
            f"write there, or set {MSGRELAY_HOME} to a writable folder",
            where=str(path),
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return LedgerFullError(
            f"cannot create the folder {folder} for {role} {path}: the disk is full ({reason}). "
            "Free space, then run again",
            where=str(path),
        )
    return LedgerUnavailableError(
        f"cannot create the folder {folder} for {role} {path} ({reason}). Check the path, "
        f"or set {MSGRELAY_HOME} to a folder this user may write",
        where=str(path),
    )
