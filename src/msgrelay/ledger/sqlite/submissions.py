"""The SQLite ledger's submissions: generation requests recorded before they are sent.

A submission is keyed by (customer, campaign, lead ids, message types) and written *before* the
POST, so a re-run returns the stored ``secure_request_id`` instead of paying twice
(`msgrelay.relay.submit.submit_once`).
"""

from __future__ import annotations

from msgrelay.ledger.base import Submission
from msgrelay.ledger.sqlite.base import SQLiteBase

__all__ = ["SQLiteSubmissions"]


class SQLiteSubmissions(SQLiteBase):
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
        with self._write() as c:
            created = c.execute(
                "INSERT OR IGNORE INTO submissions VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                (key, customer_id, campaign_id, lead_count, message_types, owner, now, now),
            ).rowcount
        found = self.get_submission(key)
        assert found is not None
        return found, bool(created)

    def complete_submission(self, key: str, secure_request_id: str, *, now: float) -> None:
        """Store the id the vendor answered with."""
        with self._write() as c:
            c.execute(
                "UPDATE submissions SET secure_request_id = ?, updated_at = ? WHERE key = ?",
                (secure_request_id, now, key),
            )

    def release_submission(self, key: str) -> None:
        """Forget a submission that has no id (the POST certainly did not go through, or forced)."""
        with self._write() as c:
            c.execute("DELETE FROM submissions WHERE key = ?", (key,))

    def get_submission(self, key: str) -> Submission | None:
        """The submission with this key, if any."""
        row = (
            self._conn()
            .execute(
                "SELECT key, customer_id, campaign_id, lead_count, message_types, secure_request_id, owner,"
                " created_at, updated_at FROM submissions WHERE key = ?",
                (key,),
            )
            .fetchone()
        )
        if row is None:
            return None
        names = (
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
        return Submission(**dict(zip(names, row, strict=True)))
