"""The PostgreSQL ledger's submissions: generation requests recorded before they are sent.

As in SQLite (`msgrelay.ledger.sqlite.submissions`): keyed by (customer, campaign, lead ids, message
types) and committed *before* the POST, so a re-run on any machine finds the stored id instead of
paying twice.
"""

from __future__ import annotations

from msgrelay.ledger.base import Submission
from msgrelay.ledger.postgres.base import PostgresBase

__all__ = ["PostgresSubmissions"]

_COLUMNS = (
    "key",
    "customer_id",
    "campaign_id",
    "lead_count",
    "message_types",
    "secure_request_id",
    "owner",
    "created_at",
    "updated_at",
)


class PostgresSubmissions(PostgresBase):
    """The ``submissions`` table: the submission methods of `msgrelay.ledger.Ledger`."""

    def reserve_submission(
        self,
        key: str,
        *,
        customer_id: str,
        campaign_id: str,
        lead_count: int,
        message_types: str,
        owner: str,
        now: float,
    ) -> tuple[Submission, bool]:
        """Insert the submission unless its key exists; the row, and whether this call created it."""
        with self._tx() as c:
            created = c.execute(
                "INSERT INTO submissions VALUES (%s, %s, %s, %s, %s, NULL, %s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (key, customer_id, campaign_id, lead_count, message_types, owner, now, now),
            ).rowcount
        found = self.get_submission(key)
        assert found is not None
        return found, created > 0

    def complete_submission(self, key: str, secure_request_id: str, *, now: float) -> None:
        """Store the id the vendor answered with."""
        with self._tx() as c:
            c.execute(
                "UPDATE submissions SET secure_request_id = %s, updated_at = %s WHERE key = %s",
                (secure_request_id, now, key),
            )

    def release_submission(self, key: str) -> None:
        """Forget a submission that has no id (the POST certainly did not go through, or forced)."""
        with self._tx() as c:
            c.execute("DELETE FROM submissions WHERE key = %s", (key,))

    def get_submission(self, key: str) -> Submission | None:
        """The submission with this key, if any."""
        with self._tx() as c:
            row = c.execute(
                "SELECT key, customer_id, campaign_id, lead_count, message_types, secure_request_id, owner,"
                " created_at, updated_at FROM submissions WHERE key = %s",
                (key,),
            ).fetchone()
        return None if row is None else Submission(**dict(zip(_COLUMNS, row, strict=True)))
