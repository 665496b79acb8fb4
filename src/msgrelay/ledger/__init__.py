"""The ledger: every step of the relay is a row, and a worker claims rows atomically.

Three parts, one SQLite file (``$MSGRELAY_HOME/ledger.sqlite3``, WAL mode, safe for several processes
on one machine):

* **submissions**: a generation request, keyed by (customer, campaign, lead ids, message types),
  written *before* the POST, so a re-run returns the stored ``secure_request_id`` instead of paying
  twice (`msgrelay.relay.submit`);
* **batches** (the inbox): one row per completed generation to relay, deduplicated on its id and
  written before the webhook is acknowledged; ``items`` holds each transformed lead once retrieved;
* **outbox**: one row per (destination, item) with attempts, next attempt time, last error and a
  dead-letter state.

A claim is one ``BEGIN IMMEDIATE`` transaction that selects due rows and stamps them with the owner and
a lease (``next_attempt_at`` doubles as the lease's end), so two workers never hold the same row. The
holder renews the lease while it works (`Ledger.renew_claims`), and `Ledger.settle` records outcomes
only for rows their owner still holds. A row whose owner died (same host, process gone) is released
at once by `Ledger.release_orphans`; on another host it is released when its lease ends.

`Ledger` is the interface the relay uses (`msgrelay.ledger.base`); `SQLiteLedger` and
`msgrelay.ledger.postgres.PostgresLedger` (``SELECT ... FOR UPDATE SKIP LOCKED``) implement it, and
they are the only places with SQL. `open_ledger` opens the one ``MSGRELAY_LEDGER_URL`` names; each
backend keeps a schema version, upgrades an older ledger in place and refuses a newer one
(`NewerSchemaError`).
"""

__all__ = [
    "CLAIMED",
    "DEAD",
    "DELIVERED",
    "FANNED_OUT",
    "LEDGER_FILE",
    "PENDING",
    "SKIPPED",
    "BatchClaim",
    "DeliveryClaim",
    "Failure",
    "HookErrorRow",
    "Ledger",
    "NewerSchemaError",
    "Pruned",
    "SQLiteLedger",
    "Submission",
    "delivery_key",
    "is_postgres_url",
    "ledger_url",
    "new_owner",
    "open_ledger",
    "owner_is_dead",
    "owner_state",
]

from msgrelay.ledger.base import (
    CLAIMED,
    DEAD,
    DELIVERED,
    FANNED_OUT,
    PENDING,
    SKIPPED,
    BatchClaim,
    DeliveryClaim,
    Failure,
    HookErrorRow,
    Ledger,
    Pruned,
    Submission,
    delivery_key,
)
from msgrelay.ledger.owners import new_owner, owner_is_dead, owner_state
from msgrelay.ledger.sqlite import LEDGER_FILE, SQLiteLedger
from msgrelay.ledger.url import is_postgres_url, ledger_url, open_ledger
from msgrelay.ledger.versions import NewerSchemaError
