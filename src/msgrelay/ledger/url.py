"""Which ledger to open: ``MSGRELAY_LEDGER_URL``, one factory for every entry point.

``sqlite:///PATH`` (the default: ``sqlite:///$MSGRELAY_HOME/ledger.sqlite3``) opens the embedded
`SQLiteLedger`; ``postgresql://...`` (or ``postgres://...``) opens the shared `PostgresLedger`, which
needs the ``postgres`` extra. The CLI, the steps, ``serve``, the workers and the test fixtures all open
their ledger here, so one variable moves all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from msgrelay.config import MSGRELAY_LEDGER_URL, msgrelay_home, read_env
from msgrelay.errors import ConfigurationError
from msgrelay.ledger.base import Ledger
from msgrelay.ledger.sqlite import LEDGER_FILE, SQLiteLedger

__all__ = ["POSTGRES_SCHEMES", "is_postgres_url", "ledger_url", "open_ledger"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def ledger_url(environ: Mapping[str, str] | None = None) -> str:
    """``MSGRELAY_LEDGER_URL``, else ``sqlite:///$MSGRELAY_HOME/ledger.sqlite3``."""
    return read_env(MSGRELAY_LEDGER_URL, environ) or f"sqlite:///{msgrelay_home(environ) / LEDGER_FILE}"


def is_postgres_url(url: str) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return url.startswith(POSTGRES_SCHEMES)


def open_ledger(url: str | None = None, *, environ: Mapping[str, str] | None = None) -> Ledger:
    """Open the ledger ``url`` names (default `ledger_url`), migrating it to the current schema.

    Raises:
        ConfigurationError: an unknown scheme, or PostgreSQL without the ``postgres`` extra. The
            message names the scheme only, never the URL (it may hold a password).
    """
    url = url or ledger_url(environ)
    if url.startswith("sqlite:///"):
        return SQLiteLedger(Path(url.removeprefix("sqlite:///")))
    if is_postgres_url(url):
        try:
            from msgrelay.ledger.postgres import PostgresLedger
        except ImportError:
            raise ConfigurationError(
                "a PostgreSQL ledger needs psycopg: pip install 'msgrelay[postgres]'"
            ) from None
        return PostgresLedger(url)
    scheme = url.partition("://")[0] if "://" in url else "(none)"
    raise ConfigurationError(
        f"{MSGRELAY_LEDGER_URL}: unknown scheme {scheme!r}; use sqlite:///PATH or postgresql://..."
    )
