"""The PostgreSQL ledger: one database shared by receivers and workers on any number of machines.

`PostgresLedger` implements `msgrelay.ledger.Ledger` with psycopg 3 and a connection pool (the
``postgres`` extra); claims take rows with ``FOR UPDATE SKIP LOCKED``. Choose it with
``MSGRELAY_LEDGER_URL=postgresql://...`` (`msgrelay.ledger.open_ledger`).
"""

__all__ = ["PostgresLedger", "safe_dsn"]

from msgrelay.ledger.postgres.base import safe_dsn
from msgrelay.ledger.postgres.ledger import PostgresLedger
