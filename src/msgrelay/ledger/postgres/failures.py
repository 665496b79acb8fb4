"""What a PostgreSQL failure means for the person running msgrelay: one `LedgerError` line per cause.

`msgrelay.ledger.postgres.base.Pool` applies `postgres_failure` to everything its connections and its
pool raise, so the ledger's and the PostgreSQL store's methods never catch anything themselves. The
message names the database by its DSN without the password (`safe_dsn`), and the cause as the server
or libpq put it, with the password cut out should it ever appear there.
"""

from __future__ import annotations

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout

from msgrelay.errors import (
    LedgerBusyError,
    LedgerError,
    LedgerFullError,
    LedgerReadOnlyError,
    LedgerUnavailableError,
)

__all__ = ["postgres_failure"]


def _cause(exc: BaseException, password: str | None) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.replace(password, "***") if password else text


def postgres_failure(exc: BaseException, where: str, *, password: str | None = None) -> LedgerError | None:
    """The `LedgerError` that says what ``exc`` means for the database ``where``, or None when it is
    not about the database (a bug in a statement, a constraint).

    Args:
        exc: what psycopg or its pool raised.
        where: the DSN without its password (`safe_dsn`).
        password: the DSN's password, cut out of the cause should the server or libpq repeat it.
    """
    cause = _cause(exc, password)
    if isinstance(exc, PoolTimeout):
        return LedgerUnavailableError(
            f"PostgreSQL ledger {where}: no connection became free or could be made in time ({cause}). "
            "Check that the server is up and accepts this user, or lower the number of workers",
            where=where,
        )
    if isinstance(exc, pg_errors.LockNotAvailable):
        return LedgerBusyError(
            f"PostgreSQL ledger {where} is busy: a lock was not granted in time ({cause}); nothing was "
            "written. Run again",
            where=where,
        )
    if isinstance(exc, pg_errors.DiskFull | pg_errors.OutOfMemory | pg_errors.InsufficientResources):
        return LedgerFullError(
            f"PostgreSQL ledger {where} cannot grow ({cause}); nothing was written. Free space on the "
            "database server, then run again",
            where=where,
        )
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction | pg_errors.InsufficientPrivilege):
        return LedgerReadOnlyError(
            f"PostgreSQL ledger {where} refuses writes ({cause}); nothing was written. Point "
            "MSGRELAY_LEDGER_URL at the primary server, with a user that may create and write tables",
            where=where,
        )
    if isinstance(exc, psycopg.OperationalError):
        return LedgerUnavailableError(
            f"cannot use PostgreSQL ledger {where}: {cause}. Check that the server is up and reachable "
            "and that MSGRELAY_LEDGER_URL has the right host, port, user and password",
            where=where,
        )
    return None
