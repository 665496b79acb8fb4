"""What every part of the PostgreSQL ledger stands on: a connection pool, transactions, the schema.

`PostgresLedger` is assembled from parts (`PostgresSubmissions`, `PostgresInbox`, `PostgresOutbox`),
each a subclass of `PostgresBase`, as the SQLite ledger is. Every method takes a connection from the
pool for one transaction (``with self._tx() as c``), so any number of threads share one ledger object,
and any number of processes on any number of machines share one database.

The pool checks the server with one connection of its own first, waiting at most `CONNECT_TIMEOUT`, so
a server that is down or refuses the password fails at once with the cause, not after the pool's
wait. Every failure of the database is raised as a `msgrelay.errors.LedgerError` naming the DSN
without its password (`msgrelay.ledger.postgres.failures`).
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterator
from typing import Any, Self

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from msgrelay.config import MSGRELAY_LEDGER_URL
from msgrelay.errors import ConfigurationError, LedgerError
from msgrelay.ledger.base import LeaseClock
from msgrelay.ledger.postgres.failures import postgres_failure
from msgrelay.ledger.postgres.schema import MIGRATION_LOCK, migrate

__all__ = [
    "CONNECT_TIMEOUT",
    "DUE_OR_ENDED",
    "LEASE_NOW",
    "Pool",
    "PostgresBase",
    "batch_filter",
    "open_pool",
    "q",
    "safe_dsn",
]

Row = tuple[Any, ...]

#: Seconds to wait for the server when opening a pool (libpq's ``connect_timeout``, unless the URL
#: sets its own): a server that is down or unreachable fails in this time, not the pool's.
CONNECT_TIMEOUT = 5

#: The time leases are written and compared in, as SQL taking one parameter: the database's clock
#: (the statement's start, in seconds since the epoch), or the parameter when it is not NULL (a
#: ledger opened with ``lease_clock="caller"``, for tests that move time by hand).
LEASE_NOW = "coalesce(%s::float8, extract(epoch FROM statement_timestamp())::float8)"

#: A pending row due by the caller's ``now``, or a claimed one whose lease has ended by `LEASE_NOW`
#: (parameters: now, lease now, now, lease now); the first bound is one the due index answers.
DUE_OR_ENDED = (
    f"next_attempt_at <= greatest(%s, {LEASE_NOW}) AND CASE state WHEN 'pending'"
    f" THEN next_attempt_at <= %s ELSE next_attempt_at <= {LEASE_NOW} END"
)


def q(text: str) -> bytes:
    """A query assembled from this package's constant fragments (values always go as parameters).

    psycopg types queries as literal strings; the ledger joins fixed fragments (an optional
    ``AND source = %s``), which the type checker cannot see as literal, so they travel as bytes.
    """
    return text.encode()


def safe_dsn(url: str) -> str:
    """The connection string without its password, for reprs, errors and the status page."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        # libpq refuses it (an unknown parameter, say); a URL still names its server without help.
        try:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
                return "postgresql://<unparsable>"
            return f"postgresql://{parts.username or ''}@{parts.hostname}:{parts.port or 5432}{parts.path}"
        except ValueError:
            return "postgresql://<unparsable>"
    params.pop("password", None)
    return "postgresql://{user}@{host}:{port}/{dbname}".format(
        user=params.get("user", ""),
        host=params.get("host", ""),
        port=params.get("port", "5432"),
        dbname=params.get("dbname", ""),
    )


