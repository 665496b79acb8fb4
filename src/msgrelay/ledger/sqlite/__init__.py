"""The embedded SQLite ledger: one file, WAL mode, safe for several processes on one machine.

`SQLiteLedger` is assembled from one module per part of the ledger (inbox, outbox, submissions) over
a shared connection helper and a versioned schema.
"""

__all__ = ["LEDGER_FILE", "SQLiteLedger"]

from msgrelay.ledger.sqlite.base import LEDGER_FILE
from msgrelay.ledger.sqlite.ledger import SQLiteLedger
