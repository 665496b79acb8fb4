"""Which ledger to open: ``MSGRELAY_LEDGER_URL``, one factory for every entry point.

``sqlite:///PATH`` (the default: ``sqlite:///$MSGRELAY_HOME/ledger.sqlite3``) opens the embedded
`SQLiteLedger`; ``postgresql://...`` (or ``postgres://...``) opens the shared `PostgresLedger`, which
needs the ``postgres`` extra. The CLI, the steps, ``serve``, the workers and the test fixtures all open
their ledger here, so one variable moves all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from msgrelay.config import MSGRELAY_LEDGER_BUSY_TIMEOUT, MSGRELAY_LEDGER_URL, msgrelay_home, read_env
from msgrelay.errors import ConfigurationError
from msgrelay.ledger.base import LeaseClock, Ledger
from msgrelay.ledger.sqlite import LEDGER_FILE, SQLiteLedger

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "POSTGRES_SCHEMES",
    "busy_timeout",
    "is_postgres_url",
    "ledger_url",
    "open_ledger",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")

#: Seconds the SQLite ledger waits for another process's write lock, unless
#: ``MSGRELAY_LEDGER_BUSY_TIMEOUT`` says otherwise.
DEFAULT_BUSY_TIMEOUT = 30.0


def ledger_url(environ: Mapping[str, str] | None = None) -> str:
    """``MSGRELAY_LEDGER_URL``, else ``sqlite:///$MSGRELAY_HOME/ledger.sqlite3``."""
    return read_env(MSGRELAY_LEDGER_URL, environ) or f"sqlite:///{msgrelay_home(environ) / LEDGER_FILE}"


def busy_timeout(environ: Mapping[str, str] | None = None) -> float:
    """``MSGRELAY_LEDGER_BUSY_TIMEOUT`` in seconds (0 or more), else `DEFAULT_BUSY_TIMEOUT`.

    Raises:
        ConfigurationError: the value is not a number of seconds.
    """
    raw = read_env(MSGRELAY_LEDGER_BUSY_TIMEOUT, environ)
    if raw is None:
        return DEFAULT_BUSY_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):  # also refuses nan
        raise ConfigurationError(
            f"{MSGRELAY_LEDGER_BUSY_TIMEOUT}: expected a number of seconds, 0 or more, got {raw!r}"
        )
    return seconds


def is_postgres_url(url: str) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return url.startswith(POSTGRES_SCHEMES)


def open_ledger(
    url: str | None = None, *, environ: Mapping[str, str] | None = None, lease_clock: LeaseClock = "database"
) -> Ledger:
    """Open the ledger ``url`` names (default `ledger_url`), migrating it to the current schema.

    ``lease_clock`` says whose time claims' leases are written and compared in: the database's (the
    default: one clock for every worker), or each method's ``now`` (``"caller"``: tests that move
    time by hand).

    A SQLite ledger waits `busy_timeout` seconds (``MSGRELAY_LEDGER_BUSY_TIMEOUT``) for another
    process's write lock.

    Raises:
        ConfigurationError: an unknown scheme, PostgreSQL without the ``postgres`` extra, or a bad
            busy timeout. The message names the scheme only, never the URL (it may hold a password).
        LedgerError: the ledger cannot be opened: one line saying why, with the file (or the DSN
            without its password), and how to fix it.
    """
    url = url or ledger_url(environ)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        return SQLiteLedger(path, busy_timeout=busy_timeout(environ), lease_clock=lease_clock)
    if is_postgres_url(url):
        try:
            from msgrelay.ledger.postgres import PostgresLedger
        except ImportError:
            raise ConfigurationError(
                "a PostgreSQL ledger needs psycopg: pip install 'msgrelay[postgres]'"
            ) from None
        return PostgresLedger(url, lease_clock=lease_clock)
    scheme = url.partition("://")[0] if "://" in url else "(none)"
    raise ConfigurationError(
        f"{MSGRELAY_LEDGER_URL}: unknown scheme {scheme!r}; use sqlite:///PATH or postgresql://..."
    )