class Pool:
    """A psycopg connection pool handing out one transaction at a time.

    Args:
        url: any libpq connection string or ``postgresql://`` URL.
        name: names the pool in psycopg's logs.
        min_size / max_size: connections kept open, and opened at most (threads beyond wait).
        timeout: seconds to wait for the database, or for a free connection, before failing.
    """

    def __init__(
        self, url: str, *, name: str, min_size: int = 1, max_size: int = 8, timeout: float = 30.0
    ) -> None:
        self.where = safe_dsn(url)
        params, conninfo = _checked_conninfo(url, self.where)
        self._password = str(params.get("password") or "") or None
        if "connect_timeout" not in params:
            conninfo = make_conninfo(conninfo, connect_timeout=CONNECT_TIMEOUT)
        with self._translated():
            # One connection first: the pool itself would retry a refused one until `timeout`,
            # and say only that it timed out.
            psycopg.connect(conninfo, autocommit=True).close()
        # Autocommit connections: each use opens its own transaction, so none is left idle inside one.
        self._pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True},
            name=name,
            open=False,
        )
        try:
            with self._translated():
                self._pool.open(wait=True, timeout=timeout)
        except BaseException:
            self._pool.close()
            raise

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Raise a failure of the database as its `LedgerError` (`postgres_failure`)."""
        try:
            yield
        except LedgerError:
            raise
        except Exception as exc:
            failure = postgres_failure(exc, self.where, password=self._password)
            if failure is None:
                raise
            raise failure from None

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Row]]:
        """A pooled connection outside any transaction (migrations open their own)."""
        with self._translated(), self._pool.connection() as conn:
            yield conn

    @contextlib.contextmanager
    def transaction(self, *, lock_timeout: float | None = None) -> Iterator[psycopg.Connection[Row]]:
        """One transaction on a pooled connection: committed on success, rolled back on any exception.

        Args:
            lock_timeout: seconds to wait for a connection and for row locks this time (the receiver
                must answer the vendor within its own deadline); None waits as long as the pool allows.
        """
        with self._translated(), self._pool.connection(timeout=lock_timeout) as conn, conn.transaction():
            if lock_timeout is not None:
                conn.execute(q(f"SET LOCAL lock_timeout = {max(int(lock_timeout * 1000), 1)}"))
            yield conn

    def close(self) -> None:
        """Close every connection."""
        self._pool.close()


def open_pool(url: str, *, name: str, schema: str | None = None, max_size: int = 8) -> Pool:
    """A `Pool` on ``url``; ``schema`` (``CREATE ... IF NOT EXISTS`` statements) is run first, once.

    The statements run under the ledger's migration lock, so processes opening at once never race.
    """
    pool = Pool(url, name=name, max_size=max_size)
    try:
        if schema is not None:
            with pool.transaction() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                for statement in schema.split(";"):
                    if statement.strip():
                        conn.execute(q(statement))
    except BaseException:
        pool.close()
        raise
    return pool


class PostgresBase:
    """The ledger's database and its pool; the arguments are `PostgresLedger`'s.

    Opening migrates the database to the current schema (`msgrelay.ledger.postgres.schema`).
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        timeout: float = 30.0,
        lease_clock: LeaseClock = "database",
    ) -> None:
        self.url = url
        self.where = safe_dsn(url)
        self.lease_clock = lease_clock
        self._pool = Pool(url, name="msgrelay-ledger", min_size=min_size, max_size=max_size, timeout=timeout)
        try:
            with self._pool.connection() as conn:
                migrate(conn, self.where)
        except BaseException:
            self._pool.close()
            raise

    def _tx(
        self, *, lock_timeout: float | None = None
    ) -> contextlib.AbstractContextManager[psycopg.Connection[Row]]:
        """One transaction (`Pool.transaction`)."""
        return self._pool.transaction(lock_timeout=lock_timeout)

    def _lease_now(self, now: float) -> float | None:
        """The parameter of `LEASE_NOW`: None (the database's clock), or ``now`` for ``lease_clock="caller"``.

        One clock for every worker, so a worker whose own clock runs ahead cannot see a live claim as
        ended and take it over. Due times (a retry's next attempt) stay in the caller's ``now``: a
        skewed clock only makes its own retries early or late, never a row held twice.
        """
        return now if self.lease_clock == "caller" else None

    def close(self) -> None:
        """Close the pool and every connection in it."""
        self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def batch_filter(
    source: str | None, batch_id: str | None, *, table: str = "", destination: str | None = None
) -> tuple[str, tuple[str, ...]]:
    """The ``AND ...`` clause and arguments that limit a query to one source, batch or destination."""
    where, args = "", tuple[str, ...]()
    for column, value in (("source", source), ("batch_id", batch_id), ("destination", destination)):
        if value is not None:
            where, args = where + f" AND {table}{column} = %s", (*args, value)
    return where, args


#: libpq's ``sslmode`` values; libpq checks them only when it connects, and says so as a failure to
#: connect, which would read as a server problem (exit 1) rather than a setting to fix (exit 2).
SSL_MODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})


def _checked_conninfo(url: str, where: str) -> tuple[dict[str, Any], str]:
    """The URL's parameters and its conninfo, or a `ConfigurationError` naming what libpq refuses.

    The message never carries the password: libpq's parse errors name a parameter, not its value, and
    the DSN is shown as ``where`` (`safe_dsn`).
    """
    try:
        params = conninfo_to_dict(url)
        conninfo = make_conninfo(url)
    except psycopg.ProgrammingError as exc:
        reason = " ".join(str(exc).split())
        raise ConfigurationError(f"{MSGRELAY_LEDGER_URL} {where}: {reason}") from None
    sslmode = params.get("sslmode")
    if sslmode is not None and str(sslmode) not in SSL_MODES:
        raise ConfigurationError(
            f"{MSGRELAY_LEDGER_URL} {where}: sslmode={sslmode!r} is not one of {', '.join(sorted(SSL_MODES))}"
        )
    return params, conninfo
